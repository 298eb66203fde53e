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


RadiusBy = Literal["residents", "site"]


def site_radii(sites: pd.DataFrame, rules: dict[str, RadiusRule], by: RadiusBy = "residents"
               ) -> tuple[Array, Array, np.ndarray]:
    """Each site's radius for urban and for rural residents (NaN: membership) and rule name.

    `residents`: the radius follows the demand unit (urban community vs rural village);
    `site`: it follows where the site stands (both radii equal the site's one)."""
    urban_r = np.full(len(sites), np.nan)
    rural_r = np.full(len(sites), np.nan)
    rule = np.empty(len(sites), dtype=object)
    kinds = sites.kind.to_numpy()
    urban = sites.urban.to_numpy(bool)
    for kind, r in rules.items():
        mask = kinds == kind
        rule[mask] = r.rule
        if r.rule == "radius":
            u_m, r_m = float(r.urban_m or np.nan), float(r.rural_m or np.nan)
            if by == "residents":
                urban_r[mask], rural_r[mask] = u_m, r_m
            else:
                urban_r[mask] = rural_r[mask] = np.where(urban[mask], u_m, r_m)
    if "radius_m" in sites:  # per-site overrides (what-if sites) apply to everyone
        own = sites.radius_m.to_numpy(float)
        has = np.isfinite(own)
        urban_r[has] = rural_r[has] = own[has]
        rule[has] = "radius"
    return urban_r, rural_r, rule


def radius_pairs(unit_xy: Array, unit_urban: NDArray[np.bool_], site_xy: Array,
                 urban_r: Array, rural_r: Array, model: DistanceModel = DEFAULT_MODEL
                 ) -> tuple[IntArray, IntArray, Array]:
    """(unit, site, metres) pairs within the radius that applies to each unit's residents."""
    if np.array_equal(urban_r, rural_r, equal_nan=True):
        return model.within(unit_xy, site_xy, urban_r)
    parts = []
    for mask, radii in ((unit_urban, urban_r), (~unit_urban, rural_r)):
        idx = np.flatnonzero(mask)
        u, s, d = model.within(unit_xy[idx], site_xy, radii)
        parts.append((idx[u].astype(np.int64), s, d))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def assign(
    unit_xy: Array,
    unit_township: np.ndarray,
    site_xy: Array,
    site_township: np.ndarray,
    radius: Array,
    rule: np.ndarray,
    model: DistanceModel = DEFAULT_MODEL,
    unit_urban: NDArray[np.bool_] | None = None,
    rural_radius: Array | None = None,
) -> Assignment:
    """Nearest site and coverage of every unit (radius pairs, township or district membership).

    With `unit_urban` and `rural_radius`, `radius` applies to urban units and `rural_radius`
    to rural ones (the residents' rule); else `radius` applies to everyone."""
    n = len(unit_xy)
    nearest, distance = model.nearest(unit_xy, site_xy)
    is_radius = rule == "radius"
    urban_r = np.where(is_radius, radius, np.nan)
    if unit_urban is None or rural_radius is None:
        u, _, _ = model.within(unit_xy, site_xy, urban_r)
    else:
        u, _, _ = radius_pairs(unit_xy, np.asarray(unit_urban, dtype=bool), site_xy, urban_r,
                               np.where(is_radius, rural_radius, np.nan), model)
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
            "coverage_share": got / total if total else None}


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
    rural_radius: Array | None = None, urban_zone: shapely.Geometry | None = None,
) -> shapely.Geometry:
    """Union (metric) of radius circles, served townships' polygons and, if any, the district.

    With `rural_radius` and `urban_zone` (the urban units' polygons), circles of `radius`
    count inside the urban zone and circles of `rural_radius` outside it."""
    if (rule == "district").any():
        return district_metric

    def circles(r: Array) -> shapely.Geometry | None:
        has = (rule == "radius") & np.isfinite(r)
        if not has.any():
            return None
        return shapely.union_all(shapely.buffer(shapely.points(site_xy[has]), r[has],
                                                quad_segs=16))

    parts = []
    if rural_radius is None or urban_zone is None:
        parts.append(circles(radius))
    else:
        urban_c, rural_c = circles(radius), circles(rural_radius)
        if urban_c is not None:
            parts.append(shapely.intersection(urban_c, urban_zone))
        if rural_c is not None:
            parts.append(shapely.difference(rural_c, urban_zone))
    towns = set(site_township[rule == "township"]) - {None}
    parts.extend(g for code, g in townships_metric.items() if code in towns)
    parts = [p for p in parts if p is not None]
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
    return np.asarray(access, dtype=np.float64), ratio
