"""The gazetteer over HTTP: search, reverse geocoding, hierarchy and the census export."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from geo_service.access import ANONYMOUS, Principal
from geo_service.api.deps import get_engine_dep, get_principal
from geo_service.gazetteer import census
from geo_service.gazetteer.hierarchy import hierarchy
from geo_service.gazetteer.query import build_query
from geo_service.gazetteer.reverse import MAX_NEAREST, reverse_geocode
from geo_service.gazetteer.search import (
    MAX_LIMIT,
    as_geojson,
    search,
    strip_geometry,
)

router = APIRouter(prefix="/places", tags=["places 地名"])
EngineDep = Annotated[Engine, Depends(get_engine_dep)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]


@router.get("/search", summary="Search place names (and facilities) by Chinese, pinyin or initials")
async def search_places(
    engine: EngineDep,
    principal: PrincipalDep,
    q: Annotated[str, Query(description="what was typed: 宝顶, 寶頂, baodingshan, bds, 邮亭铺…")],
    types: Annotated[str | None, Query(description="place and/or facility, comma-separated "
                                                   "(default place)")] = None,
    category: Annotated[str | None, Query(description="地名类别 or 类别代码 of places, or "
                                                      "facility kinds, comma-separated")] = None,
    township: Annotated[str | None, Query(description="township code or name")] = None,
    bbox: Annotated[str | None, Query(description="min lon,min lat,max lon,max lat "
                                                  "(CRS84)")] = None,
    lon: Annotated[float | None, Query(description="a point: ranks nearer first")] = None,
    lat: Annotated[float | None, Query()] = None,
    radius: Annotated[float | None, Query(description="only within this many metres of "
                                                      "lon/lat")] = None,
    crs: Annotated[str | None, Query(description="CRS of lon/lat: CRS84 (default), EPSG:n, "
                                                 "gcj02, bd09")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
    f: Annotated[Literal["json", "geojson"], Query(description="json or geojson")] = "json",
    public: Annotated[bool, Query(description="only what the public may see, even when "
                                              "logged in (the public care map asks this)")] = False,
) -> JSONResponse:
    """Ranked matches; public rows only for anonymous callers (or when public=true)."""
    if public:
        principal = ANONYMOUS
    query = build_query(q, types=types, category=category, township=township, bbox=bbox,
                        lon=lon, lat=lat, radius=radius, crs=crs, limit=limit)
    found = await run_in_threadpool(search, engine, query, principal)
    if f == "geojson":
        return JSONResponse(as_geojson(found), media_type="application/geo+json")
    return JSONResponse(strip_geometry(found))


@router.get("/reverse", summary="Reverse geocoding: what district, township and village is here")
async def reverse_places(
    engine: EngineDep,
    principal: PrincipalDep,
    lon: Annotated[float, Query(description="longitude or easting")],
    lat: Annotated[float, Query(description="latitude or northing")],
    crs: Annotated[str | None, Query(description="CRS84 (default), EPSG:4490, EPSG:4544, "
                                                 "gcj02, bd09…")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_NEAREST)] = 5,
) -> dict:
    """Containing areas, nearest named places (distance, direction) and a sentence."""
    return await run_in_threadpool(reverse_geocode, engine, lon, lat, crs=crs, limit=limit,
                                   principal=principal)


@router.get("/hierarchy", summary="Administrative hierarchy by statistical code or name")
async def place_hierarchy(
    engine: EngineDep,
    principal: PrincipalDep,
    code: Annotated[str | None, Query(description="6-, 9- or 12-digit statistical code")] = None,
    name: Annotated[str | None, Query(description="name of the district, a township or "
                                                  "village")] = None,
    depth: Annotated[int, Query(ge=0, le=2, description="levels of children")] = 2,
) -> dict:
    """The area, its path from the district, and its children with their codes."""
    return await run_in_threadpool(hierarchy, engine, code=code, name=name, depth=depth,
                                   principal=principal)


@router.get("/export.xlsx", summary="Place names in the census's Excel layout")
async def export_places(engine: EngineDep, principal: PrincipalDep) -> Response:
    """The census workbook (public rows only for anonymous callers)."""
    content = await run_in_threadpool(census.export_xlsx_bytes, engine, principal)
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename*=UTF-8''place_names.xlsx"},
    )
