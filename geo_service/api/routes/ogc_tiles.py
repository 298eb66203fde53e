"""OGC API – Tiles routes: vector tiles per collection and the combined care-map tileset."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from geo_service.access import Principal
from geo_service.api.deps import get_engine_dep, get_principal
from geo_service.ogc import html, tiles
from geo_service.ogc.collections import get_collection
from geo_service.ogc.http import base_url, not_modified
from geo_service.ogc.tile_cache import EncodedTile, LayerVersionCache, TileCache

router = APIRouter(tags=["OGC API – Tiles"], route_class=html.HtmlErrorRoute)
Caller = Annotated[Principal, Depends(get_principal)]
Db = Annotated[Engine, Depends(get_engine_dep)]
CARE_MAP_TITLE = "关爱地图:镇街边界和养老、儿童、殡葬服务设施(公开)"
TILE_MAX_AGE = 300
_PUBLIC = {"Cache-Control": f"public, max-age={TILE_MAX_AGE}", "Vary": "Authorization, Cookie"}
_PRIVATE = {"Cache-Control": f"private, max-age={TILE_MAX_AGE}", "Vary": "Authorization, Cookie"}


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), media_type="application/json")


async def _tile_response(request: Request, tileset: str, layers: list[tiles.TileLayer],
                         principal: Principal, z: int, y: int, x: int) -> Response:
    """The tile: a cache hit under recently read layer versions costs no thread and no query
    (the engine is read from app state, not a dependency, to keep the hit path short)."""
    tiles.check_tile(z, y, x)
    state = request.app.state
    versions: LayerVersionCache = state.layer_versions
    known = versions.fresh()
    key = known and tiles.tile_key(tileset, layers, principal, z, y, x, known)
    cache: TileCache = state.tile_cache
    tile: EncodedTile | None = cache.get(key) if key else None
    if tile is None:
        tile = await run_in_threadpool(_render, state.engine, cache, versions, tileset,
                                       layers, principal, z, y, x)
    headers = dict(_PUBLIC if principal.is_anonymous else _PRIVATE)
    if not tile.data:
        return Response(status_code=204, headers=headers)
    headers["ETag"] = tile.etag
    if not_modified(request, tile.etag):
        return Response(status_code=304, headers=headers)
    return Response(tile.data, media_type=tiles.MVT_TYPE, headers=headers)


def _render(engine: Engine, cache: TileCache, versions: LayerVersionCache, tileset: str,
            layers: list[tiles.TileLayer], principal: Principal, z: int, y: int,
            x: int) -> EncodedTile:
    """The tile from the cache or PostGIS (on a worker thread)."""
    if versions.ttl_s <= 0:  # exact: versions and rows from one snapshot
        with engine.connect() as conn:
            return tiles.cached_tile(conn.execution_options(isolation_level="REPEATABLE READ"),
                                     cache, tileset, layers, principal, z, y, x)
    with engine.connect() as conn:  # one statement each, no transaction round trips
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        known = versions.fresh()
        if known is None:
            read_at = versions.clock()
            known = tiles.layer_versions(conn)
            versions.store(known, read_at)
        return tiles.cached_tile(conn, cache, tileset, layers, principal, z, y, x, known)


@router.get("/tileMatrixSets", summary="Tile matrix sets offered (public)")
def tile_matrix_sets(request: Request) -> Response:
    """The one tile matrix set: WebMercatorQuad."""
    url = f"{base_url(request)}/tileMatrixSets/{tiles.TMS_ID}"
    return _json({"tileMatrixSets": [{"id": tiles.TMS_ID, "uri": tiles.TMS_URI, "links": [
        {"href": url, "rel": "self", "type": "application/json", "title": tiles.TMS_ID}]}]})


@router.get("/tileMatrixSets/{tms}", summary="A tile matrix set definition (public)")
def tile_matrix_set(tms: str) -> Response:
    """The WebMercatorQuad definition (OGC TMS 2.0 JSON)."""
    tiles.require_tms(tms)
    return _json(tiles.tile_matrix_set())


@router.get("/tiles", summary="Dataset vector tilesets: the care map (public)")
def dataset_tilesets(request: Request) -> Response:
    """The combined care-map tileset."""
    return _json(tiles.tilesets_list(base_url(request), "", CARE_MAP_TITLE))


@router.get("/tiles/{tms}", summary="Care-map tileset metadata (public)")
def dataset_tileset(tms: str, request: Request, principal: Caller) -> Response:
    """Layers, properties and tile URL template of the care-map tileset."""
    tiles.require_tms(tms)
    return _json(tiles.tileset_doc(base_url(request), "", CARE_MAP_TITLE,
                                   tiles.care_map_layers(principal), principal))


@router.get("/tiles/{tms}/tilejson.json", summary="Care-map TileJSON (public)")
def dataset_tilejson(tms: str, request: Request, principal: Caller, engine: Db) -> Response:
    """TileJSON 3.0 of the care-map tileset."""
    tiles.require_tms(tms)
    layers = tiles.care_map_layers(principal)
    with engine.connect() as conn:
        bounds = tiles.union_bounds(conn, layers, principal)
    return _json(tiles.tilejson(base_url(request), "", CARE_MAP_TITLE, layers, bounds,
                                principal))


@router.get("/tiles/{tms}/{z}/{y}/{x}", summary="Care-map vector tile (MVT; 204 when empty)")
async def dataset_tile(tms: str, z: int, y: int, x: int, request: Request,
                       principal: Caller) -> Response:
    """Layers townships, eldercare_sites, child_sites, funeral_sites in one MVT."""
    tiles.require_tms(tms)
    return await _tile_response(request, tiles.CARE_MAP, tiles.care_map_layers(principal),
                          principal, z, y, x)


@router.get("/collections/{collection_id}/tiles", summary="A collection's tilesets (public)")
def collection_tilesets(collection_id: str, request: Request, principal: Caller) -> Response:
    """The collection's vector tileset list (WebMercatorQuad)."""
    found = get_collection(collection_id, principal)
    return _json(tiles.tilesets_list(base_url(request), f"/collections/{found.id}",
                                     found.title))


@router.get("/collections/{collection_id}/tiles/{tms}",
            summary="A collection's tileset metadata (public)")
def collection_tileset(collection_id: str, tms: str, request: Request,
                       principal: Caller) -> Response:
    """Layer, properties and tile URL template of a collection's tileset."""
    tiles.require_tms(tms)
    layers = tiles.collection_layers(collection_id, principal)
    return _json(tiles.tileset_doc(base_url(request), f"/collections/{collection_id}",
                                   layers[0].collection.title, layers, principal))


@router.get("/collections/{collection_id}/tiles/{tms}/tilejson.json",
            summary="A collection's TileJSON (public)")
def collection_tilejson(collection_id: str, tms: str, request: Request, principal: Caller,
                        engine: Db) -> Response:
    """TileJSON 3.0 of a collection's tileset."""
    tiles.require_tms(tms)
    layers = tiles.collection_layers(collection_id, principal)
    with engine.connect() as conn:
        bounds = tiles.union_bounds(conn, layers, principal)
    return _json(tiles.tilejson(base_url(request), f"/collections/{collection_id}",
                                layers[0].collection.title, layers, bounds, principal))


@router.get("/collections/{collection_id}/tiles/{tms}/{z}/{y}/{x}",
            summary="A collection's vector tile (MVT; 204 when empty) (public)")
async def collection_tile(collection_id: str, tms: str, z: int, y: int, x: int,
                          request: Request, principal: Caller) -> Response:
    """One MVT tile with the layer named by the collection id."""
    tiles.require_tms(tms)
    layers = tiles.collection_layers(collection_id, principal)
    return await _tile_response(request, f"collections/{collection_id}", layers, principal,
                          z, y, x)
