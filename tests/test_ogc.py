"""OGC API – Features/Tiles: CRS axis order, CQL2, conditional requests, downloads, tiles,
HTML and the non-public rules, against the sample in PostGIS."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from dataclasses import replace
from urllib.parse import parse_qsl, quote, urlsplit

import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, text

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.catalog import Catalogue, catalogue
from geo_service.crs import parse_crs, transformer
from geo_service.etags import feature_etag
from geo_service.ogc import cql2, features
from geo_service.ogc.collections import get_collection, visible_collections

PLANNER = Principal("planner1", Role.planner)
EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"


@pytest.fixture(scope="module")
def client(sample_engine):
    from geo_service.api.app import create_app

    with TestClient(create_app(sample_engine)) as c:
        yield c


def _scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def _rows(engine, sql: str) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def _ids(engine, sql: str) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text(sql)).scalars())


@pytest.fixture(scope="module")
def hidden_child(sample_engine) -> int:
    return _scalar(sample_engine, "SELECT min(id) FROM child_sites WHERE NOT is_public")


# -- CRS -----------------------------------------------------------------------------------
def test_axis_order_of_each_output_crs(client, sample_engine):
    fid, lon, lat = (_scalar(sample_engine, f"SELECT {c} FROM eldercare_sites WHERE id = 7")
                     for c in ("id", "ST_X(geom)", "ST_Y(geom)"))
    url = f"/collections/eldercare_sites/items/{fid}"
    crs84 = client.get(url).json()["geometry"]["coordinates"]
    assert crs84 == pytest.approx([lon, lat], abs=1e-9)
    for code in (4490, 4326):
        got = client.get(url, params={"crs": EPSG.format(code)})
        assert got.headers["content-crs"] == f"<{EPSG.format(code)}>"
        assert got.json()["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-9)
    # Independent of PostGIS: pyproj through geo_service.crs.
    east, north = transformer(4490, 4544).transform(lon, lat)
    gk = client.get(url, params={"crs": "EPSG:4544"}).json()["geometry"]["coordinates"]
    assert gk == pytest.approx([north, east], abs=0.01)  # EPSG:4544 is northing first
    mx, my = transformer(4490, 3857).transform(lon, lat)
    merc = client.get(url, params={"crs": EPSG.format(3857)}).json()["geometry"]["coordinates"]
    assert merc == pytest.approx([mx, my], abs=0.01)
    bad = client.get(url, params={"crs": "EPSG:2000"})
    assert bad.status_code == 400 and "crs" in bad.json()["detail"]


def test_bbox_crs_in_the_crs_axis_order(client):
    lon_lat = client.get("/collections/child_sites/items",
                         params={"bbox": "105.6,29.6,105.85,29.8", "limit": 1000}).json()
    fwd = transformer(4490, 4544)
    xs, ys = fwd.transform(np.array([105.6, 105.85, 105.6, 105.85]),
                           np.array([29.6, 29.6, 29.8, 29.8]))
    inner = f"{max(ys[0], ys[1])},{max(xs[0], xs[2])},{min(ys[2], ys[3])},{min(xs[1], xs[3])}"
    gk = client.get("/collections/child_sites/items",
                    params={"bbox": inner, "bbox-crs": EPSG.format(4544), "limit": 1000}).json()
    a, b = {f["id"] for f in lon_lat["features"]}, {f["id"] for f in gk["features"]}
    assert b and b <= a  # the GK box is inscribed in the degree box
    lat_lon = client.get("/collections/child_sites/items", params={
        "bbox": "29.6,105.6,29.8,105.85", "bbox-crs": EPSG.format(4490), "limit": 1000}).json()
    assert {f["id"] for f in lat_lon["features"]} == a


# -- CQL2 ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("expression", "message"), [
    ("kind ==", "cannot parse"),
    ("nonsense_field = 3", "unknown property 'nonsense_field'"),
    ("contact_person = 'x'", "unknown property 'contact_person'"),
    ("beds = 'many'", "not a int value"),
    ("S_INTERSECTS(name, POINT(105.7 29.7))", "not a geometry"),
    ("foo(name) = 'x'", "function 'foo'"),
    ("beds", "is not a condition"),
    ("S_INTERSECTS(geometry, SRID=4326;POINT(105.7 29.7))", "SRID=4326"),
    ("beds > 1 AND", "cannot parse"),
])
def test_bad_filters_are_400_with_a_reason(client, expression, message):
    got = client.get("/collections/eldercare_sites/items", params={"filter": expression})
    assert got.status_code == 400
    assert message in got.json()["detail"]


def _nested_not_json(levels: int) -> str:
    inner = '{"op": ">", "args": [{"property": "beds"}, 1]}'
    return '{"op": "not", "args": [' * levels + inner + "]}" * levels


@pytest.mark.parametrize(("expression", "lang", "limit"), [
    (" AND ".join(["beds > 1"] * 3000), "cql2-text", f"more than {cql2.MAX_NODES}"),
    (" AND ".join(["beds>1"] * 1700), "cql2-text", f"more than {cql2.MAX_NODES}"),
    (json.dumps({"op": "and", "args": [{"op": ">", "args": [{"property": "beds"}, n]}
                                       for n in range(1700)]}, separators=(",", ":")),
     "cql2-json",
     f"more than {cql2.MAX_NODES}"),
    ("beds" + " + 1" * 1000 + " > 5", "cql2-text", f"more than {cql2.MAX_DEPTH} levels"),
    ("NOT " * 500 + "beds > 1", "cql2-text", f"more than {cql2.MAX_DEPTH} levels"),
    ("NOT (" * 500 + "beds > 1" + ")" * 500, "cql2-text", f"more than {cql2.MAX_DEPTH} levels"),
    (_nested_not_json(500), "cql2-json", f"more than {cql2.MAX_DEPTH} levels"),
    ("[" * 100_000 + "]" * 100_000, "cql2-json", "characters; the limit"),
    ("[" * 20_000 + "]" * 20_000, "cql2-json", f"more than {cql2.MAX_DEPTH} levels"),
    ("CASEI(" * 300 + "name" + ")" * 300 + " = 'x'", "cql2-text",
     f"more than {cql2.MAX_DEPTH} levels"),
])
def test_deep_or_long_filters_are_400_naming_the_limit(client, expression, lang, limit):
    collection = get_collection("eldercare_sites", ANONYMOUS)
    with pytest.raises(cql2.CQL2Error, match=re.escape(limit)):
        cql2.compile_filter(expression, lang, collection.properties(ANONYMOUS),
                            collection.geometry)
    if len(quote(expression)) < 60_000:  # what fits in a URL: the same 400 over HTTP
        got = client.get("/collections/eldercare_sites/items",
                         params={"filter": expression, "filter-lang": lang})
        assert got.status_code == 400 and limit in got.json()["detail"], got.text[:300]


def test_filters_within_the_limits_work(client, sample_engine):
    """The deepest and largest filters the limits admit compile and match SQL."""
    deep = "NOT " * (cql2.MAX_DEPTH - 2) + "beds > 100"  # an even number of NOTs
    got = client.get("/collections/eldercare_sites/items", params={"filter": deep})
    assert got.json()["numberMatched"] == _scalar(
        sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public AND beds > 100")
    many = " OR ".join(f"beds = {n}" for n in range(1200))
    got = client.get("/collections/eldercare_sites/items", params={"filter": many})
    assert got.json()["numberMatched"] == _scalar(
        sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public AND beds < 1200")


def test_cql2_compiles_with_bound_parameters_only():
    collection = get_collection("eldercare_sites", ANONYMOUS)
    props = collection.properties(ANONYMOUS)
    evil = "x' OR 1=1; DROP TABLE child_sites; --"
    expression = {"op": "and", "args": [{"op": "=", "args": [{"property": "name"}, evil]},
                                        {"op": ">", "args": [{"property": "beds"}, 5]}]}
    clause = cql2.compile_filter(json.dumps(expression), "cql2-json", props,
                                 collection.geometry)
    compiled = select(collection.table.c.id).where(clause).compile()
    assert evil not in str(compiled) and evil in compiled.params.values()
    assert 5 in compiled.params.values()
    # the newer forms bind their literals too: arithmetic, % div ^, the standard between
    for expression, lang, values in [
        ("beds * 7 + 3 > 11 AND beds % 13 = 1 AND beds ^ 2 > 17", "cql2-text",
         {7.0, 3.0, 11.0, 13.0, 1.0, 2.0, 17.0}),
        ('{"op":"between","args":[{"property":"beds"},19,23]}', "cql2-json", {19, 23}),
        ("NOT (name LIKE 'x%' OR -beds < -29)", "cql2-text", {"x%", -1.0, -29.0}),
    ]:
        clause = cql2.compile_filter(expression, lang, props, collection.geometry)
        compiled = select(collection.table.c.id).where(clause).compile()
        assert values <= set(compiled.params.values()), expression
        assert not re.search(r"\b(7|11|13|17|19|23|29)\b", str(compiled)), str(compiled)


def test_cql2_text_json_temporal_and_injection(client, sample_engine):
    expected = _ids(sample_engine, "SELECT id FROM eldercare_sites WHERE is_public AND "
                                   "(name LIKE '%敬老院%' OR beds BETWEEN 100 AND 200)")
    got = client.get("/collections/eldercare_sites/items", params={
        "filter": "name LIKE '%敬老院%' OR beds BETWEEN 100 AND 200", "limit": 1000}).json()
    assert {f["id"] for f in got["features"]} == expected
    as_json = {"op": "a_contains", "args": [{"property": "services"}, ["助餐"]]}
    got = client.get("/collections/eldercare_sites/items", params={
        "filter": json.dumps(as_json), "filter-lang": "cql2-json", "limit": 1000}).json()
    assert {f["id"] for f in got["features"]} == _ids(
        sample_engine, "SELECT id FROM eldercare_sites WHERE is_public AND '助餐' = ANY(services)")
    after = client.get("/collections/funeral_sites/items", params={
        "filter": "updated_at T_AFTER TIMESTAMP('2000-01-01T00:00:00Z')"}).json()
    assert after["numberMatched"] == _scalar(
        sample_engine, "SELECT count(*) FROM funeral_sites WHERE is_public")
    none = client.get("/collections/funeral_sites/items", params={"datetime": "../2000-01-01"})
    assert none.json()["numberMatched"] == 0
    injected = client.get("/collections/eldercare_sites/items", params={
        "filter": json.dumps({"op": "=", "args": [{"property": "name"}, "a' OR '1'='1"]}),
        "filter-lang": "cql2-json"})
    assert injected.status_code == 200 and injected.json()["numberMatched"] == 0
    # In CQL2 text '' is a quote inside the string: the whole text is one string literal.
    escaped = client.get("/collections/eldercare_sites/items", params={
        "filter": "name = 'a'' OR ''1''=''1'"})
    assert escaped.status_code == 200 and escaped.json()["numberMatched"] == 0


# -- paging, parameters, conditional requests --------------------------------------------
def test_paging_limits_and_parameters(client, sample_engine):
    total = _scalar(sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public")
    first = client.get("/collections/eldercare_sites/items", params={"limit": 20000}).json()
    assert first["numberMatched"] == total
    assert first["numberReturned"] == min(total, features.MAX_LIMIT)
    page = client.get("/collections/eldercare_sites/items",
                      params={"limit": 50, "offset": 50, "sortby": "-beds,name",
                              "properties": "name,beds", "skipGeometry": "true"}).json()
    assert {link["rel"] for link in page["links"]} >= {"next", "prev", "self"}
    assert all(f["geometry"] is None and set(f["properties"]) == {"name", "beds"}
               for f in page["features"])
    beds = [f["properties"]["beds"] for f in page["features"]]
    assert beds == sorted(beds, key=lambda b: -1 if b is None else b, reverse=True)
    by_kind = client.get("/collections/eldercare_sites/items",
                         params={"kind": "老年食堂", "limit": 1000}).json()
    assert by_kind["numberMatched"] == _scalar(
        sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public AND kind='老年食堂'")
    for params, word in (({"limit": "x"}, "limit"), ({"colour": "red"}, "colour"),
                         ({"sortby": "secret"}, "sortby"), ({"bbox": "1,2,3"}, "bbox"),
                         ({"is_public": "false"}, "is_public"), ({"f": "pdf"}, "f")):
        got = client.get("/collections/child_sites/items", params=params)
        assert got.status_code == 400 and word in got.json()["detail"], params


def test_etags_and_304(client, sample_engine):
    url = "/collections/child_sites/items"
    first = client.get(url, params={"limit": 5})
    etag = first.headers["etag"]
    assert first.headers["last-modified"]
    again = client.get(url, params={"limit": 5}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get(url, params={"limit": 6}, headers={"If-None-Match": etag})
    assert other.status_code == 200
    fid, updated = (_scalar(sample_engine, f"SELECT {c} FROM child_sites WHERE id = 3")
                    for c in ("id", "updated_at"))
    item = client.get(f"{url}/{fid}")
    assert item.headers["etag"] == feature_etag(fid, updated)
    assert client.get(f"{url}/{fid}", headers={"If-None-Match": item.headers["etag"]}
                      ).status_code == 304


# -- non-public data -----------------------------------------------------------------------
def test_non_public_rows_and_fields_stay_hidden(client, sample_engine, hidden_child):
    assert client.get(f"/collections/child_sites/items/{hidden_child}").status_code == 404
    queryables = client.get("/collections/child_sites/queryables").json()
    assert "contact_person" not in queryables["properties"]
    assert "kind" in queryables["properties"] and "geometry" in queryables["properties"]
    everything = client.get("/collections/child_sites/items", params={"limit": 1000}).json()
    assert hidden_child not in {f["id"] for f in everything["features"]}
    assert not any("contact_phone" in f["properties"] for f in everything["features"])
    # A planner sees the hidden rows and fields (core level; the accounts work sets roles).
    staff = get_collection("child_sites", PLANNER)
    query = features.parse_items(staff, PLANNER, {"filter": "contact_person IS NOT NULL OR "
                                                  "is_public = false", "limit": "1000"})
    with sample_engine.connect() as conn:
        rows = [json.loads(r) for r in features.page_features(conn, query)]
    assert hidden_child in {r["id"] for r in rows}


def test_a_non_public_layer_is_not_listed_for_the_public():
    cat = catalogue()
    layers = dict(cat.layers)
    layers["child_sites"] = replace(layers["child_sites"], public=False)
    hidden = Catalogue(layers=layers, common_aliases=cat.common_aliases)
    public_ids = {c.id for c in visible_collections(ANONYMOUS, hidden)}
    assert "child_sites" not in public_ids and "children_homes" not in public_ids
    assert "child_sites" in {c.id for c in visible_collections(PLANNER, hidden)}
    with pytest.raises(Exception, match="unknown collection"):
        get_collection("child_sites", ANONYMOUS, hidden)


# -- downloads -----------------------------------------------------------------------------
def test_downloads(client, sample_engine, hidden_child, tmp_path):
    public = _scalar(sample_engine, "SELECT count(*) FROM child_sites WHERE is_public")
    hidden_name = _scalar(sample_engine, "SELECT name FROM child_sites WHERE id = :i",
                          i=hidden_child)
    got = client.get("/collections/child_sites/download", params={"format": "csv"})
    assert got.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert len(rows) == public and {"名称", "经度", "纬度"} <= set(rows[0])
    assert hidden_name not in got.content.decode("utf-8-sig")
    assert "联系人" not in rows[0]
    first = rows[0]
    lon, lat = (_scalar(sample_engine, f"SELECT {c} FROM child_sites WHERE id = :i",
                        i=int(first["id"])) for c in ("ST_X(geom)", "ST_Y(geom)"))
    assert float(first["经度"]) == pytest.approx(lon) and float(first["纬度"]) == pytest.approx(lat)
    gpkg = client.get("/collections/children_homes/download",
                      params={"format": "gpkg", "crs": "EPSG:4544"})
    path = tmp_path / "x.gpkg"
    path.write_bytes(gpkg.content)
    frame = pyogrio.read_dataframe(path)
    assert len(frame) == _scalar(sample_engine, "SELECT count(*) FROM child_sites "
                                 "WHERE is_public AND kind = '儿童之家'")
    assert frame.crs.to_epsg() == 4544 and frame.geometry.x.min() > 300_000  # easting
    # GeoPackage 1.2 (application_id 'GPKG', user_version 10200), which GDAL 3.6 (Debian's
    # ogrinfo) and QGIS 3.22 open without a warning.
    assert gpkg.content[68:72] == b"GPKG"
    assert int.from_bytes(gpkg.content[60:64], "big") == 10200
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(path), "children_homes"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "Warning" not in info.stderr and "ERROR" not in info.stderr, info.stderr
    assert f"Feature Count: {len(frame)}" in info.stdout
    xlsx = client.get("/collections/elderly_canteens/download",
                      params={"format": "xlsx", "filter": "status = '运营'"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.values)
    assert values[0][2] == "名称" and len(values) - 1 == _scalar(
        sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public AND "
        "kind = '老年食堂' AND status = '运营'")
    assert client.get("/collections/child_sites/download",
                      params={"format": "shp"}).status_code == 400


# -- tiles ---------------------------------------------------------------------------------
def _tile_for(lon: float, lat: float, z: int) -> tuple[int, int]:
    x, y = transformer(4490, 3857).transform(lon, lat)
    size = 2 * 20037508.342789244 / 2**z
    return int((x + 20037508.342789244) // size), int((20037508.342789244 - y) // size)


def test_vector_tiles(client, sample_engine, hidden_child):
    lon, lat = (_scalar(sample_engine, f"SELECT {c} FROM child_sites WHERE id = :i",
                        i=hidden_child) for c in ("ST_X(geom)", "ST_Y(geom)"))
    x, y = _tile_for(lon, lat, 12)
    got = client.get(f"/tiles/WebMercatorQuad/12/{y}/{x}")
    assert got.status_code == 200 and got.headers["content-type"].startswith(
        "application/vnd.mapbox-vector-tile")
    assert "max-age" in got.headers["cache-control"] and got.headers["etag"]
    tile = mapbox_vector_tile.decode(got.content)
    assert {"townships", "child_sites"} <= set(tile)
    child_ids = {f["id"] for f in tile["child_sites"]["features"]}
    assert hidden_child not in child_ids
    assert all("contact_person" not in f["properties"] for f in tile["child_sites"]["features"])
    expected = _ids(sample_engine, f"SELECT id FROM child_sites WHERE is_public AND ST_Intersects("
                                   f"ST_Transform(geom, 3857), ST_TileEnvelope(12, {x}, {y}))")
    assert expected <= child_ids
    assert client.get(f"/tiles/WebMercatorQuad/12/{y}/{x}",
                      headers={"If-None-Match": got.headers["etag"]}).status_code == 304
    empty = client.get("/collections/child_sites/tiles/WebMercatorQuad/6/10/10")
    assert empty.status_code == 204 and empty.content == b""
    assert client.get("/tiles/WebMercatorQuad/30/0/0").status_code == 400
    assert client.get("/tiles/WebMercatorQuad/3/9/0").status_code == 400
    low = mapbox_vector_tile.decode(client.get(
        "/collections/admin_areas/tiles/WebMercatorQuad/{}/{}/{}".format(
            8, *reversed(_tile_for(105.72, 29.7, 8)))).content)
    assert {f["properties"]["level"] for f in low["admin_areas"]["features"]} == {
        "district", "township"}  # villages only from z10
    tj = client.get("/collections/child_sites/tiles/WebMercatorQuad/tilejson.json").json()
    assert tj["tiles"][0].endswith("/collections/child_sites/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert 105 < tj["bounds"][0] < 106
    tms = client.get("/tileMatrixSets/WebMercatorQuad").json()
    assert tms["tileMatrices"][0]["matrixWidth"] == 1


@pytest.mark.parametrize("z", range(6))
def test_low_zoom_tiles_over_the_district_carry_its_data(client, sample_engine, z):
    """z0–z5: the tile holding 大足 has every public site in it (the search box no longer
    wraps across the antimeridian at z1–z2)."""
    x, y = _tile_for(105.72, 29.7, z)
    got = client.get(f"/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert got.status_code == 200, (z, got.status_code)
    tile = mapbox_vector_tile.decode(got.content)
    inside = (f"is_public AND ST_Intersects(ST_Transform(geom, 3857), "
              f"ST_TileEnvelope({z}, {x}, {y}))")
    assert {f["id"] for f in tile["child_sites"]["features"]} == _ids(
        sample_engine, f"SELECT id FROM child_sites WHERE {inside}")
    townships = _scalar(sample_engine, "SELECT count(*) FROM admin_areas WHERE "
                        f"level = 'township' AND {inside}")
    drawn = len(tile["townships"]["features"])
    # Below z2 a township is about one cell of the 4096 grid; the ones that collapse to
    # nothing are dropped (README, 矢量瓦片 rules).
    assert drawn == townships if z >= 2 else 0 < drawn <= townships
    eldercare = {f["id"] for f in tile["eldercare_sites"]["features"]}
    in_tile = _ids(sample_engine, f"SELECT id FROM eldercare_sites WHERE {inside}")
    assert eldercare <= in_tile and len(eldercare) == min(300, len(in_tile))  # capped below z9
    one = client.get(f"/collections/funeral_sites/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert len(mapbox_vector_tile.decode(one.content)["funeral_sites"]["features"]) == _scalar(
        sample_engine, f"SELECT count(*) FROM funeral_sites WHERE {inside}")


# -- landing, conformance, HTML ------------------------------------------------------------
def test_landing_conformance_and_openapi(client):
    landing = client.get("/").json()
    rels = {link["rel"]: link for link in landing["links"]}
    assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert client.get(rels["service-desc"]["href"]).json()["openapi"].startswith("3.0")
    conf = client.get("/conformance").json()["conformsTo"]
    for uri in ("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
                "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
                "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
                "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"):
        assert uri in conf
    collection = client.get("/collections/townships").json()
    assert collection["storageCrs"] == EPSG.format(4490)
    assert collection["illustrative"]["features"] > 0 and "示意" in collection[
        "illustrative"]["note"]
    assert parse_crs("EPSG:4544").pyproj_crs is not None


def test_html_pages(client, hidden_child):
    home = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert home.headers["content-type"].startswith("text/html")
    assert 'href="/map"' in home.text and "关爱地图" in home.text
    page = client.get("/collections/child_sites/items", params={"f": "html", "limit": 1000})
    assert "<table>" in page.text and "/vendor/leaflet/dist/leaflet.js" in page.text
    assert f"/items/{hidden_child}?" not in page.text
    coll = client.get("/collections/townships", params={"f": "html"})
    assert "示意" in coll.text
    item = client.get("/collections/child_sites/items/1", params={"f": "html"})
    assert item.status_code == 200 and "<table>" in item.text


def _page_features(html_text: str) -> dict:
    found = re.search(r'<script type="application/json" id="features-data">(.*?)</script>',
                      html_text, re.S)
    return json.loads(found.group(1))


@pytest.mark.parametrize("crs", ["EPSG:4544", EPSG.format(4490), EPSG.format(3857)])
def test_html_map_is_always_crs84(client, sample_engine, crs):
    """The page's Leaflet map gets lon/lat whatever crs= asks for (the JSON keeps the crs)."""
    truth = {r[0]: (r[1], r[2]) for r in _rows(
        sample_engine, "SELECT id, ST_X(geom), ST_Y(geom) FROM child_sites WHERE is_public")}
    page = client.get("/collections/child_sites/items",
                      params={"f": "html", "crs": crs, "limit": 1000})
    assert page.status_code == 200 and "地图按经纬度(CRS84)显示" in page.text
    drawn = _page_features(page.text)["features"]
    assert len(drawn) == len(truth)
    for feature in drawn:
        assert feature["geometry"]["coordinates"] == pytest.approx(truth[feature["id"]],
                                                                   abs=1e-9)
    fid = min(truth)
    one = client.get(f"/collections/child_sites/items/{fid}", params={"f": "html", "crs": crs})
    assert _page_features(one.text)["geometry"]["coordinates"] == pytest.approx(
        truth[fid], abs=1e-9)
    as_json = client.get(f"/collections/child_sites/items/{fid}", params={"crs": crs}).json()
    assert as_json["geometry"]["coordinates"] != pytest.approx(truth[fid], abs=1e-3)
    plain = client.get("/collections/child_sites/items", params={"f": "html", "limit": 5})
    assert "地图按经纬度" not in plain.text


@pytest.mark.parametrize(("path", "params", "headers", "status", "words"), [
    ("/collections/nope/items", {"f": "html"}, {}, 404, ["没有找到", "unknown collection"]),
    ("/collections/child_sites/items", {"f": "html", "filter": "kind =="}, {}, 400,
     ["请求有误", "cannot parse"]),
    ("/collections/child_sites/items", {"bbox": "1,2,3"}, {"Accept": "text/html"}, 400,
     ["请求有误", "bbox"]),
    ("/collections/child_sites/items/999999999", {"f": "html"}, {}, 404, ["没有找到"]),
    ("/collections/nope/tiles/WebMercatorQuad", {"f": "html"}, {}, 404, ["没有找到"]),
])
def test_errors_are_html_when_html_was_asked(client, path, params, headers, status, words):
    got = client.get(path, params=params, headers=headers)
    assert got.status_code == status and got.headers["content-type"].startswith("text/html")
    assert all(w in got.text for w in words), got.text[:500]
    assert '<html lang="zh-CN">' in got.text and "返回数据集合" in got.text


def test_errors_stay_json_otherwise(client):
    for params in ({"filter": "kind =="}, {"f": "json", "filter": "kind =="}, {"f": "pdf"}):
        got = client.get("/collections/child_sites/items", params=params)
        assert got.status_code == 400 and got.headers["content-type"] == "application/json"
        assert got.json()["detail"]


def test_html_paging_links_open_html_pages(client):
    page = client.get("/collections/eldercare_sites/items",
                      headers={"Accept": "text/html"}, params={"limit": 10, "offset": 10})
    pager = re.search(r'<span class="pager">(.*?)</span>', page.text).group(1)
    links = re.findall(r'href="([^"]+)"', pager)
    assert len(links) == 2  # 上一页 and 下一页
    for href in links:
        query = dict(parse_qsl(urlsplit(href.replace("&amp;", "&")).query))
        assert query["f"] == "html" and query["limit"] == "10"
        followed = client.get(href.replace("&amp;", "&"))  # no Accept header: a shared link
        assert followed.headers["content-type"].startswith("text/html")


def test_bbox_with_longitudes_out_of_range_is_a_400(client):
    response = client.get("/collections/eldercare_sites/items", params={"bbox": "200,0,210,10"})
    assert response.status_code == 400 and "longitude outside -180..180" in response.text
    lat_first = client.get("/collections/eldercare_sites/items", params={
        "bbox": "29.5,105.5,29.9,106.0",
        "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4490"})
    assert lat_first.status_code == 200 and lat_first.json()["numberReturned"] > 0


def test_bbox_across_the_antimeridian_is_two_boxes(client, sample_engine):
    """bbox west > east (Part 1: the box spans the antimeridian) selects both sides."""
    got = client.get("/collections/eldercare_sites/items",
                     params={"bbox": "106,29,105,30", "limit": 1000})
    assert got.status_code == 200
    expected = _ids(sample_engine, "SELECT id FROM eldercare_sites WHERE is_public AND ("
                    "ST_Intersects(geom, ST_MakeEnvelope(106, 29, 180, 30, 4490)) OR "
                    "ST_Intersects(geom, ST_MakeEnvelope(-180, 29, 105, 30, 4490)))")
    normalised = _scalar(sample_engine, "SELECT count(*) FROM eldercare_sites WHERE is_public "
                         "AND ST_Intersects(geom, ST_MakeEnvelope(105, 29, 106, 30, 4490))")
    assert {f["id"] for f in got.json()["features"]} == expected
    assert got.json()["numberMatched"] == len(expected) < normalised
    lat_first = client.get("/collections/eldercare_sites/items", params={
        "bbox": "29,106,30,105", "bbox-crs": EPSG.format(4490), "limit": 1000})
    assert lat_first.json()["numberMatched"] == len(expected)
    projected = client.get("/collections/eldercare_sites/items", params={
        "bbox": "600000,3300000,500000,3400000", "bbox-crs": EPSG.format(3857)})
    assert projected.status_code == 400 and "right of upper corner" in projected.text
