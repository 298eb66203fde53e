"""OGC API – Features routes (public; non-public rows and fields only for staff roles)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Engine

from geo_service.access import ANONYMOUS, Principal
from geo_service.api.deps import get_engine_dep, get_principal
from geo_service.etags import feature_etag
from geo_service.ogc import documents, downloads, features, html, openapi30
from geo_service.ogc.collections import ILLUSTRATIVE_NOTE, get_collection, visible_collections
from geo_service.ogc.crs_negotiation import CRS84, OgcCRS, content_crs_header, parse_ogc_crs
from geo_service.ogc.http import (
    base_url,
    cache_headers,
    not_modified,
    now_stamp,
    single_params,
    url_with,
    wants_html,
)

router = APIRouter(tags=["OGC API – Features"], route_class=html.HtmlErrorRoute)
Caller = Annotated[Principal, Depends(get_principal)]
Db = Annotated[Engine, Depends(get_engine_dep)]
Str = Annotated[str | None, Query()]
GEOJSON = "application/geo+json"


def _json(doc: Any, media_type: str = "application/json", **headers: str) -> Response:
    return Response(json.dumps(doc, ensure_ascii=False), media_type=media_type, headers=headers)


@router.get("/", summary="Landing page: JSON, or HTML for browsers (public)")
def landing_page(request: Request, principal: Caller, f: Str = None) -> Response:
    """Links to the API definition, conformance, collections and tiles; HTML links /map."""
    base = base_url(request)
    doc = documents.landing(base)
    if wants_html(request):
        return HTMLResponse(_page(request, "landing.html", doc=doc, note=ILLUSTRATIVE_NOTE,
                                        collections=visible_collections(principal)))
    return _json(doc)


@router.get("/api", summary="OpenAPI 3.0 description of the service (public)")
def api_definition(request: Request) -> Response:
    """The service's OpenAPI document, in OpenAPI 3.0 form."""
    return _json(openapi30.ogc_openapi(request.app.openapi(), visible_collections(ANONYMOUS)),
                 "application/vnd.oai.openapi+json;version=3.0")


@router.get("/conformance", summary="Conformance classes met (public)")
def conformance(request: Request, f: Str = None) -> Response:
    """The OGC conformance classes this service implements."""
    doc = {"conformsTo": documents.CONFORMANCE}
    if wants_html(request):
        return HTMLResponse(_page(request, "conformance.html", doc=doc))
    return _json(doc)


@router.get("/collections", summary="Collections the caller may see (public)")
def collections(request: Request, principal: Caller, engine: Db, f: Str = None) -> Response:
    """Every visible collection with extents, fields and illustrative counts."""
    base = base_url(request)
    with engine.connect() as conn:
        docs = [documents.collection_doc(base, c, principal,
                                         documents.collection_stats(conn, c, principal))
                for c in visible_collections(principal)]
    doc = documents.collections_doc(base, docs)
    if wants_html(request):
        return HTMLResponse(_page(request, "collections.html", doc=doc, note=ILLUSTRATIVE_NOTE))
    return _json(doc)


@router.get("/collections/{collection_id}", summary="One collection's metadata (public)")
def collection(collection_id: str, request: Request, principal: Caller, engine: Db,
               f: Str = None) -> Response:
    """Title, description, extent, CRSs, fields and links of one collection."""
    found = get_collection(collection_id, principal)
    base = base_url(request)
    with engine.connect() as conn:
        doc = documents.collection_doc(base, found, principal,
                                       documents.collection_stats(conn, found, principal))
        if not wants_html(request):
            return _json(doc)
        query = features.parse_items(found, principal, {"limit": "1000"})
        page = {"type": "FeatureCollection", "features": [
            json.loads(t) for t in features.page_features(conn, query)]}
    return HTMLResponse(_page(request, "collection.html", doc=doc,
                                    features_json=html.script_json(page)))


@router.get("/collections/{collection_id}/queryables",
            summary="JSON Schema of the filterable properties (public)")
def queryables(collection_id: str, request: Request, principal: Caller) -> Response:
    """Properties usable in filter= and prop=value; hidden fields are not listed."""
    found = get_collection(collection_id, principal)
    return _json(documents.queryables_doc(base_url(request), found, principal),
                 "application/schema+json")


@router.get("/collections/{collection_id}/items",
            summary="Features, paged, filtered (bbox, datetime, CQL2, prop=value) (public)")
def items(
    collection_id: str, request: Request, principal: Caller, engine: Db,
    f: Str = None, limit: Str = None, offset: Str = None, bbox: Str = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None,
    datetime: Str = None, properties: Str = None, sortby: Str = None,
    skip_geometry: Annotated[str | None, Query(alias="skipGeometry")] = None,
    filter: Str = None,
    filter_lang: Annotated[str | None, Query(alias="filter-lang")] = None,
    filter_crs: Annotated[str | None, Query(alias="filter-crs")] = None,
    crs: Str = None,
) -> Response:
    """GeoJSON FeatureCollection with numberMatched, numberReturned and next/prev links."""
    found = get_collection(collection_id, principal)
    params = single_params(request)
    as_html = wants_html(request, params)
    query = features.parse_items(found, principal, params)
    url = f"{base_url(request)}/collections/{found.id}/items"
    if not as_html:  # one round trip: counts and the features' text joined by PostGIS
        with engine.connect() as conn:
            state, joined, returned = features.page_json(
                conn.execution_options(isolation_level="AUTOCOMMIT"), query)
        headers = _items_headers(principal, state, query)
        if not_modified(request, state.etag):
            return Response(status_code=304, headers=headers)
        links = _page_links(url, params, query, returned, state.matched)
        body = features.feature_collection_text(joined, returned, state, links, now_stamp())
        return Response(body, media_type=GEOJSON, headers=headers)
    with engine.connect() as conn:
        state = features.page_state(conn, query)
        headers = _items_headers(principal, state, query)
        if not_modified(request, state.etag):
            return Response(status_code=304, headers=headers)
        # The page's map is Leaflet on lon/lat: it always gets CRS84, whatever crs= says.
        rows = features.page_features(conn, replace(query, crs=CRS84))
    links = _page_links(url, params, query, len(rows), state.matched)
    page = [json.loads(r) for r in rows]
    # the page's own paging links stay HTML, so a shared link opens as a page
    link_of = {link["rel"]: _as_html(link["href"]) for link in links}
    return HTMLResponse(_page(
        request, "items.html", collection=found, features=page, matched=state.matched,
        offset=query.offset, columns=query.selected, asked_crs=_asked_crs(query.crs),
        prev=link_of.get("prev"), next=link_of.get("next"),
        features_json=html.script_json({"type": "FeatureCollection", "features": page})),
        headers=headers)


def _items_headers(principal: Principal, state: features.PageState,
                   query: features.ItemsQuery) -> dict[str, str]:
    """ETag, Last-Modified, caching and Content-Crs of an items page."""
    headers = cache_headers(principal, state.etag, state.last_modified)
    headers["Content-Crs"] = content_crs_header(query.crs)
    return headers


def _asked_crs(crs: OgcCRS) -> str | None:
    """The crs asked for, when it is not the CRS84 the page's map uses (for a note)."""
    return None if crs.uri == CRS84.uri else crs.uri


def _page(request: Request, template: str, **context: Any) -> str:
    """An HTML page; its links carry the proxy prefix (root_path) the service runs under."""
    return html.render(template, root=request.scope.get("root_path", ""), **context)


def _as_html(href: str) -> str:
    """The same link asking for the HTML page (f=html)."""
    parts = urlsplit(href)
    query = dict(parse_qsl(parts.query)) | {"f": "html"}
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page_links(url: str, params: dict[str, str], query: features.ItemsQuery, returned: int,
                matched: int | None) -> list[dict[str, str]]:
    json_params = {k: v for k, v in params.items() if k != "f"}
    links = [
        documents.link(url_with(url, json_params), "self", GEOJSON, "本页"),
        documents.link(url_with(url, json_params, f="html"), "alternate", "text/html", "网页"),
        documents.link(url.rsplit("/items", 1)[0], "collection", "application/json", "集合"),
    ]
    more = (query.offset + returned < matched) if matched is not None else (
        returned == query.limit)
    if more and returned:
        links.append(documents.link(
            url_with(url, json_params, offset=query.offset + returned, limit=query.limit),
            "next", GEOJSON, "下一页"))
    if query.offset > 0:
        links.append(documents.link(
            url_with(url, json_params, offset=max(0, query.offset - query.limit),
                     limit=query.limit), "prev", GEOJSON, "上一页"))
    return links


@router.get("/collections/{collection_id}/download",
            summary="Download the collection or a filtered selection (public)")
def download(
    collection_id: str, request: Request, principal: Caller, engine: Db,
    format: Annotated[str, Query(description="geojson, csv, gpkg or xlsx")] = "geojson",
    bbox: Str = None, filter: Str = None, crs: Str = None,
) -> Response:
    """Every matching feature (items' filters, no paging) as a file."""
    found = get_collection(collection_id, principal)
    params = single_params(request)
    params.pop("format", None)
    query = features.parse_items(found, principal, params)
    with engine.connect() as conn:
        body, media, name = downloads.download(conn, query, format)
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "private, no-store" if principal.sees_private else "no-cache",
               "Vary": "Authorization, Cookie"}
    return Response(body, media_type=media, headers=headers)


@router.get("/collections/{collection_id}/items/{feature_id}",
            summary="One feature (public; 404 for a row the caller may not see)")
def item(collection_id: str, feature_id: str, request: Request, principal: Caller,
         engine: Db, f: Str = None, crs: Str = None) -> Response:
    """One GeoJSON Feature with ETag (the feature's version) and Last-Modified."""
    found = get_collection(collection_id, principal)
    params = single_params(request)
    unknown = set(params) - {"f", "crs"}
    if unknown:
        raise features.ParameterError(f"unknown parameter {sorted(unknown)[0]!r}; a feature "
                                      "takes f and crs")
    out_crs = parse_ogc_crs(params.get("crs"), "crs")
    as_html = wants_html(request, params)
    with engine.connect() as conn:
        body, updated = features.fetch_feature(conn, found, principal, feature_id,
                                               CRS84 if as_html else out_crs)
    headers = cache_headers(principal, feature_etag(int(feature_id), updated), updated)
    headers["Content-Crs"] = content_crs_header(out_crs)
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    url = f"{base_url(request)}/collections/{found.id}"
    doc = json.loads(body)
    doc["links"] = [
        documents.link(f"{url}/items/{feature_id}", "self", GEOJSON, "本要素"),
        documents.link(f"{url}/items/{feature_id}?f=html", "alternate", "text/html", "网页"),
        documents.link(url, "collection", "application/json", "集合"),
    ]
    if as_html:
        props = found.properties(principal)
        return HTMLResponse(_page(
            request, "item.html", collection=found, feature=doc, columns=list(props.values()),
            asked_crs=_asked_crs(out_crs), features_json=html.script_json(doc)),
            headers=headers)
    return _json(doc, GEOJSON, **headers)

