"""Topology checks on the administrative areas: invalid rings, overlaps, gaps, slivers,
children outside their parent — each issue with its location as GeoJSON (EPSG:4490)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, select

from geo_service.boundaries.geometry import as_geojson, from_db
from geo_service.crs import from_metric, to_metric
from geo_service.db.models import admin_areas

MIN_AREA_M2 = 1.0
SLIVER_WIDTH_M = 5.0
_REASON_POINT = re.compile(r"\[(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\]")


@dataclass(frozen=True)
class Area:
    """An administrative area as checked: code, name, level, parent and metric geometry."""

    code: str
    name: str
    level: str
    parent_code: str | None
    geom: BaseGeometry  # lon/lat
    metric: BaseGeometry


def _load(conn: Connection) -> list[Area]:
    rows = conn.execute(select(admin_areas.c.code, admin_areas.c.name, admin_areas.c.level,
                               admin_areas.c.parent_code, admin_areas.c.geom)
                        .order_by(admin_areas.c.code)).all()
    areas = []
    for r in rows:
        geom = from_db(r.geom)
        areas.append(Area(r.code, r.name, r.level, r.parent_code, geom, to_metric(geom)))
    return areas


def _issue(kind: str, areas: list[Area], geom_m: BaseGeometry | None, message: str,
           location: BaseGeometry | None = None) -> dict:
    """One issue as a GeoJSON feature (location in lon/lat)."""
    where = location if location is not None else from_metric(geom_m)
    props: dict[str, Any] = {"type": kind, "codes": [a.code for a in areas],
                             "names": [a.name for a in areas], "message": message}
    if geom_m is not None:
        props["area_m2"] = round(float(geom_m.area), 2)
        props["mean_width_m"] = round(_width(geom_m), 3)
    return {"type": "Feature", "properties": props, "geometry": as_geojson(where)}


def _width(geom_m: BaseGeometry) -> float:
    """Mean width of a polygon piece: 2·area / perimeter (metres)."""
    return 2 * geom_m.area / geom_m.length if geom_m.length else 0.0


def _pieces(geom_m: BaseGeometry) -> list[BaseGeometry]:
    """Polygonal parts above the noise floor."""
    return [g for g in shapely.get_parts(geom_m)
            if g.geom_type == "Polygon" and g.area >= MIN_AREA_M2]


def _classify(kind: str, piece: BaseGeometry) -> str:
    return "sliver" if _width(piece) < SLIVER_WIDTH_M else kind


def check(conn: Connection) -> dict:
    """Run every check; a GeoJSON FeatureCollection of issues plus counts."""
    areas = _load(conn)
    issues: list[dict] = []
    valid: dict[str, BaseGeometry] = {}
    for a in areas:
        if a.geom.is_valid:
            valid[a.code] = a.metric
            continue
        reason = shapely.is_valid_reason(a.geom)
        match = _REASON_POINT.search(reason)
        spot = (shapely.Point(float(match[1]), float(match[2])) if match
                else a.geom.representative_point())
        issues.append(_issue("invalid_ring", [a], None, f"{a.name}: {reason}", location=spot))
        valid[a.code] = shapely.make_valid(a.metric)
    by_code = {a.code: a for a in areas}
    families: dict[tuple[str | None, str], list[Area]] = {}
    for a in areas:
        families.setdefault((a.parent_code, a.level), []).append(a)
    for (parent_code, level), children in families.items():
        geoms = [valid[c.code] for c in children]
        tree = shapely.STRtree(geoms)
        for i, child in enumerate(children):
            for j in sorted(int(k) for k in tree.query(geoms[i])):
                if j <= i:
                    continue
                for piece in _pieces(shapely.intersection(geoms[i], geoms[j])):
                    kind = _classify("overlap", piece)
                    issues.append(_issue(kind, [child, children[j]], piece,
                                         f"{child.name} and {children[j].name} overlap "
                                         f"({level})"))
        parent = by_code.get(parent_code) if parent_code else None
        if parent is None:
            continue
        parent_m = valid[parent.code]
        for child in children:
            for piece in _pieces(shapely.difference(valid[child.code], parent_m)):
                issues.append(_issue("child_outside_parent", [child, parent], piece,
                                     f"{child.name} extends outside its parent {parent.name}"))
        for piece in _pieces(shapely.difference(parent_m, shapely.union_all(geoms))):
            kind = _classify("gap", piece)
            issues.append(_issue(kind, [parent], piece,
                                 f"part of {parent.name} covered by none of its {level} areas"))
    counts: dict[str, int] = {}
    for issue in issues:
        counts[issue["properties"]["type"]] = counts.get(issue["properties"]["type"], 0) + 1
    return {"type": "FeatureCollection", "areas_checked": len(areas), "counts": counts,
            "thresholds": {"min_area_m2": MIN_AREA_M2, "sliver_mean_width_m": SLIVER_WIDTH_M},
            "features": issues}
