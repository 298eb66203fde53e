"""Real OGC clients (OWSLib, GDAL's OAPIF driver) read the running service on the sample.

Every expectation is computed by a direct PostGIS query written here, independently of the
service's own SQL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyogrio
import pytest
import shapely
from owslib.ogcapi.features import Features
from PIL import Image
from sqlalchemy import text

from geo_service.crs import transformer
from geo_service.devserver import running_service

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
# collection id → (table, extra SQL condition) — written independently of geo_service.ogc.
EXPECTED = {
    "eldercare_sites": ("eldercare_sites", "true"),
    "funeral_sites": ("funeral_sites", "true"),
    "child_sites": ("child_sites", "true"),
    "admin_areas": ("admin_areas", "true"),
    "place_names": ("place_names", "true"),
    "roads": ("roads", "true"),
    "elderly_canteens": ("eldercare_sites", "kind = '老年食堂'"),
    "eldercare_institutions": ("eldercare_sites", "kind = '养老机构'"),
    "nursing_homes": ("eldercare_sites", "kind = '特困人员供养服务机构(敬老院)'"),
    "township_eldercare_centres": ("eldercare_sites", "kind = '镇街养老服务中心'"),
    "community_eldercare_stations": ("eldercare_sites", "kind = '社区养老服务站'"),
    "village_mutual_aid_points": ("eldercare_sites", "kind = '村级互助养老点'"),
    "children_homes": ("child_sites", "kind = '儿童之家'"),
    "townships": ("admin_areas", "level = 'township'"),
    "villages": ("admin_areas", "level = 'village'"),
    "historic_place_names": ("place_names", "historic_list IS NOT NULL"),
}
BBOX = (105.6, 29.6, 105.85, 29.8)


def _public_ids(engine, collection: str, condition: str = "true") -> set[int]:
    table, base = EXPECTED[collection]
    with engine.connect() as conn:
        return set(conn.execute(text(
            f"SELECT id FROM {table} WHERE is_public AND {base} AND {condition}")).scalars())


def _non_public_ids(engine) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM child_sites WHERE NOT is_public")).scalars())


def _coords(engine, table: str, srid: int) -> dict[int, tuple[float, float]]:
    geom = "geom" if srid == 4490 else f"ST_Transform(geom, {srid})"
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT id, ST_X({geom}), ST_Y({geom}) FROM {table} WHERE is_public")).all()
    return {r[0]: (r[1], r[2]) for r in rows}


@pytest.fixture(scope="module")
def owslib(live_server: str) -> Features:
    return Features(live_server + "/")


def _all_items(client: Features, collection: str, **params) -> tuple[list[dict], int]:
    """Page through a collection with OWSLib, following numberMatched/offset."""
    found: list[dict] = []
    offset = 0
    while True:
        page = client.collection_items(collection, limit=100, offset=offset, **params)
        found += page["features"]
        matched = page["numberMatched"]
        assert page["numberReturned"] == len(page["features"])
        has_next = any(link["rel"] == "next" for link in page["links"])
        if not has_next:
            break
        offset += len(page["features"])
    assert len(found) == matched
    return found, matched


def test_owslib_lists_and_pages_every_public_collection(owslib, sample_engine):
    ids = {c["id"] for c in owslib.collections()["collections"]}
    assert ids == set(EXPECTED)
    hidden = _non_public_ids(sample_engine)
    assert hidden, "the sample has non-public child sites"
    for collection in EXPECTED:
        features, matched = _all_items(owslib, collection)
        got = {f["id"] for f in features}
        assert got == _public_ids(sample_engine, collection), collection
        assert matched == len(got)
        if EXPECTED[collection][0] == "child_sites":
            assert not got & hidden
            assert all("contact_person" not in f["properties"] for f in features)


def test_owslib_bbox_and_cql2_filter(owslib, sample_engine):
    cql = "kind = '养老机构' AND beds > 50"
    features, _ = _all_items(owslib, "eldercare_sites", bbox=list(BBOX), filter=cql)
    expected = _public_ids(sample_engine, "eldercare_sites",
                           "kind = '养老机构' AND beds > 50 AND ST_Intersects(geom, "
                           "ST_MakeEnvelope(105.6, 29.6, 105.85, 29.8, 4490))")
    assert expected and {f["id"] for f in features} == expected
    as_json = json.dumps({"op": "and", "args": [
        {"op": "=", "args": [{"property": "kind"}, "儿童之家"]},
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        {"type": "Polygon", "coordinates": [[
                                            [105.6, 29.6], [105.85, 29.6], [105.85, 29.8],
                                            [105.6, 29.8], [105.6, 29.6]]]}]}]})
    features, _ = _all_items(owslib, "child_sites", filter=as_json,
                             **{"filter-lang": "cql2-json"})
    expected = _public_ids(sample_engine, "child_sites", "kind = '儿童之家' AND ST_Intersects("
                           "geom, ST_MakeEnvelope(105.6, 29.6, 105.85, 29.8, 4490))")
    assert expected and {f["id"] for f in features} == expected


@pytest.mark.parametrize("srid", [4490, 4544])
def test_owslib_output_crs_matches_postgis(owslib, sample_engine, srid):
    features, _ = _all_items(owslib, "child_sites", crs=EPSG.format(srid))
    truth = _coords(sample_engine, "child_sites", srid)
    tolerance = 1e-7 if srid == 4490 else 0.01  # ≈ 1 cm either way
    assert len(features) == len(truth)
    for feature in features:
        # Both CRSs put north first (EPSG axis order): [lat, lon] / [northing, easting].
        north, east = feature["geometry"]["coordinates"]
        x, y = truth[feature["id"]]
        assert abs(east - x) < tolerance and abs(north - y) < tolerance


def test_gdal_oapif_reads_every_collection(live_server, sample_engine):
    url = f"OAPIF:{live_server}/"
    layers = {name for name, _ in pyogrio.list_layers(url)}
    assert layers == set(EXPECTED)
    for collection in ("eldercare_sites", "child_sites", "townships", "historic_place_names"):
        frame = pyogrio.read_dataframe(url, layer=collection, read_geometry=False,
                                       fid_as_index=True)
        assert set(frame.index) == _public_ids(sample_engine, collection), collection


@pytest.mark.parametrize("srid", [4490, 4544])
def test_gdal_oapif_crs_bbox_and_filter(live_server, sample_engine, srid):
    url = f"OAPIF:{live_server}/"
    frame = pyogrio.read_dataframe(url, layer="child_sites", CRS=f"EPSG:{srid}",
                                   fid_as_index=True)
    assert frame.crs.to_epsg() == srid
    truth = _coords(sample_engine, "child_sites", srid)
    assert len(frame) == len(truth)
    tolerance = 1e-7 if srid == 4490 else 0.01
    for fid, geom in zip(frame.index, frame.geometry, strict=True):
        # GDAL hands coordinates back in GIS order (x = lon / easting).
        assert abs(geom.x - truth[fid][0]) < tolerance and abs(geom.y - truth[fid][1]) < tolerance
    boxed = pyogrio.read_dataframe(url, layer="eldercare_sites", bbox=BBOX,
                                   where="kind = '老年食堂'", read_geometry=False,
                                   fid_as_index=True)
    expected = _public_ids(sample_engine, "eldercare_sites", "kind = '老年食堂' AND ST_Intersects("
                           "geom, ST_MakeEnvelope(105.6, 29.6, 105.85, 29.8, 4490))")
    assert expected and set(boxed.index) == expected


def test_debian_ogrinfo_counts_match(live_server, sample_engine):
    result = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/", "child_sites"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert f"Feature Count: {len(_public_ids(sample_engine, 'child_sites'))}" in result.stdout


# -- push-down: GDAL filters on the server, read from the server's access log -------------
@pytest.fixture(scope="module")
def logged_server(sample_url: str, tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The service with its access log (uvicorn's, one line per request) in a file."""
    log = tmp_path_factory.mktemp("pushdown") / "server.log"
    with running_service(sample_url, log=log, GEO_SERVICE_ACCESS_LOG="true") as base:
        yield base, log


def _item_requests(log: Path, since: int) -> list[dict[str, str]]:
    """Query parameters of the items requests logged after line `since`."""
    found = []
    for line in log.read_text(encoding="utf-8").splitlines()[since:]:
        match = re.search(r'"GET (/collections/eldercare_sites/items\S*) HTTP', line)
        if match:
            found.append(dict(parse_qsl(urlsplit(match.group(1)).query)))
    return found


def _lines(log: Path) -> int:
    return len(log.read_text(encoding="utf-8").splitlines())


WHERE = "kind = '老年食堂' AND beds >= 0"


def _assert_pushed_down(requests: list[dict[str, str]], matched: int, page: int) -> None:
    filtered = [r for r in requests if "filter" in r]
    assert filtered, requests
    for params in filtered:
        assert params["filter-lang"] == "cql-text"
        assert "kind = '老年食堂'" in params["filter"] and "beds >= 0" in params["filter"]
    # GDAL may read one unfiltered page to learn the fields; the rest are filtered pages
    # within the matches (ogrinfo reads them twice: to count, then to list), where the whole
    # collection would take 427 / page of them.
    assert len([r for r in requests if "filter" not in r]) <= 1
    assert all(int(r.get("offset", 0)) < matched for r in filtered)
    assert len(filtered) <= 2 * (matched // page + 1)


def test_api_lists_queryables_and_the_filter_languages_gdal_knows(logged_server):
    base, _ = logged_server
    doc = json.loads(subprocess.run(["curl", "-s", f"{base}/api"], capture_output=True,
                                    check=True, timeout=60).stdout)
    items = doc["paths"]["/collections/eldercare_sites/items"]["get"]
    names = {p["name"] for p in items["parameters"]}
    assert {"kind", "beds", "name", "filter", "filter-lang"} <= names
    assert not names & {"contact_person", "contact_phone"}  # hidden from the public
    lang = next(p for p in items["parameters"] if p["name"] == "filter-lang")
    assert {"cql-text", "cql2-text", "cql2-json"} <= set(lang["schema"]["enum"])
    template = doc["paths"]["/collections/{collectionId}/items/{featureId}"]["get"]
    assert {"400", "404"} <= set(template["responses"]) and "422" not in template["responses"]
    assert "422" not in items["responses"] and "400" in items["responses"]


def test_debian_ogrinfo_filters_on_the_server(logged_server, sample_engine):
    """GDAL 3.6 (Debian's ogrinfo) sends the -where clause to the server as CQL text."""
    base, log = logged_server
    since = _lines(log)
    run = subprocess.run(["ogrinfo", "-ro", "-al", "-where", WHERE, f"OAPIF:{base}/",
                          "eldercare_sites"], capture_output=True, text=True, timeout=120,
                         check=True)
    expected = _public_ids(sample_engine, "eldercare_sites", WHERE)
    assert f"Feature Count: {len(expected)}" in run.stdout
    assert sorted(int(fid) for fid in re.findall(r"^OGRFeature\(eldercare_sites\):(\d+)",
                                                 run.stdout, re.M)) == sorted(expected)
    _assert_pushed_down(_item_requests(log, since), len(expected), 10)


def test_pyogrio_gdal_filters_on_the_server(logged_server, sample_engine):
    """GDAL 3.12 (pyogrio's) does the same, and the features match PostGIS."""
    base, log = logged_server
    since = _lines(log)
    frame = pyogrio.read_dataframe(f"OAPIF:{base}/", layer="eldercare_sites", where=WHERE,
                                   read_geometry=False, fid_as_index=True)
    expected = _public_ids(sample_engine, "eldercare_sites", WHERE)
    assert set(frame.index) == expected and set(frame["kind"]) == {"老年食堂"}
    _assert_pushed_down(_item_requests(log, since), len(expected), 20)


# -- QGIS 3.22 (Debian's python3-qgis, headless) -----------------------------------------
QGIS_PROBE = """
import json, sys
from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsDataSourceUri,
    QgsMapRendererParallelJob, QgsMapSettings, QgsRectangle, QgsVectorLayer,
    QgsVectorTileBasicRenderer, QgsVectorTileLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor
QgsApplication.setPrefixPath("/usr", True)
app = QgsApplication([], False)
app.initQgis()
base, out, ids, box = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
found = {}
for cid in ids:  # Layer > Add WFS / OGC API - Features layer, as a user does
    layer = QgsVectorLayer(f"url='{base}/' typename='{cid}'", cid, "OAPIF")
    found[cid] = {"valid": layer.isValid(), "count": sum(1 for _ in layer.getFeatures()),
                  "fields": [f.name() for f in layer.fields()]}
uri = QgsDataSourceUri()  # Layer > Add Vector Tile Layer > generic XYZ connection
uri.setParam("type", "xyz")
uri.setParam("url", base + "/tiles/WebMercatorQuad/{z}/{y}/{x}")
uri.setParam("zmin", "0")
uri.setParam("zmax", "14")
tiles = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), "care_map")
renderer = QgsVectorTileBasicRenderer()
renderer.setStyles(QgsVectorTileBasicRenderer.simpleStyle(
    QColor(46, 125, 50, 120), QColor(0, 0, 0), 0.3, QColor(0, 0, 0), 0.3,
    QColor(198, 40, 40), QColor(198, 40, 40), 2.5))
tiles.setRenderer(renderer)
settings = QgsMapSettings()
settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
settings.setLayers([tiles])
settings.setExtent(QgsRectangle(*box))
settings.setOutputSize(QSize(600, 600))
settings.setBackgroundColor(QColor(255, 255, 255))
job = QgsMapRendererParallelJob(settings)
job.start()
job.waitForFinished()
job.renderedImage().save(out)
shown = settings.visibleExtent()
print(json.dumps({"layers": found, "tiles_valid": tiles.isValid(), "extent": [
    shown.xMinimum(), shown.yMinimum(), shown.xMaximum(), shown.yMaximum()]}))
"""
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


def test_qgis_reads_every_collection_and_draws_the_care_map_tiles(live_server, sample_engine,
                                                                  tmp_path):
    """QGIS 3.22 adds every public collection as an OGC API – Features layer (counts as in
    PostGIS, so no non-public row) and the care-map vector tiles, and draws them inside the
    district outline."""
    with sample_engine.connect() as conn:
        outline = shapely.from_wkt(conn.execute(text(
            "SELECT ST_AsText(geom) FROM admin_areas WHERE level = 'district'")).scalar_one())
    lon, lat = np.asarray(outline.exterior.coords).T if outline.geom_type == "Polygon" else (
        np.asarray(max(outline.geoms, key=lambda g: g.area).exterior.coords).T)
    xs, ys = transformer(4490, 3857).transform(lon, lat)
    pad = 0.05 * (xs.max() - xs.min())
    box = [xs.min() - pad, ys.min() - pad, xs.max() + pad, ys.max() + pad]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    png = SCREENSHOTS / "qgis_care_map_tiles.png"
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700)
    run = subprocess.run(
        ["/usr/bin/python3", "-c", QGIS_PROBE, live_server, str(png), json.dumps(list(EXPECTED)),
         json.dumps(box)], capture_output=True, text=True, timeout=300,
        env=dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime)))
    assert run.returncode == 0, "QGIS (Debian's python3-qgis) failed: " + run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    counts = {cid: layer["count"] for cid, layer in report["layers"].items()}
    assert all(layer["valid"] for layer in report["layers"].values())
    assert counts == {cid: len(_public_ids(sample_engine, cid)) for cid in EXPECTED}
    assert "contact_person" not in report["layers"]["child_sites"]["fields"]
    assert report["tiles_valid"]
    # Where QGIS drew: the red site dots and green township fills, in image pixels.
    x0, y0, x1, y1 = report["extent"]
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    height, width = pixels.shape[:2]
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    red = np.argwhere((r > 150) & (g < 90) & (b < 90))
    green = np.argwhere((g > r + 20) & (g > b + 20))
    assert len(red) > 1000 and len(green) > 20_000, (len(red), len(green))
    district_px = shapely.Polygon(np.column_stack([(xs - x0) / (x1 - x0) * width,
                                                   (y1 - ys) / (y1 - y0) * height]))
    inside = shapely.contains_xy(district_px.buffer(6), red[:, 1] + 0.5, red[:, 0] + 0.5)
    assert inside.all(), f"{(~inside).sum()} red pixels outside the district outline"
    greens_inside = shapely.contains_xy(district_px.buffer(3), green[:, 1] + 0.5,
                                        green[:, 0] + 0.5)
    assert greens_inside.mean() > 0.99
    assert district_px.area > 0.3 * width * height  # the district fills the picture


# (layer, OGR -where clause, the same condition in SQL): what GDAL's driver pushes down
# (comparisons, LIKE, NOT, OR, IS NULL, booleans as 0/1, dates) and what it keeps on the
# client (array fields, which /api does not list), each checked against PostGIS.
GDAL_WHERE = [
    ("eldercare_sites", "beds > 100 OR kind = '老年食堂'", "beds > 100 OR kind = '老年食堂'"),
    ("eldercare_sites", "NOT (beds < 50) AND name LIKE '%敬老院%'",
     "NOT (beds < 50) AND name LIKE '%敬老院%'"),
    ("eldercare_sites", "star_rating IS NULL AND beds >= 20", "star_rating IS NULL AND beds >= 20"),
    ("funeral_sites", "eco_burial = 1", "eco_burial"),
    ("eldercare_sites", "updated_at > '2000-01-01'", "updated_at > '2000-01-01T00:00:00+08'"),
    ("eldercare_sites", "kind = '养老机构' AND services = '助餐'",
     "kind = '养老机构' AND services = ARRAY['助餐']"),
]


def _gdal_ids(client: str, base: str, layer: str, where: str) -> set[int]:
    """Feature ids GDAL reads with an attribute filter: pyogrio's GDAL 3.12 or Debian's 3.6."""
    if client == "pyogrio":
        return set(pyogrio.read_dataframe(f"OAPIF:{base}/", layer=layer, where=where,
                                          read_geometry=False, fid_as_index=True).index)
    run = subprocess.run(["ogrinfo", "-ro", "-al", "-where", where, f"OAPIF:{base}/", layer],
                         capture_output=True, text=True, timeout=120, check=True)
    assert "ERROR" not in run.stderr, run.stderr
    return {int(f) for f in re.findall(rf"^OGRFeature\({layer}\):(\d+)", run.stdout, re.M)}


@pytest.mark.parametrize("client", ["pyogrio", "ogrinfo"])
@pytest.mark.parametrize(("layer", "where", "condition"), GDAL_WHERE,
                         ids=[w for _, w, _ in GDAL_WHERE])
def test_gdal_where_clauses_match_postgis(logged_server, sample_engine, layer, where,
                                          condition, client):
    base, log = logged_server
    since = _lines(log)
    expected = _public_ids(sample_engine, layer, condition)
    assert _gdal_ids(client, base, layer, where) == expected
    lines = log.read_text(encoding="utf-8").splitlines()[since:]
    assert not any('" 400 ' in line for line in lines), [ln for ln in lines if " 400 " in ln]
