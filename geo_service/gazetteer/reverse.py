"""Reverse geocoding: a point → the district, township and village it lies in, and what is near.

Distances are geodesic (PostGIS geography on the CGCS2000/GRS80 spheroid); directions are
grid bearings in EPSG:4544 (Gauss-Krüger CM 105°E, under 1° from true north in 大足).
Candidates for "nearest" are pre-selected by the spatial index and then re-sorted by
metric distance, so no ordering is ever decided in degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, Row, text

from geo_service import crs as crsmod
from geo_service.access import ANONYMOUS, Principal
from geo_service.errors import GeoServiceError, NotFoundError

LANDMARK_RADIUS_M = 5000.0
MAX_NEAREST = 20
_CANDIDATES = 60
_CRS84 = {"", "crs84", "ogc:crs84", "http://www.opengis.net/def/crs/ogc/1.3/crs84"}
_COMPASS = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")


def compass(bearing_deg: float | None) -> str | None:
    """Eight-point Chinese compass direction of a bearing (0° = north, clockwise)."""
    if bearing_deg is None or not math.isfinite(bearing_deg):
        return None
    return _COMPASS[int(((bearing_deg % 360) + 22.5) // 45) % 8]


def format_distance(metres: float) -> str:
    """'850 米' below a kilometre, else '1.2 公里'."""
    if metres < 1000:
        return f"{round(metres, -1):.0f} 米"
    return f"{metres / 1000:.1f} 公里"


def to_storage_point(x: float, y: float, crs: str | None) -> tuple[float, float]:
    """A point in `crs` (CRS84 by default; EPSG:n, gcj02, bd09) → CGCS2000 lon/lat."""
    if not (math.isfinite(x) and math.isfinite(y)):
        raise GeoServiceError("lon/lat: the coordinates must be finite numbers")
    if crs is None or crs.strip().lower() in _CRS84:
        lon, lat = x, y
    else:
        try:
            chosen = crsmod.parse_crs(crs)
        except crsmod.UnknownCRSError as exc:
            raise GeoServiceError(f"crs: {exc}") from exc
        xs, ys = crsmod.to_storage_xy([x], [y], chosen)
        lon, lat = float(xs[0]), float(ys[0])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise GeoServiceError(f"lon/lat: ({x}, {y}) in {crs or 'CRS84'} is not a position "
                              "on the earth")
    return lon, lat


_POINT = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)"
_PLACES_SQL = f"""
WITH cand AS (
    SELECT id, external_id, name, pinyin, category, category_code, code, historic_list,
           geometry_accuracy, geom
    FROM place_names
    WHERE {{where}}
    ORDER BY geom <-> {_POINT}
    LIMIT :candidates
)
SELECT id, external_id, name, pinyin, category, category_code, historic_list, geometry_accuracy,
       ST_Distance(geom::geography, {_POINT}::geography) AS distance_m,
       degrees(ST_Azimuth(ST_Transform({_POINT}, 4544),
                          ST_ClosestPoint(ST_Transform(geom, 4544),
                                          ST_Transform({_POINT}, 4544)))) AS bearing
FROM cand
ORDER BY distance_m, name
LIMIT :limit
"""


def _areas(conn: Connection, lon: float, lat: float, principal: Principal) -> Sequence[Row]:
    visible = "" if principal.sees_private else " AND {0}.is_public"
    return conn.execute(text(
        "SELECT a.code, a.name, a.level, a.geometry_accuracy, "
        "(SELECT p.name FROM place_names p WHERE p.code = a.code"
        f"{visible.format('p')} ORDER BY p.id LIMIT 1) AS place_name "
        f"FROM admin_areas a WHERE ST_Covers(a.geom, {_POINT}){visible.format('a')} "
        "ORDER BY array_position(ARRAY['district', 'township', 'village'], a.level)"
    ), {"lon": lon, "lat": lat}).all()


def _outside(conn: Connection, lon: float, lat: float) -> NotFoundError:
    """The 404 for a point outside the district, naming the neighbour it lies in, if any."""
    district = conn.execute(text("SELECT name FROM admin_areas WHERE level = 'district' "
                                 "ORDER BY code LIMIT 1")).scalar() or "the district"
    neighbour = conn.execute(text(
        f"SELECT name, province FROM neighbour_areas WHERE ST_Covers(geom, {_POINT})"
    ), {"lon": lon, "lat": lat}).first()
    where = f"; it lies in {neighbour.province}{neighbour.name}" if neighbour else ""
    return NotFoundError(f"({lon:.6f}, {lat:.6f}) is outside {district}{where} — "
                         f"reverse geocoding covers {district} only")


def _place(row) -> dict:
    return {
        "layer": "place_names", "id": row.id, "external_id": row.external_id,
        "name": row.name, "pinyin": row.pinyin, "category": row.category,
        "category_code": row.category_code, "historic": row.historic_list is not None,
        "distance_m": round(float(row.distance_m), 1),
        "bearing_deg": None if row.bearing is None else round(float(row.bearing), 1),
        "direction": compass(row.bearing),
        "geometry_accuracy": row.geometry_accuracy,
    }


def _nearby(conn: Connection, lon: float, lat: float, where: str, limit: int,
            params: dict) -> list[dict]:
    rows = conn.execute(text(_PLACES_SQL.format(where=where)),
                        {"lon": lon, "lat": lat, "limit": limit,
                         "candidates": max(_CANDIDATES, limit * 3), **params}).all()
    return [_place(row) for row in rows]


def sentence(areas: list[dict], landmark: dict | None) -> str:
    """'宝顶镇 宝顶村 附近，距宝顶山 1.2 公里（东北方向）'."""
    local = [a["place_name"] for a in areas if a["level"] != "district"] or [
        a["place_name"] for a in areas]
    where = " ".join(local)
    if landmark is None:
        return f"{where} 境内"
    if landmark["distance_m"] < 50:
        return f"{where} {landmark['name']}旁"
    bearing = landmark["direction"] or ""
    direction = f"（{'正' if len(bearing) == 1 else ''}{bearing}方向）" if bearing else ""
    return (f"{where} 附近，距{landmark['name']} "
            f"{format_distance(landmark['distance_m'])}{direction}")


def reverse_geocode(
    engine: Engine, x: float, y: float, *, crs: str | None = None, limit: int = 5,
    principal: Principal = ANONYMOUS,
) -> dict:
    """Where a point is: containing areas, the nearest named places and a sentence."""
    if not 1 <= limit <= MAX_NEAREST:
        raise GeoServiceError(f"limit: {limit} is not between 1 and {MAX_NEAREST}")
    lon, lat = to_storage_point(x, y, crs)
    with engine.connect() as conn:
        rows = _areas(conn, lon, lat, principal)
        if not any(r.level == "district" for r in rows):
            raise _outside(conn, lon, lat)
        areas = [{"level": r.level, "code": r.code, "name": r.name,
                  "place_name": r.place_name or r.name,
                  "geometry_accuracy": r.geometry_accuracy} for r in rows]
        visible = "true" if principal.sees_private else "is_public"
        own = {"codes": [a["code"] for a in areas]}
        not_own = f"{visible} AND (code IS NULL OR NOT code = ANY(:codes))"
        nearest = _nearby(conn, lon, lat, not_own, limit, own)
        landmarks = _nearby(
            conn, lon, lat,
            f"{not_own} AND (historic_list IS NOT NULL OR category_code LIKE '1%')", 1, own)
    landmark = next((p for p in landmarks if p["distance_m"] <= LANDMARK_RADIUS_M), None)
    landmark = landmark or (nearest[0] if nearest else None)
    by_level = {a["level"]: a for a in areas}
    shown = [*areas, *nearest, *([landmark] if landmark else [])]
    illustrative = any(item.get("geometry_accuracy") == "illustrative" for item in shown)
    return {
        "lon": lon, "lat": lat, "input": {"x": x, "y": y, "crs": crs or "CRS84"},
        "district": by_level.get("district"), "township": by_level.get("township"),
        "village": by_level.get("village"), "areas": areas,
        "landmark": landmark, "nearest": nearest,
        "description": sentence(areas, landmark),
        "note": ("乡镇、村界和地名位置为示意数据, 距离和方向仅供参考" if illustrative else None),
    }
