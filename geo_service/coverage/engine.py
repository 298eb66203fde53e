"""The coverage engine: nearest site, coverage by radius or membership, summaries, gaps, 2SFCA.

Pure numpy/shapely on arrays (no database): one vectorised pass per request, no Python loop
per demand unit. Distances come from a `DistanceModel` (planar Gauss-Krüger by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geo_service import crs
from geo_service.coverage.distance import DEFAULT_MODEL, Array, DistanceModel, IntArray
from geo_service.coverage.radii import RadiusRule

Decay = Literal["none", "linear", "gaussian"]
RULE_CODES = {"radius": 0, "township": 1, "district": 2}
GAP_MIN_AREA_M2 = 100.0  # drop numerical slivers between touching circles


@dataclass
class Assignment:
    """Per demand unit: nearest site (index, metres), covered flag, and by which rule."""

    nearest: IntArray
    distance: Array
    covered: NDArray[np.bool_]
    covered_by: NDArray[np.object_]
    sites_within: IntArray


def site_radii(sites: pd.DataFrame, rules: dict[str, RadiusRule]) -> tuple[Array, np.ndarray]:
    """Each site's radius (NaN for membership rules) and rule name, by kind and urban flag."""
    radius = np.full(len(sites), np.nan)
    rule = np.empty(len(sites), dtype=object)
    kinds = sites.kind.to_numpy()
    urban = sites.urban.to_numpy(bool)
    for kind, r in rules.items():
        mask = kinds == kind
        rule[mask] = r.rule
        if r.rule == "radius":
            radius[mask] = np.where(urban[mask], r.urban_m, r.rural_m)
    if "radius_m" in sites:  # per-site overrides (what-if sites)
        own = sites.radius_m.to_numpy(float)
        has = np.isfinite(own)
        radius[has] = own[has]
        rule[has] = "radius"
    return radius, rule


def assign(
    unit_xy: Array,
    unit_township: np.ndarray,
    site_xy: Array,
    site_township: np.ndarray,
    radius: Array,
    rule: np.ndarray,
    model: DistanceModel = DEFAULT_MODEL,
) -> Assignment:
    """Nearest site and coverage of every unit (radius pairs, township or district membership)."""
    n = len(unit_xy)
    nearest, distance = model.nearest(unit_xy, site_xy)
    is_radius = rule == "radius"
    u, _, _ = model.within(unit_xy, site_xy, np.where(is_radius, radius, np.nan))
    within = np.bincount(u, minlength=n).astype(np.int64)
    by_radius = within > 0
    towns = pd.unique(site_township[(rule == "township") & pd.notna(site_township)])
    by_township = pd.Series(unit_township, dtype=object).isin(towns).to_numpy(bool)
    by_district = np.full(n, bool((rule == "district").any()))
    covered_by = np.full(n, None, dtype=object)
    covered_by[by_district] = "district"
    covered_by[by_township] = "township"
    covered_by[by_radius] = "radius"
    return Assignment(nearest, distance, by_radius | by_township | by_district, covered_by,
                      within)


def summarise(units: pd.DataFrame, covered: NDArray[np.bool_], weight: str) -> dict:
    """Units, covered/uncovered counts, the weight's total, covered total and share."""
    w = units[weight].to_numpy(np.int64)
    total = int(w.sum())
    got = int(w[covered].sum())
    return {"units": len(units), "covered_units": int(covered.sum()),
            "uncovered_units": int((~covered).sum()), weight: total, f"covered_{weight}": got,
            "coverage_share": round(got / total, 4) if total else None}


def by_township(units: pd.DataFrame, townships: pd.DataFrame, covered: NDArray[np.bool_],
                weight: str) -> list[dict]:
    """The summary of every township, in code order."""
    out = []
    codes = units.township_code.to_numpy()
    for code, name in zip(townships.code, townships.name, strict=True):
        mask = codes == code
        out.append({"code": code, "name": name,
                    **summarise(units[mask], covered[mask], weight)})
    return out


def service_area(
    site_xy: Array, radius: Array, rule: np.ndarray, site_township: np.ndarray,
    townships_metric: pd.Series, district_metric: shapely.Geometry,
) -> shapely.Geometry:
    """Union (metric) of radius circles, served townships' polygons and, if any, the district."""
    if (rule == "district").any():
        return district_metric
    parts = []
    has = (rule == "radius") & np.isfinite(radius)
    if has.any():
        parts.append(shapely.union_all(
            shapely.buffer(shapely.points(site_xy[has]), radius[has], quad_segs=16)))
    towns = set(site_township[rule == "township"]) - {None}
    parts.extend(g for code, g in townships_metric.items() if code in towns)
    return shapely.union_all(parts) if parts else shapely.Polygon()


def gap_polygons(district_metric: shapely.Geometry, served: shapely.Geometry,
                 townships_metric: pd.Series) -> list[dict]:
    """The district minus the service areas, as parts (EPSG:4490) largest first."""
    gaps = shapely.difference(district_metric, served)
    parts = [g for g in shapely.get_parts(gaps) if g.area >= GAP_MIN_AREA_M2]
    parts.sort(key=lambda g: -g.area)
    out = []
    town_geoms = townships_metric.to_numpy()
    tree = shapely.STRtree(town_geoms) if len(town_geoms) else None
    for g in parts:
        towns = []
        if tree is not None:
            hit = tree.query(g, predicate="intersects")
            towns = [str(townships_metric.index[i]) for i in sorted(hit)
                     if shapely.intersection(town_geoms[i], g).area >= GAP_MIN_AREA_M2]
        out.append({"geometry": crs.from_metric(g), "area_km2": round(g.area / 1e6, 4),
                    "township_codes": towns})
    return out


def decay_weights(d: Array, catchment_m: float, decay: Decay) -> Array:
    """Distance-decay weight: 1 (none), 1 - d/d0 (linear), or Dai's truncated Gaussian."""
    if decay == "none":
        return np.ones_like(d)
    if decay == "linear":
        return np.clip(1.0 - d / catchment_m, 0.0, 1.0)
    e = np.exp(-0.5)
    return (np.exp(-0.5 * (d / catchment_m) ** 2) - e) / (1.0 - e)


def two_step(
    unit_xy: Array, demand: Array, site_xy: Array, capacity: Array, catchment_m: float,
    decay: Decay = "none", model: DistanceModel = DEFAULT_MODEL,
) -> tuple[Array, Array]:
    """2SFCA: per unit capacity per 1 000 demand within the catchment, and each site's ratio."""
    n, m = len(unit_xy), len(site_xy)
    u, s, d = model.within(unit_xy, site_xy, np.full(m, float(catchment_m)))
    w = decay_weights(d, catchment_m, decay)
    demand = np.asarray(demand, dtype=np.float64)
    reach = np.bincount(s, weights=w * demand[u], minlength=m)
    ratio = np.divide(np.asarray(capacity, dtype=np.float64), reach,
                      out=np.zeros(m), where=reach > 0)
    access = np.bincount(u, weights=w * ratio[s], minlength=n) * 1000.0
    return access, ratio
