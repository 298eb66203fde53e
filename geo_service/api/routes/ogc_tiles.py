"""OGC API – Tiles routes: vector tiles per collection and the combined care-map tileset."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Engine

from geo_service.access import Principal
from geo_service.api.deps import get_engine_dep, get_principal
from geo_service.ogc import html, tiles
from geo_service.ogc.collections import get_collection
from geo_service.ogc.http import base_url, not_modified

router = APIRouter(tags=["OGC API – Tiles"], route_class=html.HtmlErrorRoute)
Caller = Annotated[Principal, Depends(get_principal)]
Db = Annotated[Engine, Depends(get_engine_dep)]
CARE_MAP_TITLE = "关爱地图:镇街边界和养老、儿童、殡葬服务设施(公开)"
TILE_MAX_AGE = 300


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), media_type="application/json")


def _tile_response(request: Request, engine: Engine, tileset: str,
                   layers: list[tiles.TileLayer], principal: Principal, z: int, y: int,
                   x: int) -> Response:
    """The tile (from this worker's tile cache when its layers have not changed)."""
    with engine.connect() as conn:  # one snapshot for the layer versions and the rows
        tile = tiles.cached_tile(conn.execution_options(isolation_level="REPEATABLE READ"),
                                 request.app.state.tile_cache, tileset, layers, principal,
                                 z, y, x)
    scope = "public" if principal.is_anonymous else "private"
    headers = {"Cache-Control": f"{scope}, max-age={TILE_MAX_AGE}",
               "Vary": "Authorization, Cookie"}
    if not tile.data:
        return Response(status_code=204, headers=headers)
    headers["ETag"] = tile.etag
    if not_modified(request, tile.etag):
        return Response(status_code=304, headers=headers)
    return Response(tile.data, media_type=tiles.MVT_TYPE, headers=headers)


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
def dataset_tile(tms: str, z: int, y: int, x: int, request: Request, principal: Caller,
                 engine: Db) -> Response:
    """Layers townships, eldercare_sites, child_sites, funeral_sites in one MVT."""
    tiles.require_tms(tms)
    return _tile_response(request, engine, tiles.CARE_MAP, tiles.care_map_layers(principal),
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
def collection_tile(collection_id: str, tms: str, z: int, y: int, x: int, request: Request,
                    principal: Caller, engine: Db) -> Response:
    """One MVT tile with the layer named by the collection id."""
    tiles.require_tms(tms)
    layers = tiles.collection_layers(collection_id, principal)
    return _tile_response(request, engine, f"collections/{collection_id}", layers, principal,
                          z, y, x)
