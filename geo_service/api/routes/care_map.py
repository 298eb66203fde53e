"""The public care map (关爱地图): its page at /map, vendored Leaflet at /vendor/..., and the
compact JSON it reads. Every data endpoint reads as ANONYMOUS, whoever is logged in."""

from __future__ import annotations

import hashlib
import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from geo_service.errors import NotFoundError
from geo_service.maps import care_data
from geo_service.maps.basemap import basemap_config
from geo_service.maps.care_list import render_list
from geo_service.maps.categories import CATEGORIES, parse_categories
from geo_service.maps.vendor import (
    licence_line,
    package_file,
    package_meta,
    served_file,
)
from geo_service.ogc.http import not_modified
from geo_service.resources import package_path

router = APIRouter(tags=["care map"])
GAZETTEER_SEARCH = "/places/search"
_NO_CACHE = {"Cache-Control": "no-cache"}
_VENDOR_CACHE = {"Cache-Control": "public, max-age=86400"}
# versioned URLs (/vendor/leaflet@1.9.4/..., care-map.js?v=<hash>) never change: a year
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
# facilities and background: a phone keeps them a minute, then asks again with If-None-Match
_DATA_CACHE = "public, max-age=60, must-revalidate"
# JSON bodies by (what, parameters, data fingerprint): rebuilt whenever any row changes
_BODY_CACHE: dict[tuple, tuple[str, str]] = {}
_PAGE_ASSETS = ("care-map.js", "care-map.css", "elder-early.js")

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


def _cached_json(request: Request, key: tuple, build: Any) -> Response:
    """A data body built once per key (fingerprinted), with an ETag and 304 on a match."""
    found = _BODY_CACHE.get(key)
    if found is None:
        body = json.dumps(build(), ensure_ascii=False, separators=(",", ":"), default=str)
        # weak: the same data whether or not it is sent gzip-compressed
        found = (body, 'W/"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"')
        if len(_BODY_CACHE) >= 32:
            _BODY_CACHE.clear()
        _BODY_CACHE[key] = found
    body, etag = found
    headers = {"ETag": etag, "Cache-Control": _DATA_CACHE}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _asset_version(name: str) -> str:
    """A short hash of one of the page's own files (changes whenever the file does)."""
    path = package_path("web_map", "static") / name
    stat = path.stat()
    key = ("asset", name, stat.st_mtime_ns, stat.st_size)
    if key not in _BODY_CACHE:
        _BODY_CACHE[key] = (hashlib.sha256(path.read_bytes()).hexdigest()[:12], "")
    return _BODY_CACHE[key][0]


# small style sheets go inside the page: on a 150 ms phone network every extra request over
# six costs a round trip (Chrome opens at most six connections to a host)
_INLINED_CSS = (("vendor/leaflet.markercluster/dist/MarkerCluster.css", "leaflet.markercluster",
                 "dist/MarkerCluster.css"),)


def _inline_styles(page: str) -> str:
    """Replace the small style sheets' <link> tags by their text."""
    for href, package, path in _INLINED_CSS:
        css = package_file(package, path).read_text(encoding="utf-8").replace("</", "<\\/")
        page = page.replace(f'<link rel="stylesheet" href="{href}">',
                            f"<style>/* {licence_line(package)} */\n{css}</style>")
    own = (package_path("web_map", "static") / "care-map.css").read_text(encoding="utf-8")
    return page.replace('<link rel="stylesheet" href="map/static/care-map.css">',
                        "<style>" + own.replace("</", "<\\/") + "</style>")


def versioned_page(page: str) -> str:
    """The page with small CSS inlined and versioned asset URLs (vendor@version, ?v=hash)."""
    page = _inline_styles(page)
    for package in ("leaflet.markercluster", "leaflet"):
        version = package_meta(package).get("version", "0")
        page = page.replace(f'"vendor/{package}/', f'"vendor/{package}@{version}/')
    for name in _PAGE_ASSETS:
        page = page.replace(f'"map/static/{name}"', f'"map/static/{name}?v={_asset_version(name)}"')
    return page


@router.get("/map", include_in_schema=False)
def care_map_page(request: Request) -> Response:
    """The care map page (Chinese UI, works offline), with its config embedded."""
    page = versioned_page(package_path("web_map", "index.html").read_text(encoding="utf-8"))
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
def care_map_static(path: str, v: str | None = None) -> FileResponse:
    """The page's own CSS, JS and icons (web_map/static/); cached for a year when versioned."""
    target = _file_under(package_path("web_map", "static"), path)
    current = v is not None and target.name in _PAGE_ASSETS and v == _asset_version(target.name)
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers=_IMMUTABLE if current else _NO_CACHE)


@router.get("/vendor/{package}/{path:path}", include_in_schema=False)
def vendor_file(package: str, path: str) -> FileResponse:
    """Vendored front-end files (Leaflet, markercluster); `package@version` is cached a year."""
    name, _, version = package.partition("@")
    target = served_file(name, path)
    if version and version != package_meta(name).get("version"):
        raise NotFoundError(f"package {name!r} is version {package_meta(name).get('version')}, "
                            f"not {version}")
    return FileResponse(target, media_type=mimetypes.guess_type(target.name)[0],
                        headers=_IMMUTABLE if version else _VENDOR_CACHE)


@router.get("/map/list", include_in_schema=False)
def care_map_text_list(request: Request, category: str | None = None) -> Response:
    """Every public facility of a category by township, as text (no map needed)."""
    cat = parse_categories(category or CATEGORIES[0].id)[0]
    css = f"static/care-map.css?v={_asset_version('care-map.css')}"
    with _engine(request).connect() as conn:
        page = render_list(conn, cat, css)
    return Response(page, media_type="text/html; charset=utf-8", headers=_NO_CACHE)


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
        key = ("facilities", tuple(c.id for c in chosen), out_crs, care_data.fingerprint(conn))
        return _cached_json(request, key, lambda: care_data.facilities(conn, chosen, out_crs))


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


@router.get("/map/api/background",
            summary="Care map: district, townships, villages/communities, landmarks")
def care_map_background(
    request: Request, crs: CrsParam = None,
    detail: Annotated[str, Query(description="main: district, townships, landmarks; "
                                             "villages: villages/communities")] = "main",
) -> Response:
    """The default background drawn from the service's own layers (no tile server)."""
    out_crs = care_data.check_crs(crs)
    with _engine(request).connect() as conn:
        key = ("background", detail, out_crs, care_data.background_fingerprint(conn))
        return _cached_json(request, key, lambda: care_data.background(
            conn, out_crs, detail, request.app.state.settings.data.district_code))


