"""The public care map (关爱地图): its page at /map, vendored Leaflet at /vendor/..., and the
compact JSON it reads. Every data endpoint reads as ANONYMOUS, whoever is logged in."""

from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from geo_service.errors import NotFoundError
from geo_service.maps import care_data
from geo_service.maps.basemap import basemap_config
from geo_service.maps.categories import CATEGORIES, parse_categories
from geo_service.maps.vendor import served_file
from geo_service.resources import package_path

router = APIRouter(tags=["care map"])
GAZETTEER_SEARCH = "/places/search"
_NO_CACHE = {"Cache-Control": "no-cache"}
_VENDOR_CACHE = {"Cache-Control": "public, max-age=86400"}
# facilities JSON by (categories, crs, data fingerprint): rebuilt whenever any row changes
_FACILITIES_CACHE: dict[tuple, str] = {}

CategoriesParam = Annotated[str | None, Query(
    description="category ids or titles, comma-separated (default: all): "
                + ", ".join(f"{c.id} ({c.title})" for c in CATEGORIES))]
CrsParam = Annotated[str | None, Query(
    description="output coordinates: EPSG:4490 (default) or gcj02 (for an Amap basemap)")]


def _json(payload: Any) -> Response:
    """Compact UTF-8 JSON (the page's data is large; skip FastAPI's generic encoder)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return Response(body, media_type="application/json", headers=_NO_CACHE)


def _engine(request: Request):
    return request.app.state.engine


@router.get("/map", include_in_schema=False)
def care_map_page(request: Request) -> Response:
    """The care map page (Chinese UI, works offline), with its config embedded."""
    page = package_path("web_map", "index.html").read_text(encoding="utf-8")
    settings = _config(request)
    if settings["basemap"]["crs"] == "gcj02":  # preload what the page will ask for (GCJ-02)
        page = page.replace('?crs=EPSG:4490">', '?crs=gcj02">')
    config = json.dumps(settings, ensure_ascii=False).replace("</", "<\\/")
    page = page.replace('<script id="care-map-config" type="application/json">{}</script>',
                        f'<script id="care-map-config" type="application/json">{config}</script>')
    return Response(page, media_type="text/html; charset=utf-8", headers=_NO_CACHE)


def _file_under(root: Path, relative: str) -> Path:
    target = (root / relative).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise NotFoundError(f"no file {relative!r}")
    return target


@router.get("/map/static/{path:path}", include_in_schema=False)
def care_map_static(path: str) -> FileResponse:
    """The page's own CSS, JS and icons (web_map/static/)."""
    target = _file_under(package_path("web_map", "static"), path)
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers=_NO_CACHE)


@router.get("/vendor/{package}/{path:path}", include_in_schema=False)
def vendor_file(package: str, path: str) -> FileResponse:
    """Vendored front-end files (Leaflet, markercluster) from web_map/node_modules."""
    target = served_file(package, path)
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers=_VENDOR_CACHE)


@router.get("/map/api/config", summary="Care map: categories with counts, attribution, basemap")
def care_map_config(request: Request) -> Response:
    """Everything the page needs before drawing: legend, counts, attribution, basemap, search."""
    return _json(_config(request))


def _config(request: Request) -> dict:
    with _engine(request).connect() as conn:
        counts = care_data.category_counts(conn)
        credits = care_data.attribution(conn)
    categories = [{"id": c.id, "title": c.title, "layer": c.layer, "kinds": list(c.all_kinds()),
                   "colour": c.colour, "letter": c.letter, "shape": c.shape,
                   "count": counts[c.id]} for c in CATEGORIES]
    return {"title": "大足区关爱地图", "categories": categories, "attribution": credits,
            "basemap": basemap_config(request.app.state.settings.basemap),
            "search": {"url": GAZETTEER_SEARCH}}


@router.get("/map/api/facilities", summary="Care map: public facilities (GeoJSON)")
def care_map_facilities(request: Request, categories: CategoriesParam = None,
                        crs: CrsParam = None) -> Response:
    """Public facilities of the chosen categories: id, category, name, kind, star rating."""
    chosen = parse_categories(categories)
    out_crs = care_data.check_crs(crs)
    with _engine(request).connect() as conn:
        key = (tuple(c.id for c in chosen), out_crs, care_data.fingerprint(conn))
        body = _FACILITIES_CACHE.get(key)
        if body is None:
            body = json.dumps(care_data.facilities(conn, chosen, out_crs), ensure_ascii=False,
                              separators=(",", ":"))
            if len(_FACILITIES_CACHE) >= 16:
                _FACILITIES_CACHE.clear()
            _FACILITIES_CACHE[key] = body
    return Response(body, media_type="application/json", headers=_NO_CACHE)


@router.get("/map/api/facilities/{feature_id}", summary="Care map: one facility's card")
def care_map_facility(request: Request, feature_id: str, crs: CrsParam = None) -> Response:
    """A public facility's public fields (id like eldercare_sites:12); 404 if not public."""
    with _engine(request).connect() as conn:
        return _json(care_data.facility(conn, feature_id, care_data.check_crs(crs)))


@router.get("/map/api/nearest", summary="Care map: nearest public facilities to a point")
def care_map_nearest(
    request: Request,
    lon: Annotated[float, Query(description="longitude")],
    lat: Annotated[float, Query(description="latitude")],
    categories: CategoriesParam = None,
    limit: Annotated[int, Query(ge=1, le=care_data.MAX_NEAREST)] = 10,
    crs: CrsParam = None,
    point_crs: Annotated[str | None, Query(
        description="CRS of lon/lat: EPSG:4490 (default; GPS/WGS84 is the same) or gcj02")
    ] = None,
    order: Annotated[str, Query(description="straight (default) or walk: by walking minutes "
                                            "along the roads layer, when there is one")
                     ] = "straight",
) -> Response:
    """Nearest public facilities with geodesic distance in metres (PostGIS geography).

    With a road layer every result also has walk_minutes and walk_m along the roads."""
    chosen = parse_categories(categories)
    with _engine(request).connect() as conn:
        return _json(care_data.nearest(conn, lon, lat, chosen, limit,
                                       care_data.check_crs(crs), point_crs or "EPSG:4490",
                                       order, request.app.state.settings.data.walk_kmh))


@router.get("/map/api/background", summary="Care map: district outline, townships, landmarks")
def care_map_background(request: Request, crs: CrsParam = None) -> Response:
    """The default background drawn from the service's own layers (no tile server)."""
    with _engine(request).connect() as conn:
        return _json(care_data.background(conn, care_data.check_crs(crs)))


