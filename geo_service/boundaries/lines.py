"""Derive boundary lines from the administrative areas and keep their ids across re-derivation.

Township lines are the edges two townships share (the sample tiles exactly, so shared
vertices are matched exactly). The district's outer edge comes from the published outline
and is split by neighbouring county: each short piece (≤ 50 m) goes to the neighbour whose
outline lies nearest, if within the tolerance; pieces no neighbour claims are leftovers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, Engine, func, select

from geo_service import audit
from geo_service.access import Principal
from geo_service.boundaries.errors import BoundaryInputError
from geo_service.boundaries.geometry import as_geojson, from_db, geom_hash, metric_length_m, to_db
from geo_service.crs import from_metric, to_metric
from geo_service.db.models import admin_areas, boundary_derivations, boundary_lines, neighbour_areas
from geo_service.settings import DEFAULT_DISTRICT_CODE

DEFAULT_TOLERANCE_M = 300.0
PIECE_M = 50.0
LEFTOVER_MIN_M = 1.0
DISTRICT_PROVINCE = "重庆市"


@dataclass
class DerivedLine:
    """One derived line: its two sides, level, geometry (lon/lat) and metric length."""

    level: str
    side_a_code: str
    side_a_name: str
    side_b_code: str
    side_b_name: str
    geom: MultiLineString
    length_m: float
    accuracy: str

    @property
    def key(self) -> str:
        """Stable key: the sorted pair of side codes (one line per pair)."""
        return f"{self.side_a_code}|{self.side_b_code}"


@dataclass
class Derivation:
    """What a derivation found and what it changed."""

    lines: list[DerivedLine]
    leftovers: list[dict]
    township_perimeter_m: float
    district_perimeter_m: float
    inserted: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    retired: list[int] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        """Lengths (m) by level, leftovers and the perimeter identity check."""
        internal = sum(x.length_m for x in self.lines if x.level == "township")
        outer = sum(x.length_m for x in self.lines if x.level != "township")
        left = sum(x["length_m"] for x in self.leftovers if x["where"] == "outer edge")
        return {"township_lines_m": round(internal, 3), "outer_lines_m": round(outer, 3),
                "outer_leftover_m": round(left, 3),
                "district_perimeter_m": round(self.district_perimeter_m, 3),
                "township_perimeters_m": round(self.township_perimeter_m, 3),
                "identity_residual_m": round(
                    self.township_perimeter_m - 2 * internal - outer - left, 3) + 0.0}

    def summary(self) -> dict:
        """JSON summary for the CLI, the API and the derivation log."""
        return {"lines": len(self.lines), "inserted": len(self.inserted),
                "updated": len(self.updated), "unchanged": len(self.unchanged),
                "retired": len(self.retired), **self.totals()}


def _as_multi(parts: Sequence[BaseGeometry]) -> MultiLineString | None:
    """Merge line pieces into one MultiLineString (None if nothing linear)."""
    lines: list[LineString] = []
    for part in parts:
        for g in shapely.get_parts(part):
            if isinstance(g, LineString) and g.length > 0:
                lines.append(g)
    if not lines:
        return None
    merged = shapely.line_merge(MultiLineString(lines))
    return MultiLineString(list(shapely.get_parts(merged)))


def _pair(code_a: str, name_a: str, code_b: str, name_b: str) -> tuple[str, str, str, str]:
    return (code_a, name_a, code_b, name_b) if code_a < code_b else (code_b, name_b, code_a, name_a)


def _load(conn: Connection, district_code: str):
    district = conn.execute(select(admin_areas.c.name, admin_areas.c.geom)
                            .where(admin_areas.c.code == district_code)).first()
    if district is None:
        raise BoundaryInputError(
            f"district {district_code} is not in admin_areas: load the areas first")
    towns = conn.execute(select(admin_areas.c.code, admin_areas.c.name, admin_areas.c.geom)
                         .where(admin_areas.c.level == "township",
                                admin_areas.c.parent_code == district_code)
                         .order_by(admin_areas.c.code)).all()
    neighbours = conn.execute(select(neighbour_areas.c.code, neighbour_areas.c.name,
                                     neighbour_areas.c.province, neighbour_areas.c.geom)
                              .order_by(neighbour_areas.c.code)).all()
    return district, towns, neighbours


def _township_lines(towns, outline: BaseGeometry
                    ) -> tuple[list[DerivedLine], list[dict], float]:
    geoms = [from_db(t.geom) for t in towns]
    tree = shapely.STRtree(geoms)
    lines: list[DerivedLine] = []
    shared_by: dict[int, list[BaseGeometry]] = {i: [] for i in range(len(towns))}
    for i, geom in enumerate(geoms):
        for j in sorted(int(k) for k in tree.query(geom)):
            if j <= i:
                continue
            common = _as_multi([shapely.intersection(geom.boundary, geoms[j].boundary)])
            if common is None:
                continue
            shared_by[i].append(common)
            shared_by[j].append(common)
            a, b = towns[i], towns[j]
            sides = _pair(a.code, a.name, b.code, b.name)
            lines.append(DerivedLine("township", *sides, common, metric_length_m(common),
                                     "illustrative"))
    perimeter = float(sum(metric_length_m(g.boundary) for g in geoms))
    leftovers: list[dict] = []
    for i, geom in enumerate(geoms):
        rest = shapely.difference(geom.boundary, shapely.union_all([*shared_by[i], outline]))
        for piece in shapely.get_parts(rest):
            length = metric_length_m(piece)
            if length >= LEFTOVER_MIN_M:
                leftovers.append({"where": f"township {towns[i].code} {towns[i].name}",
                                  "length_m": round(length, 3),
                                  "reason": "edge shared with no other township and not on "
                                            "the district outline",
                                  "geometry": as_geojson(piece)})
    return lines, leftovers, perimeter


def _outer_lines(district, district_code: str, neighbours, tolerance_m: float
                 ) -> tuple[list[DerivedLine], list[dict], float]:
    outline = from_db(district.geom)
    ring_m = to_metric(outline.boundary)
    perimeter = float(ring_m.length)
    if not neighbours:
        return [], [{"where": "outer edge", "length_m": round(perimeter, 3),
                     "reason": "no neighbour_areas loaded",
                     "geometry": as_geojson(outline.boundary)}], perimeter
    metric_neighbours = [to_metric(from_db(n.geom)) for n in neighbours]
    pieces: list[LineString] = []
    for part in shapely.get_parts(shapely.segmentize(ring_m, PIECE_M)):
        coords = shapely.get_coordinates(part)
        pieces.extend(LineString(coords[k:k + 2]) for k in range(len(coords) - 1))
    mids = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
    dist = np.column_stack([shapely.distance(mids, g) for g in metric_neighbours])
    best = np.argmin(dist, axis=1)
    owner = np.where(dist[np.arange(len(pieces)), best] <= tolerance_m, best, -1)
    lines: list[DerivedLine] = []
    leftovers: list[dict] = []
    for k, n in enumerate(neighbours):
        chosen = [p for p, o in zip(pieces, owner, strict=True) if o == k]
        geom_m = _as_multi(chosen)
        if geom_m is None:
            continue
        level = "county" if n.province == DISTRICT_PROVINCE else "provincial"
        sides = _pair(district_code, district.name, n.code, n.name)
        lines.append(DerivedLine(level, *sides, from_metric(geom_m), float(geom_m.length),
                                 "published"))
    left_m = _as_multi([p for p, o in zip(pieces, owner, strict=True) if o == -1])
    if left_m is not None:
        for g in shapely.get_parts(left_m):
            leftovers.append({"where": "outer edge", "length_m": round(float(g.length), 3),
                              "reason": f"no neighbour outline within {tolerance_m:g} m",
                              "geometry": as_geojson(from_metric(g))})
    return lines, leftovers, perimeter


def derive(conn: Connection, tolerance_m: float = DEFAULT_TOLERANCE_M,
           district_code: str = DEFAULT_DISTRICT_CODE) -> Derivation:
    """Derive every township line and the outer lines split by neighbour (nothing written)."""
    if not 0 < tolerance_m <= 5000:
        raise BoundaryInputError(f"tolerance {tolerance_m} m: use a value in (0, 5000]")
    code = district_code
    district, towns, neighbours = _load(conn, code)
    town_lines, town_left, town_perimeter = _township_lines(
        towns, from_db(district.geom).boundary)
    outer, outer_left, district_perimeter = _outer_lines(district, code, neighbours, tolerance_m)
    return Derivation(town_lines + outer, town_left + outer_left, town_perimeter,
                      district_perimeter)


def line_record(row) -> dict:
    """A boundary_lines row as an audit/JSON record (geometry as GeoJSON)."""
    data = dict(row._mapping)
    data["geom"] = as_geojson(from_db(data["geom"]))
    return data


def save(conn: Connection, principal: Principal, result: Derivation, tolerance_m: float) -> None:
    """Write a derivation: unchanged lines keep id and timestamps, changed ones keep their id."""
    existing = {r.line_key: r for r in conn.execute(select(boundary_lines))}
    seen: set[str] = set()
    for line in result.lines:
        seen.add(line.key)
        digest = geom_hash(line.geom)
        values = {"level": line.level, "side_a_code": line.side_a_code,
                  "side_a_name": line.side_a_name, "side_b_code": line.side_b_code,
                  "side_b_name": line.side_b_name, "geom": to_db(line.geom),
                  "length_m": round(line.length_m, 3), "geom_hash": digest,
                  "geometry_accuracy": line.accuracy}
        old = existing.get(line.key)
        if old is not None and old.geom_hash == digest and old.status == "current":
            result.unchanged.append(old.id)
            continue
        if old is None:
            row = conn.execute(boundary_lines.insert().values(line_key=line.key, **values)
                               .returning(boundary_lines)).one()
            result.inserted.append(row.id)
            audit.record(conn, principal, "insert", "boundary_lines", row.id,
                         None, line_record(row), note="derived")
            continue
        row = conn.execute(boundary_lines.update().where(boundary_lines.c.id == old.id)
                           .values(**values, status="current", retired_at=None,
                                   updated_at=func.clock_timestamp())
                           .returning(boundary_lines)).one()
        result.updated.append(row.id)
        audit.record(conn, principal, "update", "boundary_lines", row.id,
                     line_record(old), line_record(row), note="re-derived")
    for key, old in existing.items():
        if key not in seen and old.status == "current":
            row = conn.execute(boundary_lines.update().where(boundary_lines.c.id == old.id)
                               .values(status="retired", retired_at=func.clock_timestamp(),
                                       updated_at=func.clock_timestamp())
                               .returning(boundary_lines)).one()
            result.retired.append(row.id)
            audit.record(conn, principal, "update", "boundary_lines", row.id,
                         line_record(old), line_record(row), note="retired by re-derivation")
    conn.execute(boundary_derivations.insert().values(
        actor=principal.username or "anonymous", tolerance_m=tolerance_m,
        summary=result.summary(), leftovers=result.leftovers))


def derive_and_save(engine: Engine, principal: Principal,
                    tolerance_m: float = DEFAULT_TOLERANCE_M,
                    district_code: str = DEFAULT_DISTRICT_CODE) -> Derivation:
    """Derive the lines and write them in one transaction."""
    with engine.begin() as conn:
        result = derive(conn, tolerance_m, district_code)
        save(conn, principal, result, tolerance_m)
    return result
