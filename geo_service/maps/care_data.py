"""The care map's data: public facilities, nearest ones, background and attribution.

Everything here is for the PUBLIC page, so it always reads as ANONYMOUS (even when the
viewer is logged in): non-public rows and fields never leave the database.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

import numpy as np
from sqlalchemy import Connection, Select, func, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from geo_service import crs as crs_mod
from geo_service.access import ANONYMOUS, hidden_fields, public_source, row_filter
from geo_service.catalog import catalogue
from geo_service.crs import STORAGE_SRID
from geo_service.db.models import LAYER_TABLES, admin_areas, place_names, roads
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.maps.categories import CATEGORIES, FACILITY_LAYERS, Category, category_of
from geo_service.settings import DEFAULT_DISTRICT_CODE

OUTPUT_CRS = ("EPSG:4490", "gcj02")
ILLUSTRATIVE_NOTE = "示例数据中的设施位置、镇街和村(社区)边界为示意，并非实测位置。"
LIBRARY_CREDITS = "地图程序 Leaflet (BSD-2-Clause)、Leaflet.markercluster (MIT)"
BACKGROUND_PLACE_CATEGORIES = ("山", "河流", "水库", "湖泊", "古驿站")
MAX_NEAREST = 50


class BadMapRequest(GeoServiceError):
    """A care-map request with a bad parameter (400)."""


def check_crs(name: str | None) -> str:
    """'EPSG:4490' (default) or 'gcj02' (for an Amap basemap); anything else is an error."""
    if not name or name.upper() in {"EPSG:4490", "4490", "CGCS2000", "EPSG:4326", "WGS84"}:
        return "EPSG:4490"
    if name.lower() in {"gcj02", "gcj-02"}:
        return "gcj02"
    raise BadMapRequest(f"crs={name!r}: use EPSG:4490 (default) or gcj02 (Amap basemap)")


def _to_output(lon: np.ndarray, lat: np.ndarray, out_crs: str) -> tuple[np.ndarray, np.ndarray]:
    if out_crs == "gcj02":
        return crs_mod.from_storage_xy(lon, lat, crs_mod.GCJ02)
    return lon, lat


def _public(table) -> ColumnElement[bool] | None:
    return row_filter(table, ANONYMOUS)


def _category_rows(cat: Category, *extra: Any) -> Select:
    table = LAYER_TABLES[cat.layer]
    star = table.c.star_rating if "star_rating" in table.c else literal(None)
    query = select(literal(cat.id).label("cat"), literal(cat.layer).label("layer"),
                   table.c.id, table.c.name, table.c.kind, star.label("star"),
                   func.ST_X(table.c.geom).label("lon"), func.ST_Y(table.c.geom).label("lat"),
                   table.c.geometry_accuracy, *extra).where(table.c.kind.in_(cat.all_kinds()))
    public = _public(table)
    return query if public is None else query.where(public)


# public facts the page filters by: free beds, services, operator type (short keys: the page
# loads every facility at once)
FILTER_FIELDS = {"services": "sv", "operator_type": "op"}


def filter_facts(conn: Connection, layer: str) -> dict[int, dict]:
    """Per public row of a layer, the public facts people choose by (compact keys)."""
    table = LAYER_TABLES[layer]
    fields = set(public_fields(layer))
    wanted = [n for n in FILTER_FIELDS if n in fields]
    beds = {"beds", "occupied_beds"} <= fields
    if not wanted and not beds:
        return {}
    columns = [table.c.id, *(table.c[n] for n in wanted)]
    if beds:
        columns += [table.c.beds, table.c.occupied_beds]
    query = select(*columns)
    public = _public(table)
    facts: dict[int, dict] = {}
    for row in conn.execute(query if public is None else query.where(public)).mappings():
        item = {FILTER_FIELDS[n]: row[n] for n in wanted if row[n] not in (None, [], "")}
        if beds and row["beds"] and row["occupied_beds"] is not None:
            item["free"] = max(row["beds"] - row["occupied_beds"], 0)
        if item:
            facts[row["id"]] = item
    return facts


def facilities(conn: Connection, categories: tuple[Category, ...] = CATEGORIES,
               out_crs: str = "EPSG:4490") -> dict:
    """Public facilities of the categories as a compact GeoJSON FeatureCollection."""
    rows = conn.execute(union_all(*(_category_rows(c) for c in categories))).all()
    facts = {layer: filter_facts(conn, layer) for layer in {c.layer for c in categories}}
    lon, lat = _to_output(np.array([r.lon for r in rows], dtype=float),
                          np.array([r.lat for r in rows], dtype=float), out_crs)
    features = []
    counts = {c.id: 0 for c in categories}
    illustrative = 0
    for row, x, y in zip(rows, lon, lat, strict=True):
        counts[row.cat] += 1
        illustrative += row.geometry_accuracy == "illustrative"
        props = {"cat": row.cat, "name": row.name, **facts[row.layer].get(row.id, {})}
        if row.star is not None:
            props["star"] = row.star
        features.append({"type": "Feature", "id": f"{row.layer}:{row.id}",
                         "geometry": {"type": "Point",
                                      "coordinates": [round(float(x), 6), round(float(y), 6)]},
                         "properties": props})
    return {"type": "FeatureCollection", "crs_name": out_crs, "features": features,
            "counts": counts, "illustrative_count": illustrative,
            "note": ILLUSTRATIVE_NOTE if illustrative else None}


def parse_feature_id(text: str) -> tuple[str, int]:
    """'eldercare_sites:12' → ('eldercare_sites', 12), or a 400 naming the problem."""
    layer, sep, number = text.partition(":")
    if not sep or layer not in FACILITY_LAYERS or not number.isdigit():
        raise BadMapRequest(f"facility id {text!r}: write it as <layer>:<number> with layer one "
                            f"of {', '.join(FACILITY_LAYERS)}")
    return layer, int(number)


def public_fields(layer: str) -> list[str]:
    """Columns of a facility layer the public may see (catalogue fields minus private ones)."""
    spec = catalogue().layer(layer)
    hidden = hidden_fields(spec, ANONYMOUS)
    table = LAYER_TABLES[layer]
    names = ["name", "kind", *(f.name for f in spec.fields if f.name not in hidden)]
    return [n for n in names if n in table.c and n not in hidden]


def directions_links(name: str, lon: float, lat: float) -> dict[str, str]:
    """'How to get there' links: the phone's map app (geo:) and Amap (GCJ-02 coordinates)."""
    glon, glat = crs_mod.from_storage_xy(lon, lat, crs_mod.GCJ02)
    return {"geo": f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}",
            "amap": f"https://uri.amap.com/marker?position={float(glon):.6f},{float(glat):.6f}"
                    f"&name={quote(name)}&src=geo_service&callnative=1"}


def facility(conn: Connection, feature_id: str, out_crs: str = "EPSG:4490") -> dict:
    """One public facility with its public fields, as a GeoJSON Feature (404 if not public)."""
    layer, number = parse_feature_id(feature_id)
    table = LAYER_TABLES[layer]
    fields = public_fields(layer)
    query = select(*(table.c[n] for n in fields), table.c.geometry_accuracy, table.c.updated_at,
                   func.ST_X(table.c.geom).label("lon"), func.ST_Y(table.c.geom).label("lat")
                   ).where(table.c.id == number)
    public = _public(table)
    row = conn.execute(query if public is None else query.where(public)).mappings().first()
    if row is None:
        raise NotFoundError(f"no public facility {feature_id!r}")
    props: dict[str, Any] = {n: row[n] for n in fields if row[n] not in (None, [], "")}
    cat = category_of(layer, row["kind"])
    props["cat"] = cat.id if cat else None
    props["category"] = cat.title if cat else None
    props["layer"] = layer
    props["layer_title"] = catalogue().layer(layer).title
    props["titles"] = {f.name: f.title for f in catalogue().layer(layer).fields if f.name in props}
    if row.get("beds") is not None and row.get("occupied_beds") is not None:
        props["free_beds"] = max(row["beds"] - row["occupied_beds"], 0)
        props["as_of"] = row["updated_at"].date().isoformat()  # free beds are as of this day
    props["geometry_accuracy"] = row["geometry_accuracy"]
    if row["geometry_accuracy"] == "illustrative":
        props["note"] = "位置为示意(示例数据)"
    props["directions"] = directions_links(row["name"], row["lon"], row["lat"])
    x, y = _to_output(np.array([row["lon"]]), np.array([row["lat"]]), out_crs)
    return {"type": "Feature", "id": feature_id, "properties": props,
            "geometry": {"type": "Point", "coordinates": [round(float(x[0]), 6),
                                                          round(float(y[0]), 6)]}}


def storage_point(lon: float, lat: float, point_crs: str = "EPSG:4490") -> tuple[float, float]:
    """A point given by the page (storage CRS, WGS84 GPS or GCJ-02 map clicks) in EPSG:4490."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or not (
            -180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadMapRequest(f"lon={lon}, lat={lat}: not a longitude/latitude in degrees")
    if check_crs(point_crs) == "gcj02":
        x, y = crs_mod.to_storage_xy(lon, lat, crs_mod.GCJ02)
        return float(x), float(y)
    return lon, lat


def nearest(conn: Connection, lon: float, lat: float, categories: tuple[Category, ...] = CATEGORIES,
            limit: int = 10, out_crs: str = "EPSG:4490", point_crs: str = "EPSG:4490",
            order: str = "straight", walk_kmh: float | None = None) -> dict:
    """The public facilities nearest to a point, geodesic distance on the CGCS2000 spheroid.

    With a road layer each also gets walking minutes along it (at `walk_kmh`, the setting);
    `order='walk'` ranks by them (among the 3 × limit nearest by straight line).
    """
    if not 1 <= limit <= MAX_NEAREST:
        raise BadMapRequest(f"limit={limit}: must be between 1 and {MAX_NEAREST}")
    if order not in ("straight", "walk"):
        raise BadMapRequest(f"order={order}: use straight or walk")
    wanted = limit
    if order == "walk":
        limit = min(3 * limit, MAX_NEAREST)
    x, y = storage_point(lon, lat, point_crs)
    here = func.geography(func.ST_SetSRID(func.ST_MakePoint(x, y), STORAGE_SRID))
    parts = []
    for cat in categories:
        table = LAYER_TABLES[cat.layer]
        distance = func.ST_Distance(func.geography(table.c.geom), here).label("distance_m")
        parts.append(_category_rows(cat, distance))
    union = union_all(*parts).subquery()
    rows = conn.execute(select(union).order_by(union.c.distance_m, union.c.layer, union.c.id)
                        .limit(limit)).all()
    olon, olat = _to_output(np.array([r.lon for r in rows], dtype=float),
                            np.array([r.lat for r in rows], dtype=float), out_crs)
    results = [{"id": f"{r.layer}:{r.id}", "name": r.name, "kind": r.kind, "cat": r.cat,
                "star": r.star, "distance_m": round(float(r.distance_m), 1),
                "lon": round(float(a), 6), "lat": round(float(b), 6)}
               for r, a, b in zip(rows, olon, olat, strict=True)]
    px, py = _to_output(np.array([x]), np.array([y]), out_crs)
    body = {"point": {"lon": round(float(px[0]), 6), "lat": round(float(py[0]), 6),
                      "crs": out_crs}, "results": results,
            "distance": "geodesic, CGCS2000 spheroid (PostGIS geography)"}
    from geo_service.network.care import walking

    walk = walking(conn.engine, x, y, np.array([r.lon for r in rows], dtype=float),
                   np.array([r.lat for r in rows], dtype=float), walk_kmh)
    if walk is not None:  # a road layer exists: walking minutes along it, beside the line
        for result, extra in zip(results, walk[0], strict=True):
            result.update(extra or {"walk_minutes": None, "walk_m": None})
        body["walk"] = walk[1]
        if order == "walk":
            results.sort(key=lambda r: (r["walk_minutes"] is None, r["walk_minutes"] or 0.0,
                                        r["distance_m"]))
    body["results"] = results[:wanted]
    body["order"] = order if walk is not None else "straight"
    return body


def _geojson_rows(conn: Connection, query: Select, out_crs: str) -> list[dict]:
    import json

    import shapely

    features = []
    for row in conn.execute(query).mappings():
        geometry = json.loads(row["geojson"])
        props = {k: v for k, v in row.items() if k not in ("geojson", "label_x", "label_y")}
        if row.get("label_x") is not None:
            lx, ly = _to_output(np.array([row["label_x"]]), np.array([row["label_y"]]), out_crs)
            props["label"] = [round(float(lx[0]), 5), round(float(ly[0]), 5)]
        if out_crs == "gcj02":
            shape = crs_mod.geometry_from_storage(
                np.array([shapely.geometry.shape(geometry)]), crs_mod.GCJ02)[0]
            geometry = json.loads(shapely.to_geojson(shapely.set_precision(shape, 1e-5)))
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features


def short_area_name(name: str) -> str:
    """A village/community's map label: 红星社区居民委员会 → 红星社区, 保家村村民委员会 → 保家村."""
    for body in ("居民委员会", "村民委员会", "居委会", "村委会"):
        if name.endswith(body) and len(name) > len(body):
            name = name[: -len(body)]
            break
    return name


BACKGROUND_DETAILS = ("main", "villages")


def background(conn: Connection, out_crs: str = "EPSG:4490", detail: str = "main",
               district_code: str = DEFAULT_DISTRICT_CODE) -> dict:
    """The default background: district, townships and landmarks ("main"), or the
    villages/communities and, when a road layer is loaded, the roads ("villages", loaded by
    the page after it is ready).

    Areas carry a label point inside them (ST_PointOnSurface) and are simplified to about
    10 m (a background, not a boundary record) to keep the page light on a phone.
    """
    if detail not in BACKGROUND_DETAILS:
        raise BadMapRequest(f"detail={detail!r}: use main (default) or villages")
    levels = ("village",) if detail == "villages" else ("district", "township")
    townships = select(admin_areas.c.code).where(admin_areas.c.level == "township",
                                                 admin_areas.c.parent_code == district_code)
    geom = func.ST_SimplifyPreserveTopology(admin_areas.c.geom, 0.0001)
    areas = select(admin_areas.c.code, admin_areas.c.name, admin_areas.c.level,
                   admin_areas.c.parent_code, admin_areas.c.geometry_accuracy,
                   func.ST_X(func.ST_PointOnSurface(admin_areas.c.geom)).label("label_x"),
                   func.ST_Y(func.ST_PointOnSurface(admin_areas.c.geom)).label("label_y"),
                   func.ST_AsGeoJSON(geom, 5).label("geojson")).where(
        admin_areas.c.level.in_(levels),
        (admin_areas.c.code == district_code) | (admin_areas.c.parent_code == district_code)
        | admin_areas.c.parent_code.in_(townships.scalar_subquery()))
    public = _public(admin_areas)
    if public is not None:
        areas = areas.where(public)
    places = select(place_names.c.name, place_names.c.category,
                    place_names.c.geometry_accuracy,
                    func.ST_AsGeoJSON(place_names.c.geom, 5).label("geojson")
                    ).where(place_names.c.category.in_(BACKGROUND_PLACE_CATEGORIES))
    public = _public(place_names)
    if public is not None:
        places = places.where(public)
    order = (func.array_position(literal(["district", "township", "village"]),
                                 admin_areas.c.level), admin_areas.c.code)
    features = _geojson_rows(conn, areas.order_by(*order), out_crs)
    if detail == "main":
        features += _geojson_rows(conn, places.order_by(place_names.c.name), out_crs)
    else:
        features += _geojson_rows(conn, _background_roads(), out_crs)
    for feature in features:
        props = feature["properties"]
        if props.get("level") == "village":
            props["short"] = short_area_name(props["name"])
    return {"type": "FeatureCollection", "crs_name": out_crs, "features": features}


def _background_roads() -> Select:
    """Public roads, simplified to about 10 m, as thin lines to orient by (`road`: true)."""
    query = select(roads.c.name, roads.c.kind, literal(True).label("road"),
                   func.ST_AsGeoJSON(func.ST_SimplifyPreserveTopology(roads.c.geom, 0.0001),
                                     5).label("geojson")).order_by(roads.c.id)
    public = _public(roads)
    return query if public is None else query.where(public)


def background_fingerprint(conn: Connection) -> tuple:
    """Row count and newest change of the background's tables (any edit changes it)."""
    parts = [select(func.count(), func.max(t.c.updated_at), func.coalesce(func.sum(t.c.id), 0))
             for t in (admin_areas, place_names, roads)]
    return tuple(tuple(conn.execute(union_all(*parts)).all()))


def attribution(conn: Connection) -> dict:
    """Data sources of what the page shows, and whether positions are illustrative."""
    sources: list[str] = []
    illustrative = 0
    for layer in (*FACILITY_LAYERS, "admin_areas"):
        table = LAYER_TABLES[layer]
        query = select(table.c.source, func.count().filter(
            table.c.geometry_accuracy == "illustrative")).group_by(table.c.source)
        public = _public(table)
        spec = catalogue().layer(layer)
        for source, count in conn.execute(query if public is None else query.where(public)):
            illustrative += count
            for part in public_source(source, spec).split("; "):
                if part and part not in sources:
                    sources.append(part)
    text = "数据来源：" + "；".join(sources) + "。" + LIBRARY_CREDITS + "。"
    if illustrative:
        text += ILLUSTRATIVE_NOTE
    return {"text": text, "sources": sources, "illustrative": bool(illustrative),
            "note": ILLUSTRATIVE_NOTE if illustrative else None}


def category_counts(conn: Connection) -> dict[str, int]:
    """Number of public facilities per category."""
    parts = []
    for cat in CATEGORIES:
        table = LAYER_TABLES[cat.layer]
        query = select(literal(cat.id).label("cat"), func.count().label("n")).where(
            table.c.kind.in_(cat.all_kinds()))
        public = _public(table)
        parts.append(query if public is None else query.where(public))
    return {row.cat: row.n for row in conn.execute(union_all(*parts))}


def public_rows(conn: Connection, cat: Category) -> list[dict]:
    """Every public facility of a category with its public fields and position (storage CRS)."""
    table = LAYER_TABLES[cat.layer]
    fields = public_fields(cat.layer)
    query = select(table.c.id, *(table.c[n] for n in fields), table.c.geometry_accuracy,
                   table.c.updated_at,
                   func.ST_X(table.c.geom).label("lon"), func.ST_Y(table.c.geom).label("lat")
                   ).where(table.c.kind.in_(cat.all_kinds())).order_by(table.c.id)
    public = _public(table)
    return [dict(r) for r in conn.execute(query if public is None else query.where(public))
            .mappings()]


def fingerprint(conn: Connection) -> tuple:
    """Row count and newest change of each facility layer (any edit changes it)."""
    parts = [select(func.count(), func.max(LAYER_TABLES[layer].c.updated_at),
                    func.coalesce(func.sum(LAYER_TABLES[layer].c.id), 0))
             for layer in FACILITY_LAYERS]
    return tuple(tuple(conn.execute(union_all(*parts)).all()))
