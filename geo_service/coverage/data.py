"""Load a coverage study from PostGIS: the district, its townships, demand units and sites."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Engine, func, null, select

from geo_service.catalog import catalogue
from geo_service.db.models import LAYER_TABLES, admin_areas
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.network.speeds import Speeds
from geo_service.settings import DEFAULT_DISTRICT_CODE

UNIT_COLUMNS = ["code", "name", "township_code", "urban", "lon", "lat", "population",
                "population_60plus", "population_0_17", "illustrative"]
SITE_COLUMNS = ["id", "name", "kind", "lon", "lat", "township_code", "beds", "nursing_beds",
                "operator_type", "status", "is_public", "whatif"]
WEIGHT_FIELDS = ("population_60plus", "population_0_17", "population")
SUPPLY_LAYERS = ("eldercare_sites", "funeral_sites", "child_sites")


@dataclass
class Study:
    """A district: outline, townships (code, name, geometry), demand units and all sites."""

    district_code: str
    district_name: str
    district_geom: BaseGeometry
    townships: pd.DataFrame
    units: pd.DataFrame
    sites: dict[str, pd.DataFrame] = field(default_factory=dict)
    illustrative: bool = False
    data_as_of: datetime | None = None  # the latest change to the areas or the site layers
    engine: Engine | None = None  # where the roads layer is read from (network distances)
    speeds: Speeds = field(default_factory=Speeds)  # walking/driving speeds along the roads

    def layer_sites(self, layer: str) -> pd.DataFrame:
        """The sites of one supply layer (all of them, public or not)."""
        if layer not in SUPPLY_LAYERS:
            raise GeoServiceError(
                f"layer {layer!r} has no sites to analyse: use one of {', '.join(SUPPLY_LAYERS)}")
        return self.sites[layer]


def _geom(wkb: bytes | None) -> BaseGeometry | None:
    return None if wkb is None else shapely.from_wkb(bytes(wkb))


def classify_urban(unit_names: pd.Series, township_names: pd.Series) -> np.ndarray:
    """Urban = a 社区 (居民委员会) or any unit of a 街道; rural = a 村 of a 镇/乡."""
    return (unit_names.str.endswith("社区居民委员会") | unit_names.str.endswith("社区")
            | township_names.str.endswith("街道")).to_numpy()


def load_study(engine: Engine, district_code: str = DEFAULT_DISTRICT_CODE,
               speeds: Speeds | None = None) -> Study:
    """Read the district, its townships, villages/communities and the three site layers.

    `speeds` (from the settings) turn road metres into minutes for --distance walk|drive."""
    code = district_code
    a = admin_areas.c
    with engine.connect() as conn:
        district = conn.execute(
            select(a.name, func.ST_AsBinary(a.geom)).where(a.code == code, a.level == "district")
        ).first()
        if district is None:
            raise NotFoundError(f"district {code} is not in admin_areas: load it first "
                                "(geo-service sample, or geo-service load admin_areas FILE)")
        towns = conn.execute(
            select(a.code, a.name, func.ST_AsBinary(a.geom))
            .where(a.level == "township", a.parent_code == code).order_by(a.code)
        ).all()
        point = func.coalesce(a.rep_point, func.ST_PointOnSurface(a.geom))
        units = conn.execute(
            select(a.code, a.name, a.parent_code, func.ST_X(point), func.ST_Y(point),
                   a.population, a.population_60plus, a.population_0_17,
                   a.figures_source, a.geometry_accuracy, func.ST_AsBinary(a.geom))
            .where(a.level == "village", a.parent_code.in_([t[0] for t in towns]))
            .order_by(a.code)
        ).all()
        sites = {layer: _load_sites(conn, layer) for layer in SUPPLY_LAYERS}
        changed = [conn.execute(select(func.max(t.c.updated_at))).scalar()
                   for t in (admin_areas, *(LAYER_TABLES[layer] for layer in SUPPLY_LAYERS))]
    townships = pd.DataFrame({"code": [t[0] for t in towns], "name": [t[1] for t in towns],
                              "geom": [_geom(t[2]) for t in towns]})
    tname = dict(zip(townships.code, townships.name, strict=True))
    frame = pd.DataFrame(units, columns=["code", "name", "township_code", "lon", "lat",
                                         "population", "population_60plus", "population_0_17",
                                         "figures_source", "geometry_accuracy", "geom"])
    frame["geom"] = np.array([_geom(g) for g in frame.geom], dtype=object)
    for col in WEIGHT_FIELDS:
        frame[col] = frame[col].fillna(0).astype(np.int64)
    frame["urban"] = classify_urban(frame.name, frame.township_code.map(tname).fillna(""))
    frame["illustrative"] = ((frame.figures_source == "illustrative")
                             | (frame.geometry_accuracy == "illustrative"))
    outline = _geom(district[1])
    if outline is None:
        raise GeoServiceError(f"the district {code} has no outline: load admin_areas first")
    study = Study(code, district[0], outline, townships,
                  frame[[*UNIT_COLUMNS, "geom"]].reset_index(drop=True), sites,
                  data_as_of=max((c for c in changed if c is not None), default=None),
                  engine=engine, speeds=speeds or Speeds())
    study.illustrative = bool(frame.illustrative.any()) or any(
        bool(s.illustrative.any()) for s in sites.values())
    for layer, s in sites.items():
        study.sites[layer] = locate_sites(study, s)
    return study


def _load_sites(conn, layer: str) -> pd.DataFrame:
    """All rows of a site layer (staff view: public and non-public)."""
    t = LAYER_TABLES[layer]
    cols = [t.c.external_id, t.c.name, t.c.kind, func.ST_X(t.c.geom), func.ST_Y(t.c.geom),
            t.c.township_code,
            t.c.beds if "beds" in t.c else t.c.capacity,
            _column(t, "nursing_beds"), _column(t, "operator_type"),
            t.c.status, t.c.is_public, t.c.geometry_accuracy]
    rows = conn.execute(select(*cols).order_by(t.c.id)).all()
    frame = pd.DataFrame(rows, columns=[*SITE_COLUMNS[:-1], "accuracy"])
    frame["beds"] = frame.beds.fillna(0).astype(np.int64)
    frame["nursing_beds"] = frame.nursing_beds.fillna(0).astype(np.int64)
    frame["whatif"] = False
    frame["illustrative"] = frame.pop("accuracy") == "illustrative"
    return frame


def _column(table, name: str):
    """The table's column, or a NULL placeholder for layers without it."""
    return table.c[name] if name in table.c else null().label(name)


def locate_sites(study: Study, sites: pd.DataFrame) -> pd.DataFrame:
    """Add the unit code, township (when missing) and urban flag of each site by position."""
    sites = sites.copy()
    pts = np.asarray(shapely.points(sites.lon.to_numpy(float), sites.lat.to_numpy(float)))
    unit_idx = _containing(study.units.geom.to_numpy(), pts)
    inside = unit_idx >= 0
    sites["unit_code"] = np.where(  # type: ignore[assignment]  # numpy stubs: where(…, None)
        inside, study.units.code.to_numpy()[unit_idx.clip(0)], None)
    town_idx = _containing(study.townships.geom.to_numpy(), pts)
    by_pos = np.where(town_idx >= 0, study.townships.code.to_numpy()[town_idx.clip(0)], None)
    sites["township_code"] = sites.township_code.where(sites.township_code.notna(), by_pos)
    urban_units = dict(zip(study.units.code, study.units.urban, strict=True))
    tname = dict(zip(study.townships.code, study.townships.name, strict=True))
    sites["urban"] = [bool(urban_units.get(u)) if u is not None
                      else str(tname.get(t, "")).endswith("街道")
                      for u, t in zip(sites.unit_code, sites.township_code, strict=True)]
    return sites


def _containing(polygons: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the polygon covering each point (-1 if none; first match wins)."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(polygons) == 0 or len(points) == 0:
        return out
    tree = shapely.STRtree(polygons)
    p, g = tree.query(points, predicate="covered_by")
    order = np.argsort(p, kind="stable")
    p, g = p[order], g[order]
    first = np.unique(p, return_index=True)[1]
    out[p[first]] = g[first]
    return out


def layer_kinds(layer: str, kinds: list[str] | None) -> list[str]:
    """The catalogue's kinds for the request (aliases accepted), or an error naming the bad one."""
    spec = catalogue().layer(layer)
    if not kinds:
        return list(spec.kinds)
    out = []
    for k in kinds:
        canonical = spec.canonical_kind(k)
        if canonical is None:
            raise GeoServiceError(f"unknown kind {k!r} for {layer}: one of {', '.join(spec.kinds)}")
        out.append(canonical)
    return out
