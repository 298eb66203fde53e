"""OGC API – Tiles: WebMercatorQuad Mapbox Vector Tiles built by PostGIS (ST_AsMVT).

Rules (documented in README): point layers are capped per tile at low zoom (the largest
sites first), polygons are simplified to one tile-grid cell below z14, villages appear
from z10, and a tile outside the data's extent is answered 204 without a query. Encoded
tiles are kept in a bounded per-worker cache keyed by view and layer versions (tile_cache).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Text,
    and_,
    bindparam,
    func,
    literal,
    select,
    text,
)

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.crs import STORAGE_SRID
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.ogc.collections import Collection, get_collection
from geo_service.ogc.tile_cache import EncodedTile, TileCache, TileKey, view_of

TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
MERCATOR_URI = "http://www.opengis.net/def/crs/EPSG/0/3857"
EARTH_RADIUS = 6378137.0  # EPSG:3857's sphere (WGS 84 semi-major axis)
HALF_WORLD = math.pi * EARTH_RADIUS  # 20037508.342789244 m
MAX_ZOOM = 22
EXTENT = 4096
BUFFER = 64
CARE_MAP = "care_map"
CARE_MAP_LAYERS = ("townships", "eldercare_sites", "child_sites", "funeral_sites")
MVT_TYPE = "application/vnd.mapbox-vector-tile"
_STAFF = Principal("tile-view", Role.planner)  # stands for every staff view (all rows, fields)
_SCALAR = {"text", "code", "int", "float", "bool"}
_POLYGONAL = {"MultiPolygon", "Polygon", "Geometry"}
_SIDES = ("west", "south", "east", "north")


class TileError(GeoServiceError):
    """A tile address outside the tile matrix set."""

    status_code = 400


def tile_matrix_set() -> dict[str, Any]:
    """The WebMercatorQuad tile matrix set (OGC TMS 2.0 JSON), zoom 0..MAX_ZOOM."""
    cell0 = 2 * HALF_WORLD / 256
    return {
        "id": TMS_ID, "title": "Google Maps Compatible for the World", "uri": TMS_URI,
        "crs": MERCATOR_URI, "orderedAxes": ["X", "Y"],
        "tileMatrices": [{
            "id": str(z), "scaleDenominator": cell0 / 2**z / 0.00028,
            "cellSize": cell0 / 2**z, "cornerOfOrigin": "topLeft",
            "pointOfOrigin": [-HALF_WORLD, HALF_WORLD], "tileWidth": 256, "tileHeight": 256,
            "matrixWidth": 2**z, "matrixHeight": 2**z} for z in range(MAX_ZOOM + 1)],
    }


def check_tile(z: int, y: int, x: int) -> None:
    """400 for a zoom beyond the set, 404-style 400 for a row/column outside the matrix."""
    if not 0 <= z <= MAX_ZOOM:
        raise TileError(f"tileMatrix {z}: WebMercatorQuad here has zoom levels 0..{MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise TileError(f"tile {z}/{y}/{x}: row and column must be within 0..{2**z - 1}")


def tile_lonlat_bounds(z: int, y: int, x: int,
                       margin: float = 0.0) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in degrees, grown by `margin` of its size.

    The grown box is clamped to the world before the transform: at z0–z2 the margin crosses
    x = ±20037508 m, and a longitude past 180° would wrap to the other side of the world.
    Spherical Mercator's inverse in closed form (what PROJ computes for EPSG:3857), so a
    tile needs no pyproj transformer: pyproj builds one per thread (~70 ms), and the
    server's worker threads come and go.
    """
    size = 2 * HALF_WORLD / 2**z
    minx, maxy = -HALF_WORLD + x * size, HALF_WORLD - y * size
    pad = size * margin
    west, east = max(-HALF_WORLD, minx - pad), min(HALF_WORLD, minx + size + pad)
    south, north = max(-HALF_WORLD, maxy - size - pad), min(HALF_WORLD, maxy + pad)
    return (_mercator_lon(west), _mercator_lat(south), _mercator_lon(east),
            _mercator_lat(north))


def _mercator_lon(x: float) -> float:
    return math.degrees(x / EARTH_RADIUS)


def _mercator_lat(y: float) -> float:
    return math.degrees(2 * math.atan(math.exp(y / EARTH_RADIUS)) - math.pi / 2)


@dataclass(frozen=True)
class TileLayer:
    """One MVT layer of a tile: a collection under a layer name."""

    name: str
    collection: Collection


def _feature_limit(collection: Collection, z: int) -> int | None:
    if collection.layer.geometry in _POLYGONAL and collection.layer.id == "admin_areas":
        return None
    return 300 if z < 9 else 3000 if z < 12 else None


def _priority(collection: Collection) -> list[Any]:
    cols = collection.table.c
    order: list[Any] = []
    if "beds" in cols:
        order.append(cols.beds.desc().nulls_last())
    if "capacity" in cols:
        order.append(cols.capacity.desc().nulls_last())
    return [*order, cols.id]


def layer_sql(layer: TileLayer, principal: Principal, z: int) -> Any:
    """SELECT ST_AsMVT(...) of one layer at zoom z.

    Binds: tile column/row x, y, and the search box west, south, east, north (degrees,
    from search_bounds).
    """
    collection = layer.collection
    table = collection.table
    zi, xi, yi = literal(z, Integer), bindparam("x", type_=Integer), bindparam("y", type_=Integer)
    envelope = func.ST_TileEnvelope(zi, xi, yi)
    search = func.ST_MakeEnvelope(*(bindparam(side, type_=Float) for side in _SIDES),
                                  STORAGE_SRID)
    geom = func.ST_Transform(collection.geometry, 3857)
    if collection.layer.geometry in _POLYGONAL and z < 14:
        cell = 2 * HALF_WORLD / 2**z / EXTENT
        geom = func.ST_SimplifyPreserveTopology(geom, literal(cell, Float))
    columns: list[Any] = [table.c.id]
    for prop in collection.properties(principal).values():
        if prop.type in _SCALAR and prop.name != "external_id":
            columns.append(prop.column.label(prop.name))
    clauses = [collection.geometry.op("&&")(search), *collection.where(principal)]
    if "level" in table.c and z < 10:
        clauses.append(table.c.level != "village")
    inner = (select(*columns, func.ST_AsMVTGeom(geom, envelope, EXTENT, BUFFER, True)
                    .label("mvt_geom"))
             .where(and_(*clauses)).order_by(*_priority(collection)))
    limit = _feature_limit(collection, z)
    if limit is not None:
        inner = inner.limit(limit)
    rows = inner.subquery(f"tile_{layer.name}")
    return (select(func.ST_AsMVT(rows.table_valued(), literal(layer.name, Text), EXTENT,
                                 literal("mvt_geom", Text), literal("id", Text)))
            .select_from(rows).where(rows.c.mvt_geom.is_not(None)).scalar_subquery())


@lru_cache(maxsize=512)
def _tile_statement(names: tuple[str, ...], sees_private: bool, z: int) -> Any:
    """The tile query of these layers at zoom z for a view, built once (x, y are binds)."""
    principal = _STAFF if sees_private else ANONYMOUS
    return select(*(layer_sql(TileLayer(name, get_collection(name, principal)), principal, z)
                    for name in names))


# '' carries the table's oid: a restored or re-created database starts a new series
_VERSIONS = text("SELECT layer, version FROM layer_versions UNION ALL "
                 "SELECT '', 'layer_versions'::regclass::oid::bigint")
# extent of the rows a view sees, per (database, collection, sees_private): (version, extent)
_extents: dict[tuple[str, str, bool], tuple[tuple[int, int], tuple[float, ...] | None]] = {}


def layer_versions(conn: Connection) -> dict[str, int]:
    """Each layer table's version (migration 0011: bumped by every row change); '' = the
    version table's oid."""
    return {layer: int(version) for layer, version in conn.execute(_VERSIONS)}


def _data_extent(conn: Connection, collection: Collection, principal: Principal = _STAFF,
                 versions: dict[str, int] | None = None) -> tuple[float, ...] | None:
    """Extent of the rows the caller may see (staff: every row), kept until a row changes."""
    url = conn.engine.url
    key = (f"{url.host}:{url.port}/{url.database}", collection.id, principal.sees_private)
    versions = layer_versions(conn) if versions is None else versions
    of_table = versions.get(collection.table.name)
    version = None if of_table is None else (versions[""], of_table)
    cached = _extents.get(key)
    if cached is not None and version is not None and cached[0] == version:
        return cached[1]
    extent = func.ST_Extent(collection.geometry)
    row = conn.execute(select(func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent),
                              func.ST_YMax(extent)).select_from(collection.table)
                       .where(*collection.where(principal))).one()
    value = None if row[0] is None else (row[0], row[1], row[2], row[3])
    if version is not None:
        _extents[key] = (version, value)
    return value


def _touches(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    pad = 1e-6
    return not (a[2] < b[0] - pad or a[0] > b[2] + pad or a[3] < b[1] - pad
                or a[1] > b[3] + pad)


def render_tile(conn: Connection, layers: list[TileLayer], principal: Principal,
                z: int, y: int, x: int, versions: dict[str, int] | None = None) -> bytes:
    """The MVT bytes of tile z/y/x (b'' when empty; layers outside the tile cost no query)."""
    check_tile(z, y, x)
    versions = layer_versions(conn) if versions is None else versions
    bounds = tile_lonlat_bounds(z, y, x)
    live = [layer for layer in layers
            if (ext := _data_extent(conn, layer.collection, versions=versions))
            and _touches(ext, bounds)]
    if not live:
        return b""
    statement = _tile_statement(tuple(layer.name for layer in live), principal.sees_private, z)
    search = dict(zip(_SIDES, tile_lonlat_bounds(z, y, x, BUFFER / EXTENT), strict=True))
    row = conn.execute(statement, {"x": x, "y": y, **search}).one()
    return b"".join(bytes(part) for part in row if part)


def tile_key(tileset: str, layers: list[TileLayer], principal: Principal, z: int, y: int,
             x: int, versions: dict[str, int]) -> TileKey | None:
    """The cache key of a tile under these layer versions (None: a table has no version)."""
    stamp = (versions.get("", -1), *(versions.get(name, -1) for name in
                                     sorted({layer.collection.table.name for layer in layers})))
    return None if -1 in stamp else (tileset, z, x, y, view_of(principal), stamp)


def cached_tile(conn: Connection, cache: TileCache, tileset: str, layers: list[TileLayer],
                principal: Principal, z: int, y: int, x: int,
                versions: dict[str, int] | None = None) -> EncodedTile:
    """Tile z/y/x of a tileset from the cache, else rendered (and kept).

    Without `versions`, give a connection in REPEATABLE READ: versions and rows then come
    from one snapshot, so a kept tile is exactly the rows of its versions. Given `versions`
    read earlier (LayerVersionCache), the rows are as new or newer than the key says. A
    table without a version row is never cached.
    """
    check_tile(z, y, x)
    versions = layer_versions(conn) if versions is None else versions
    key = tile_key(tileset, layers, principal, z, y, x, versions)
    if key is not None and (hit := cache.get(key)) is not None:
        return hit
    data = render_tile(conn, layers, principal, z, y, x, versions)
    tile = EncodedTile(data, tile_etag(data) if data else "")
    if key is not None:
        cache.put(key, tile)
    return tile


def collection_layers(collection_id: str, principal: Principal) -> list[TileLayer]:
    """The single-layer tileset of a collection (layer named by the collection id)."""
    return [TileLayer(collection_id, get_collection(collection_id, principal))]


def care_map_layers(principal: Principal) -> list[TileLayer]:
    """The combined care-map tileset: township boundaries and the public facilities."""
    return [TileLayer(cid, get_collection(cid, principal)) for cid in CARE_MAP_LAYERS]


def tile_etag(data: bytes) -> str:
    """Strong ETag of tile bytes."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def tileset_doc(base: str, path: str, title: str, layers: list[TileLayer],
                principal: Principal) -> dict[str, Any]:
    """OGC tileset metadata of a vector tileset (path = URL prefix before /tiles)."""
    url = f"{base}{path}/tiles/{TMS_ID}"
    return {
        "title": title, "dataType": "vector", "crs": MERCATOR_URI,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"href": url, "rel": "self", "type": "application/json", "title": title},
            {"href": f"{base}/tileMatrixSets/{TMS_ID}",
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "type": "application/json", "title": TMS_ID},
            {"href": url + "/{tileMatrix}/{tileRow}/{tileCol}", "rel": "item",
             "type": MVT_TYPE, "templated": True, "title": "矢量瓦片"},
            {"href": f"{url}/tilejson.json", "rel": "describedby", "type": "application/json",
             "title": "TileJSON"},
        ],
        "layers": [_layer_doc(layer, principal) for layer in layers],
    }


def _layer_doc(layer: TileLayer, principal: Principal) -> dict[str, Any]:
    props = layer.collection.properties(principal)
    return {"id": layer.name, "title": layer.collection.title, "dataType": "vector",
            "geometryType": {"Point": "points", "MultiPolygon": "polygons"}.get(
                layer.collection.layer.geometry, "geometry"),
            "minTileMatrix": "0", "maxTileMatrix": str(MAX_ZOOM),
            "propertiesSchema": {"type": "object", "properties": {
                p.name: {"title": p.title} for p in props.values()
                if p.type in _SCALAR and p.name != "external_id"}}}


def tilesets_list(base: str, path: str, title: str) -> dict[str, Any]:
    """The list of tilesets under a path (one: WebMercatorQuad vector)."""
    url = f"{base}{path}/tiles/{TMS_ID}"
    return {"tilesets": [{
        "title": title, "dataType": "vector", "crs": MERCATOR_URI, "tileMatrixSetURI": TMS_URI,
        "links": [{"href": url, "rel": "self", "type": "application/json", "title": title},
                  {"href": f"{base}/tileMatrixSets/{TMS_ID}",
                   "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                   "type": "application/json", "title": TMS_ID}]}]}


def tilejson(base: str, path: str, title: str, layers: list[TileLayer],
             bounds: list[float] | None, principal: Principal) -> dict[str, Any]:
    """TileJSON 3.0 for map clients (MapLibre, Leaflet plugins)."""
    box = bounds or [-180.0, -85.0511, 180.0, 85.0511]
    return {
        "tilejson": "3.0.0", "name": title, "scheme": "xyz",
        "tiles": [f"{base}{path}/tiles/{TMS_ID}/{{z}}/{{y}}/{{x}}"],
        "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": box,
        "center": [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 10],
        "vector_layers": [{"id": layer.name, "description": layer.collection.title,
                           "fields": {k: v["title"] for k, v in _layer_doc(
                               layer, principal)["propertiesSchema"]["properties"].items()}}
                          for layer in layers],
    }


def union_bounds(conn: Connection, layers: list[TileLayer],
                 principal: Principal) -> list[float] | None:
    """The combined extent of the layers' rows the caller may see (lon/lat)."""
    versions = layer_versions(conn)
    boxes = [b for layer in layers
             if (b := _data_extent(conn, layer.collection, principal, versions))]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes)]


def require_tms(tms: str) -> None:
    """404 for a tile matrix set other than WebMercatorQuad."""
    if tms != TMS_ID:
        raise NotFoundError(f"tile matrix set {tms!r} is not offered; use {TMS_ID}")


