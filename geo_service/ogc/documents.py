"""Landing page, conformance, collection and queryables documents (JSON dicts)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, select

from geo_service.access import Principal
from geo_service.ogc.collections import ILLUSTRATIVE_NOTE, SCHEMA_TYPES, Collection
from geo_service.ogc.crs_negotiation import CRS84_URI, offered_uris, storage_crs_uri

GEOJSON = "application/geo+json"
JSON_TYPE = "application/json"
HTML = "text/html"
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"

_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_F2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/"
_F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_CQL = "http://www.opengis.net/spec/cql2/1.0/conf/"
_TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"
_COMMON = "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/"
CONFORMANCE = [
    _COMMON + "core", _COMMON + "landing-page", _COMMON + "json", _COMMON + "html",
    _COMMON + "oas30", "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    _F1 + "core", _F1 + "geojson", _F1 + "html", _F1 + "oas30",
    _F2 + "crs",
    _F3 + "filter", _F3 + "features-filter", _F3 + "queryables",
    _F3 + "queryables-query-parameters",
    _CQL + "cql2-text", _CQL + "cql2-json", _CQL + "basic-cql2",
    _CQL + "advanced-comparison-operators", _CQL + "case-insensitive-comparison",
    _CQL + "basic-spatial-functions", _CQL + "basic-spatial-functions-plus",
    _CQL + "spatial-functions", _CQL + "arithmetic", _CQL + "array-functions",
    _CQL + "property-property",
    _TILES + "core", _TILES + "tileset", _TILES + "tilesets-list", _TILES + "geodata-tilesets",
    _TILES + "dataset-tilesets", _TILES + "mvt",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
]


def link(href: str, rel: str, type_: str, title: str) -> dict[str, str]:
    """One link object."""
    return {"href": href, "rel": rel, "type": type_, "title": title}


def landing(base: str) -> dict[str, Any]:
    """The landing page (/)."""
    return {
        "title": "大足区民政地理信息服务 OGC API",
        "description": ("重庆市大足区民政局的养老、殡葬、儿童服务设施、行政区划和地名图层,"
                        "按 OGC API – Features 和 OGC API – Tiles 标准提供。" + ILLUSTRATIVE_NOTE),
        "links": [
            link(f"{base}/", "self", JSON_TYPE, "本页(JSON)"),
            link(f"{base}/?f=html", "alternate", HTML, "本页(网页)"),
            link(f"{base}/api", "service-desc", OPENAPI_TYPE, "OpenAPI 3.0 接口定义"),
            link(f"{base}/docs", "service-doc", HTML, "接口文档"),
            link(f"{base}/conformance", "conformance", JSON_TYPE, "符合的标准类"),
            link(f"{base}/collections", "data", JSON_TYPE, "数据集合"),
            link(f"{base}/tileMatrixSets", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes",
                 JSON_TYPE, "瓦片矩阵集"),
            link(f"{base}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                 JSON_TYPE, "关爱地图矢量瓦片集"),
            link(f"{base}/map", "related", HTML, "关爱地图"),
        ],
    }


@dataclass(frozen=True)
class Stats:
    """Data-derived facts about a collection as the caller sees it."""

    bbox: list[float] | None
    first: str | None
    last: str | None
    count: int
    illustrative: int


def collection_stats(conn: Connection, collection: Collection, principal: Principal) -> Stats:
    """Extent, time span, row count and illustrative rows (one query)."""
    table = collection.table
    geom = collection.geometry
    extent = func.ST_Extent(geom)
    illustrative = table.c.geometry_accuracy == "illustrative"
    if "figures_source" in table.c:
        illustrative = illustrative | (table.c.figures_source == "illustrative")
    row = conn.execute(
        select(func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent),
               func.ST_YMax(extent), func.min(table.c.updated_at), func.max(table.c.updated_at),
               func.count(), func.count().filter(illustrative))
        .select_from(table).where(and_(*collection.where(principal)))).one()
    bbox = [round(float(v), 7) for v in row[:4]] if row[0] is not None else None
    return Stats(bbox, row[4].isoformat() if row[4] else None,
                 row[5].isoformat() if row[5] else None, row[6], row[7])


def collection_doc(base: str, collection: Collection, principal: Principal,
                   stats: Stats) -> dict[str, Any]:
    """One collection's metadata document."""
    cid = collection.id
    url = f"{base}/collections/{cid}"
    props = collection.properties(principal)
    doc: dict[str, Any] = {
        "id": cid,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "layer": collection.layer.id,
        "crs": offered_uris(),
        "storageCrs": storage_crs_uri(),
        "extent": {
            "spatial": {"bbox": [stats.bbox] if stats.bbox else [], "crs": CRS84_URI},
            "temporal": {"interval": [[stats.first, stats.last]],
                         "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"},
        },
        "numberOfFeatures": stats.count,
        "illustrative": {
            "features": stats.illustrative,
            "note": ILLUSTRATIVE_NOTE if stats.illustrative else None,
        },
        "fields": [{"name": p.name, "title": p.title, "type": p.type} for p in props.values()],
        "links": [
            link(url, "self", JSON_TYPE, "本集合(JSON)"),
            link(f"{url}?f=html", "alternate", HTML, "本集合(网页)"),
            link(f"{url}/items", "items", GEOJSON, "要素(GeoJSON)"),
            link(f"{url}/items?f=html", "items", HTML, "要素(网页)"),
            link(f"{url}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                 "application/schema+json", "可查询属性"),
            link(f"{url}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
                 JSON_TYPE, "矢量瓦片集"),
            *(link(f"{url}/download?format={fmt}", "enclosure", mime, f"下载({label})")
              for fmt, mime, label in DOWNLOAD_LINKS),
        ],
    }
    return doc


DOWNLOAD_LINKS = (
    ("geojson", GEOJSON, "GeoJSON"),
    ("csv", "text/csv", "CSV,Excel 可直接打开"),
    ("gpkg", "application/geopackage+sqlite3", "GeoPackage"),
    ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel"),
)


def collections_doc(base: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The /collections document."""
    return {
        "links": [link(f"{base}/collections", "self", JSON_TYPE, "数据集合(JSON)"),
                  link(f"{base}/collections?f=html", "alternate", HTML, "数据集合(网页)")],
        "crs": offered_uris(),
        "collections": docs,
    }


def queryables_doc(base: str, collection: Collection, principal: Principal) -> dict[str, Any]:
    """JSON Schema of the properties the caller may filter on."""
    geometry_type = collection.layer.geometry
    geometry_schema = ({"format": "geometry-any"} if geometry_type == "Geometry"
                       else {"format": f"geometry-{geometry_type.lower()}"})
    properties: dict[str, Any] = {"geometry": {"title": "几何", **geometry_schema}}
    for prop in collection.properties(principal).values():
        schema: dict[str, Any] = {"title": prop.title, **SCHEMA_TYPES[prop.type]}
        spec = collection.layer.field(prop.name)
        if spec is not None and spec.choices:
            schema["enum"] = list(spec.choices)
        if prop.name == "kind":
            schema["enum"] = list(collection.layer.kinds)
        if spec is not None and spec.min is not None:
            schema["minimum"] = spec.min
        if spec is not None and spec.max is not None:
            schema["maximum"] = spec.max
        properties[prop.name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{collection.id}/queryables",
        "type": "object",
        "title": collection.title,
        "properties": properties,
        "additionalProperties": False,
    }
