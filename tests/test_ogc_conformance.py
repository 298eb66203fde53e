"""OGC API – Features Parts 1–3 requirements, checked as the OGC CITE suite checks them.

Each case names the requirement it checks. Counts are computed here by direct SQL on the
sample, independently of geo_service.ogc.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

import pyogrio
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV30SpecValidator
from sqlalchemy import text

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
OPENAPI30 = "application/vnd.oai.openapi+json;version=3.0"
GEOJSON = "application/geo+json"
ITEMS = "/collections/eldercare_sites/items"
F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"


@pytest.fixture(scope="module")
def client(sample_engine):
    from geo_service.api.app import create_app

    with TestClient(create_app(sample_engine)) as c:
        yield c


def _count(engine, table: str, condition: str = "true") -> int:
    with engine.connect() as conn:
        return conn.execute(text(
            f"SELECT count(*) FROM {table} WHERE is_public AND ({condition})")).scalar_one()


def _rels(doc: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for link in doc["links"]:
        found.setdefault(link["rel"], []).append(link)
    return found


def _typed_links(doc: dict) -> bool:
    return all(link.get("rel") and link.get("type") and link.get("href") for link in doc["links"])


# -- the API definition ------------------------------------------------------------------
def test_openapi_document_is_valid_openapi_30(client):
    """/req/core/api-definition-success, /req/oas30/oas-definition-1: a valid OpenAPI 3.0."""
    response = client.get("/api", headers={"Accept": OPENAPI30})
    assert response.status_code == 200
    assert response.headers["content-type"] == OPENAPI30
    doc = response.json()
    assert doc["openapi"].startswith("3.0.")
    errors = [f"{list(e.absolute_path)[:5]}: {e.message[:160]}"
              for e in OpenAPIV30SpecValidator(doc).iter_errors()]
    assert errors == []
    # /req/oas30/oas-impl: the Part 1 resources are described.
    for path in ("/", "/conformance", "/collections", "/collections/{collectionId}",
                 "/collections/{collectionId}/items",
                 "/collections/{collectionId}/items/{featureId}"):
        assert "get" in doc["paths"][path], path


def _items_parameter(doc: dict, name: str, path: str = "/collections/{collectionId}/items"):
    found = [p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == name]
    assert len(found) == 1, name
    parameter = found[0]
    assert parameter["in"] == "query" and parameter.get("required") is False
    assert parameter["style"] == "form" and parameter["explode"] is False
    return parameter["schema"]


PARAMETER_DEFINITIONS: list[tuple[str, str, Callable[[dict], bool]]] = [
    ("/req/core/fc-limit-definition", "limit", lambda s: s["type"] == "integer"
     and s["minimum"] >= 1 and s["default"] == 100 and s["maximum"] == 10_000),
    ("/req/core/fc-bbox-definition", "bbox", lambda s: s["type"] == "array"
     and s["items"]["type"] == "number"
     and {(o["minItems"], o["maxItems"]) for o in s["oneOf"]} == {(4, 4), (6, 6)}),
    ("/req/core/fc-time-definition", "datetime", lambda s: s["type"] == "string"),
    ("/req/crs/fc-crs-definition", "crs", lambda s: s == {"type": "string", "format": "uri"}),
    ("/req/crs/fc-bbox-crs-definition", "bbox-crs",
     lambda s: s == {"type": "string", "format": "uri"}),
    ("/req/filter/filter-param", "filter", lambda s: s["type"] == "string"),
    ("/req/filter/filter-lang-param", "filter-lang",
     lambda s: {"cql2-text", "cql2-json"} <= set(s["enum"]) and s["default"] == "cql2-text"),
    ("/req/filter/filter-crs-param", "filter-crs",
     lambda s: s == {"type": "string", "format": "uri"}),
]


@pytest.mark.parametrize(("req", "name", "check"), PARAMETER_DEFINITIONS,
                         ids=[c[0] for c in PARAMETER_DEFINITIONS])
def test_items_parameter_definitions(client, req, name, check):
    """The items parameters are defined in /api as the requirement's OpenAPI fragment says."""
    assert check(_items_parameter(client.get("/api").json(), name)), req


def test_feature_crs_parameter_definition(client):
    """/req/crs/fc-crs-definition also for a single feature."""
    doc = client.get("/api").json()
    schema = _items_parameter(doc, "crs", "/collections/{collectionId}/items/{featureId}")
    assert schema == {"type": "string", "format": "uri"}


# -- resource documents ------------------------------------------------------------------
def _landing(doc: dict) -> bool:
    rels = _rels(doc)
    return (rels["service-desc"][0]["type"] == OPENAPI30 and rels["service-desc"][0]["href"]
            .endswith("/api") and rels["service-doc"][0]["type"] == "text/html"
            and rels["conformance"][0]["href"].endswith("/conformance")
            and rels["data"][0]["href"].endswith("/collections") and _typed_links(doc)
            and {link["type"] for link in rels["self"] + rels["alternate"]}
            == {"application/json", "text/html"})


def _conformance(doc: dict) -> bool:
    needed = {F1 + "core", F1 + "geojson", F1 + "html", F1 + "oas30",
              "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
              "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
              "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
              "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
              "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"}
    return needed <= set(doc["conformsTo"])


def _collections(doc: dict) -> bool:
    rels = _rels(doc)
    ok = "self" in rels and "alternate" in rels and _typed_links(doc)
    for coll in doc["collections"]:
        crel = _rels(coll)
        bbox = coll["extent"]["spatial"]["bbox"][0]
        ok = ok and bool(coll["id"]) and _typed_links(coll) and any(
            link["type"] == GEOJSON for link in crel["items"]) and "self" in crel
        ok = ok and -180 <= bbox[0] <= bbox[2] <= 180 and -90 <= bbox[1] <= bbox[3] <= 90
        ok = ok and coll["extent"]["spatial"]["crs"] == CRS84
        ok = ok and coll["storageCrs"] == EPSG.format(4490) and coll["storageCrs"] in coll["crs"]
        ok = ok and CRS84 in coll["crs"] and all(c in doc["crs"] for c in coll["crs"])
    return ok


def _collection(doc: dict) -> bool:
    rels = _rels(doc)
    return (doc["id"] == "eldercare_sites" and doc["itemType"] == "feature"
            and {"self", "alternate", "items"} <= set(rels) and _typed_links(doc)
            and rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"][0]["type"]
            == "application/schema+json")


def _items(doc: dict) -> bool:
    rels = _rels(doc)
    return (doc["type"] == "FeatureCollection" and doc["numberReturned"] == len(doc["features"])
            == 10 and rels["self"][0]["type"] == GEOJSON and rels["alternate"][0]["type"]
            == "text/html" and rels["next"][0]["type"] == GEOJSON
            and "offset=10" in rels["next"][0]["href"] and "limit=10" in rels["next"][0]["href"]
            and _typed_links(doc) and doc["timeStamp"].endswith("Z"))


def _second_page(doc: dict) -> bool:
    rels = _rels(doc)
    return ("offset=0" in rels["prev"][0]["href"] and rels["prev"][0]["type"] == GEOJSON
            and "next" in rels)


def _feature(doc: dict) -> bool:
    rels = _rels(doc)
    return (doc["type"] == "Feature" and doc["id"] == 7 and rels["self"][0]["href"].endswith(
        "/collections/eldercare_sites/items/7") and rels["collection"][0]["href"].endswith(
        "/collections/eldercare_sites") and rels["alternate"][0]["type"] == "text/html"
            and _typed_links(doc))


def _queryables(doc: dict) -> bool:
    return (doc["$schema"] in ("https://json-schema.org/draft/2019-09/schema",
                               "https://json-schema.org/draft/2020-12/schema")
            and doc["$id"].endswith("/collections/eldercare_sites/queryables")
            and doc["type"] == "object" and "beds" in doc["properties"]
            and "contact_person" not in doc["properties"])


# (requirement, path, params, headers, expected media type, check of the JSON body)
DOCUMENTS: list[tuple[str, str, dict, dict, str, Callable[[dict], bool]]] = [
    ("/req/core/root-success", "/", {}, {"Accept": "application/json"}, "application/json",
     _landing),
    ("/req/core/conformance-success", "/conformance", {}, {}, "application/json",
     _conformance),
    ("/req/core/fc-md-success+/req/crs/fc-md-crs-list+/req/crs/fc-md-storageCrs",
     "/collections", {}, {}, "application/json", _collections),
    ("/req/core/sfc-md-success", "/collections/eldercare_sites", {}, {}, "application/json",
     _collection),
    ("/req/core/fc-response+/req/core/fc-links+/req/core/fc-rel-type+/req/core/fc-timeStamp",
     ITEMS, {"limit": "10"}, {"Accept": GEOJSON}, GEOJSON, _items),
    ("/req/core/fc-rel-type (prev)", ITEMS, {"limit": "10", "offset": "10"}, {}, GEOJSON,
     _second_page),
    ("/req/core/f-success+/req/core/f-links", f"{ITEMS}/7", {}, {"Accept": GEOJSON}, GEOJSON,
     _feature),
    ("/req/queryables/get-queryables-response", "/collections/eldercare_sites/queryables", {},
     {}, "application/schema+json", _queryables),
]


@pytest.mark.parametrize(("req", "path", "params", "headers", "media", "check"), DOCUMENTS,
                         ids=[c[0] for c in DOCUMENTS])
def test_documents(client, req, path, params, headers, media, check):
    """Each resource answers 200 with the media type and content the requirement asks for."""
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == media
    assert check(response.json()), req


# (requirement, path, params, headers, status, media type prefix)
STATUS: list[tuple[str, str, dict, dict, int, str]] = [
    ("/req/html/definition (Accept)", ITEMS, {}, {"Accept": "text/html"}, 200, "text/html"),
    ("/req/html/definition (f=html)", "/collections", {"f": "html"}, {}, 200, "text/html"),
    ("/req/geojson/definition (f=json)", ITEMS, {"f": "json"}, {"Accept": "text/html"}, 200,
     GEOJSON),
    ("/req/geojson/definition (no Accept)", f"{ITEMS}/7", {}, {}, 200, GEOJSON),
    ("/req/core/http 404 collection", "/collections/no_such/items", {}, {}, 404, ""),
    ("/req/core/http 404 collection md", "/collections/no_such", {}, {}, 404, ""),
    ("/req/core/http 404 feature", f"{ITEMS}/999999999", {}, {}, 404, ""),
    ("/req/core/http 404 feature id", f"{ITEMS}/abc", {}, {}, 404, ""),
    ("/req/core/query-param-unknown", ITEMS, {"colour": "red"}, {}, 400, ""),
    ("/req/core/query-param-invalid limit=0", ITEMS, {"limit": "0"}, {}, 400, ""),
    ("/req/core/query-param-invalid limit=x", ITEMS, {"limit": "x"}, {}, 400, ""),
    ("/req/core/fc-limit-response (clamped)", ITEMS, {"limit": "100000"}, {}, 200, GEOJSON),
    ("/req/core/query-param-invalid bbox 3 values", ITEMS, {"bbox": "1,2,3"}, {}, 400, ""),
    ("/req/core/query-param-invalid bbox text", ITEMS, {"bbox": "a,b,c,d"}, {}, 400, ""),
    ("/req/core/fc-bbox-response polar box", ITEMS, {"bbox": "-180,85,180,90"}, {}, 200,
     GEOJSON),
    ("/req/core/query-param-invalid datetime", ITEMS, {"datetime": "yesterday"}, {}, 400, ""),
    ("/req/core/query-param-invalid datetime end<start", ITEMS,
     {"datetime": "2030-01-01T00:00:00Z/2020-01-01T00:00:00Z"}, {}, 400, ""),
    ("/req/core/query-param-invalid f", ITEMS, {"f": "xml"}, {}, 400, ""),
    ("/req/crs/fc-crs-valid-value", ITEMS, {"crs": EPSG.format(32648)}, {}, 400, ""),
    ("/req/crs/fc-crs-valid-value (feature)", f"{ITEMS}/7", {"crs": "EPSG:2000"}, {}, 400, ""),
    ("/req/crs/fc-bbox-crs-valid-value", ITEMS, {"bbox": "1,2,3,4", "bbox-crs": "EPSG:1"}, {},
     400, ""),
    ("/req/crs/fc-bbox-crs-valid-value (no bbox)", ITEMS, {"bbox-crs": "EPSG:1"}, {}, 400, ""),
    ("/req/filter/filter-crs-param (no filter)", ITEMS, {"filter-crs": "EPSG:1"}, {}, 400, ""),
    ("/req/filter/filter-lang-param", ITEMS, {"filter": "beds > 1", "filter-lang": "ecql"}, {},
     400, ""),
    ("/req/filter/filter-lang-param (no filter)", ITEMS, {"filter-lang": "ecql"}, {}, 400, ""),
    ("/req/filter/response syntax", ITEMS, {"filter": "beds >"}, {}, 400, ""),
    ("/req/filter/response unknown property", ITEMS, {"filter": "colour = 'red'"}, {}, 400,
     ""),
    ("/req/filter/response hidden property", ITEMS, {"filter": "contact_person = 'x'"}, {},
     400, ""),
    ("/req/filter/response type", ITEMS, {"filter": "beds = 'many'"}, {}, 400, ""),
    ("/req/filter/response json", ITEMS, {"filter": "{", "filter-lang": "cql2-json"}, {}, 400,
     ""),
    ("/req/queryables/get-queryables-op 404", "/collections/no_such/queryables", {}, {}, 404,
     ""),
]


@pytest.mark.parametrize(("req", "path", "params", "headers", "status", "media"), STATUS,
                         ids=[c[0] for c in STATUS])
def test_status_and_negotiation(client, req, path, params, headers, status, media):
    """Status codes and media types (400s and 404s carry a reason)."""
    response = client.get(path, params=params, headers=headers)
    assert response.status_code == status, (req, response.text[:300])
    assert response.headers["content-type"].startswith(media or "application/json")
    if status >= 400:
        assert response.json()["detail"]


def test_limit_is_clamped_to_the_documented_maximum(client, sample_engine):
    """/req/core/fc-limit-response: a limit over the maximum is not an error; at most max."""
    doc = client.get("/collections/villages/items", params={"limit": "100000"}).json()
    assert doc["numberReturned"] == _count(sample_engine, "admin_areas", "level = 'village'")


# -- spatial and temporal selection, CRS ---------------------------------------------------
BOX = (105.6, 29.6, 105.85, 29.8)
IN_BOX = "ST_Intersects(geom, ST_MakeEnvelope(105.6, 29.6, 105.85, 29.8, 4490))"
# (requirement, items params, SQL condition on eldercare_sites giving the expected count)
SELECTIONS: list[tuple[str, dict[str, str], str]] = [
    ("/req/core/fc-bbox-response CRS84", {"bbox": "105.6,29.6,105.85,29.8"}, IN_BOX),
    ("/req/crs/fc-bbox-crs-action CRS84", {"bbox": "105.6,29.6,105.85,29.8", "bbox-crs": CRS84},
     IN_BOX),
    ("/req/crs/fc-bbox-crs-action EPSG:4490 lat,lon",
     {"bbox": "29.6,105.6,29.8,105.85", "bbox-crs": EPSG.format(4490)}, IN_BOX),
    ("/req/crs/fc-bbox-crs-action EPSG:4326 lat,lon",
     {"bbox": "29.6,105.6,29.8,105.85", "bbox-crs": EPSG.format(4326)}, IN_BOX),
    ("/req/core/fc-bbox-response 6 values", {"bbox": "105.6,29.6,0,105.85,29.8,100"}, IN_BOX),
    ("/req/core/fc-time-response instant-day", {"datetime": "2000-01-01"},
     "updated_at >= '2000-01-01T00:00:00+08' AND updated_at < '2000-01-02T00:00:00+08'"),
    ("/req/core/fc-time-response open start", {"datetime": "../2000-01-01T00:00:00Z"},
     "updated_at < '2000-01-01T00:00:00Z'::timestamptz + interval '1 microsecond'"),
    ("/req/core/fc-time-response open end", {"datetime": "2000-01-01T00:00:00Z/.."},
     "updated_at >= '2000-01-01T00:00:00Z'"),
    ("/req/filter/mixing-expressions", {"bbox": "105.6,29.6,105.85,29.8", "filter": "beds > 20"},
     f"{IN_BOX} AND beds > 20"),
    ("/req/queryables-query-parameters/parameters", {"kind": "老年食堂"}, "kind = '老年食堂'"),
]


@pytest.mark.parametrize(("req", "params", "condition"), SELECTIONS,
                         ids=[c[0] for c in SELECTIONS])
def test_selection_counts(client, sample_engine, req, params, condition):
    """numberMatched (/req/core/fc-numberMatched) equals an independent SQL count."""
    doc = client.get(ITEMS, params={**params, "limit": "1"}).json()
    assert doc["numberMatched"] == _count(sample_engine, "eldercare_sites", condition), req


def test_content_crs_and_output_axis_order(client, sample_engine):
    """/req/crs/ogc-crs-header(-value), /req/crs/fc-crs-action: header and axis order."""
    with sample_engine.connect() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_X(geom), ST_Y(geom) FROM eldercare_sites WHERE id = 7")).one()
    for crs, expected in ((None, [lon, lat]), (CRS84, [lon, lat]),
                          (EPSG.format(4490), [lat, lon]), (EPSG.format(4326), [lat, lon])):
        params = {"crs": crs} if crs else {}
        for path, extra in ((f"{ITEMS}/7", {}), (ITEMS, {"limit": "1"})):
            response = client.get(path, params={**params, **extra})
            assert response.headers["content-crs"] == f"<{crs or CRS84}>"
        coords = client.get(f"{ITEMS}/7", params=params).json()
        assert coords["geometry"]["coordinates"] == pytest.approx(expected, abs=1e-9)


# -- CQL2 ----------------------------------------------------------------------------------
# (requirement, filter, filter-lang, SQL condition on eldercare_sites)
CQL2: list[tuple[str, str, str, str]] = [
    ("/req/basic-cql2/binary-comparison-predicate", "beds >= 50 AND kind <> '老年食堂'",
     "cql2-text", "beds >= 50 AND kind <> '老年食堂'"),
    ("/req/cql2-text/character-literal ('' escape)", "name = 'O''Brien' OR name <> 'x''y'",
     "cql2-text", "name <> 'x''y'"),
    ("/req/advanced-comparison-operators/like-predicate", "name LIKE '%养老%'", "cql2-text",
     "name LIKE '%养老%'"),
    ("/req/advanced-comparison-operators/in-predicate", "kind IN ('老年食堂', '养老机构')",
     "cql2-text", "kind IN ('老年食堂', '养老机构')"),
    ("/req/case-insensitive-comparison/casei-function", "CASEI(name) LIKE CASEI('%养老%')",
     "cql2-text", "lower(name) LIKE '%养老%'"),
    ("/req/basic-spatial-functions/spatial-predicates BBOX literal",
     "S_INTERSECTS(geometry, BBOX(105.6, 29.6, 105.85, 29.8))", "cql2-text", IN_BOX),
    ("/req/basic-spatial-functions/spatial-predicates bbox JSON",
     json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(BOX)}]}),
     "cql2-json", IN_BOX),
    ("/req/basic-spatial-functions/spatial-predicates polygon",
     "S_INTERSECTS(geometry, POLYGON((105.6 29.6, 105.85 29.6, 105.85 29.8, 105.6 29.8, "
     "105.6 29.6)))", "cql2-text", IN_BOX),
    ("/req/temporal T_AFTER function form",
     "T_AFTER(updated_at, TIMESTAMP('2000-01-01T00:00:00Z'))", "cql2-text",
     "updated_at > '2000-01-01T00:00:00Z'"),
    ("/req/temporal T_BEFORE function form",
     "T_BEFORE(updated_at, TIMESTAMP('2100-01-01T00:00:00Z'))", "cql2-text",
     "updated_at < '2100-01-01T00:00:00Z'"),
    ("/req/temporal T_DURING open interval",
     "T_DURING(updated_at, INTERVAL('2000-01-01', '..'))", "cql2-text",
     "updated_at >= '2000-01-01T00:00:00+08'"),
    ("/req/array-functions/array-predicates text",
     "A_CONTAINS(services, ('助餐', '助浴'))", "cql2-text", "services @> ARRAY['助餐', '助浴']"),
    ("/req/array-functions/array-predicates json",
     json.dumps({"op": "a_overlaps", "args": [{"property": "services"}, ["助餐", "助浴"]]},
                ensure_ascii=False), "cql2-json", "services && ARRAY['助餐', '助浴']"),
    # NOT before any condition (CQL2 BNF: booleanFactor = ["NOT"] booleanPrimary)
    ("/req/basic-cql2/not NOT (a OR b)", "NOT (beds > 100 OR kind = '老年食堂')", "cql2-text",
     "NOT (beds > 100 OR kind = '老年食堂')"),
    ("/req/basic-cql2/not nested NOT", "NOT (NOT (beds > 100))", "cql2-text",
     "NOT (NOT (beds > 100))"),
    ("/req/basic-cql2/not NOT NOT", "NOT NOT beds > 100", "cql2-text", "beds > 100"),
    ("/req/basic-cql2/not NOT ((a))", "NOT ((kind = '老年食堂'))", "cql2-text",
     "kind <> '老年食堂'"),
    ("/req/basic-cql2/not NOT (a) AND b", "NOT (beds < 50) AND (kind = '养老机构')", "cql2-text",
     "NOT (beds < 50) AND kind = '养老机构'"),
    ("/req/basic-cql2/not json nested",
     json.dumps({"op": "not", "args": [{"op": "not", "args": [
         {"op": ">", "args": [{"property": "beds"}, 100]}]}]}), "cql2-json",
     "NOT (NOT (beds > 100))"),
    ("/req/basic-cql2/not json a OR b",
     json.dumps({"op": "not", "args": [{"op": "or", "args": [
         {"op": ">", "args": [{"property": "beds"}, 100]},
         {"op": "=", "args": [{"property": "kind"}, "老年食堂"]}]}]}, ensure_ascii=False),
     "cql2-json", "NOT (beds > 100 OR kind = '老年食堂')"),
    ("/req/basic-cql2/is-null", "star_rating IS NULL AND NOT (beds IS NULL)", "cql2-text",
     "star_rating IS NULL AND beds IS NOT NULL"),
    ("/req/basic-cql2/is-null json",
     json.dumps({"op": "isNull", "args": [{"property": "star_rating"}]}), "cql2-json",
     "star_rating IS NULL"),
    ("/req/basic-cql2/boolean-literal json", json.dumps(
        {"op": "and", "args": [True, {"op": ">=", "args": [{"property": "beds"}, 100]}]}),
     "cql2-json", "beds >= 100"),
    # advanced comparison operators
    ("/req/advanced-comparison-operators/between json (standard 3 args)",
     json.dumps({"op": "between", "args": [{"property": "beds"}, 10, 20]}), "cql2-json",
     "beds BETWEEN 10 AND 20"),
    ("/req/advanced-comparison-operators/between json (draft [low, high])",
     json.dumps({"op": "between", "args": [{"property": "beds"}, [100, 150]]}), "cql2-json",
     "beds BETWEEN 100 AND 150"),
    ("/req/advanced-comparison-operators/not between",
     "beds NOT BETWEEN 1 AND 100", "cql2-text", "beds NOT BETWEEN 1 AND 100"),
    ("/req/advanced-comparison-operators/not like", "name NOT LIKE '%养老%'", "cql2-text",
     "name NOT LIKE '%养老%'"),
    ("/req/advanced-comparison-operators/like json casei", json.dumps(
        {"op": "like", "args": [{"op": "casei", "args": [{"property": "name"}]},
                                {"op": "casei", "args": ["%敬老院%"]}]}, ensure_ascii=False),
     "cql2-json", "lower(name) LIKE '%敬老院%'"),
    ("/req/advanced-comparison-operators/not in",
     "kind NOT IN ('村级互助养老点', '社区养老服务站')", "cql2-text",
     "kind NOT IN ('村级互助养老点', '社区养老服务站')"),
    ("/req/advanced-comparison-operators/in json", json.dumps(
        {"op": "in", "args": [{"property": "kind"}, ["老年食堂", "养老机构"]]},
        ensure_ascii=False), "cql2-json", "kind IN ('老年食堂', '养老机构')"),
    # arithmetic and property-property
    ("/req/arithmetic + - (property-property)", "beds - nursing_beds + 1 > 10", "cql2-text",
     "beds - nursing_beds + 1 > 10"),
    ("/req/arithmetic * /", "beds * 2 / 4 >= 50", "cql2-text", "beds * 2 / 4.0 >= 50"),
    ("/req/arithmetic % div ^", "beds % 2 = 1 AND beds div 10 >= 5 AND beds ^ 2 > 2500",
     "cql2-text", "beds % 2 = 1 AND beds / 10 >= 5 AND beds ^ 2 > 2500"),
    ("/req/arithmetic json", json.dumps({"op": ">", "args": [
        {"op": "*", "args": [{"property": "beds"}, 2]}, 300]}), "cql2-json", "beds * 2 > 300"),
    ("/req/property-property", "nursing_beds < beds", "cql2-text", "nursing_beds < beds"),
    # spatial and temporal
    ("/req/spatial-functions S_WITHIN polygon",
     "S_WITHIN(geometry, POLYGON((105.6 29.6, 105.85 29.6, 105.85 29.8, 105.6 29.8, "
     "105.6 29.6)))", "cql2-text", "ST_Within(geom, ST_MakeEnvelope(105.6, 29.6, 105.85, "
     "29.8, 4490))"),
    ("/req/spatial-functions NOT S_INTERSECTS bbox", "NOT S_INTERSECTS(geometry, BBOX(105.6, "
     "29.6, 105.85, 29.8))", "cql2-text", f"NOT {IN_BOX}"),
    ("/req/spatial-functions S_DISJOINT json", json.dumps({"op": "s_disjoint", "args": [
        {"property": "geometry"}, {"bbox": list(BOX)}]}), "cql2-json", f"NOT {IN_BOX}"),
    ("/req/temporal T_INTERSECTS interval",
     "T_INTERSECTS(updated_at, INTERVAL('2000-01-01T00:00:00Z', '2100-01-01T00:00:00Z'))",
     "cql2-text", "updated_at >= '2000-01-01T00:00:00Z' AND updated_at < '2100-01-01'"),
    ("/req/temporal T_AFTER json timestamp", json.dumps({"op": "t_after", "args": [
        {"property": "updated_at"}, {"timestamp": "2000-01-01T00:00:00Z"}]}), "cql2-json",
     "updated_at > '2000-01-01T00:00:00Z'"),
    ("/req/temporal T_DURING json interval", json.dumps({"op": "t_during", "args": [
        {"property": "updated_at"}, {"interval": ["2000-01-01", ".."]}]}), "cql2-json",
     "updated_at >= '2000-01-01T00:00:00+08'"),
    ("/req/array-functions A_CONTAINEDBY", "A_CONTAINEDBY(services, ('助餐', '助浴', '日间照料'))",
     "cql2-text", "services <@ ARRAY['助餐', '助浴', '日间照料']"),
    ("/req/basic-cql2/boolean literal as a condition", "TRUE AND (FALSE OR beds > 100)",
     "cql2-text", "beds > 100"),
    ("/req/arithmetic unary minus", "-beds < -100", "cql2-text", "beds > 100"),
    ("/req/cql2-json boolean literal", "true", "cql2-json", "true"),
    ("GDAL's filter-lang=cql-text with ILIKE", "(name ILIKE '%敬老院%') AND (beds >= 100)",
     "cql-text", "name ILIKE '%敬老院%' AND beds >= 100"),
    ("/req/basic-cql2 1000-term AND (within the limits)",
     " AND ".join(f"beds <> {-n}" for n in range(1, 1001)), "cql2-text", "beds IS NOT NULL"),
]


@pytest.mark.parametrize(("req", "expression", "lang", "condition"), CQL2,
                         ids=[c[0] for c in CQL2])
def test_cql2_filters(client, sample_engine, req, expression, lang, condition):
    """The filter selects what the equivalent SQL selects (/req/filter/filter-param)."""
    expected = _count(sample_engine, "eldercare_sites", condition)
    response = client.get(ITEMS, params={"filter": expression, "filter-lang": lang,
                                         "limit": "1"})
    assert response.status_code == 200, (req, response.text)
    assert response.json()["numberMatched"] == expected, req
    assert expected > 0, f"{req}: the sample should make this case discriminating"


def test_cql2_filter_crs_lat_first(client, sample_engine):
    """/req/filter/filter-crs-param: geometries in filter-crs EPSG:4490 are lat, lon."""
    doc = client.get(ITEMS, params={
        "filter": "S_INTERSECTS(geometry, BBOX(29.6, 105.6, 29.8, 105.85))",
        "filter-crs": EPSG.format(4490), "limit": "1"}).json()
    assert doc["numberMatched"] == _count(sample_engine, "eldercare_sites", IN_BOX)


# -- a real client: GDAL 3.6's ogr2ogr ---------------------------------------------------
def test_ogr2ogr_copies_every_public_collection(live_server, sample_engine, tmp_path):
    """Debian's ogr2ogr (GDAL OAPIF driver) copies each collection with the public counts."""
    out = tmp_path / "copy.gpkg"
    # one keep-alive connection lands on one worker, whose share of the anonymous rate limit
    # a fast copy of every collection can pass: GDAL then waits out the 429 and retries
    retry = {"GDAL_HTTP_MAX_RETRY": "5", "GDAL_HTTP_RETRY_DELAY": "1"}
    run = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{live_server}/"],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, **retry})
    assert run.returncode == 0, run.stderr[-2000:]
    got = {name: pyogrio.read_info(out, layer=name)["features"]
           for name, _ in pyogrio.list_layers(out)}
    expected = {
        "eldercare_sites": _count(sample_engine, "eldercare_sites"),
        "funeral_sites": _count(sample_engine, "funeral_sites"),
        "child_sites": _count(sample_engine, "child_sites"),
        "admin_areas": _count(sample_engine, "admin_areas"),
        "place_names": _count(sample_engine, "place_names"),
        "elderly_canteens": _count(sample_engine, "eldercare_sites", "kind = '老年食堂'"),
        "eldercare_institutions": _count(sample_engine, "eldercare_sites", "kind = '养老机构'"),
        "nursing_homes": _count(sample_engine, "eldercare_sites",
                                "kind = '特困人员供养服务机构(敬老院)'"),
        "township_eldercare_centres": _count(sample_engine, "eldercare_sites",
                                             "kind = '镇街养老服务中心'"),
        "community_eldercare_stations": _count(sample_engine, "eldercare_sites",
                                               "kind = '社区养老服务站'"),
        "village_mutual_aid_points": _count(sample_engine, "eldercare_sites",
                                            "kind = '村级互助养老点'"),
        "children_homes": _count(sample_engine, "child_sites", "kind = '儿童之家'"),
        "townships": _count(sample_engine, "admin_areas", "level = 'township'"),
        "villages": _count(sample_engine, "admin_areas", "level = 'village'"),
        "historic_place_names": _count(sample_engine, "place_names",
                                       "historic_list IS NOT NULL"),
    }
    assert got == expected

