"""Real OGC clients (OWSLib, GDAL's OAPIF driver) read the running service on the sample.

Every expectation is computed by a direct PostGIS query written here, independently of the
service's own SQL.
"""

from __future__ import annotations

import json
import subprocess

import pyogrio
import pytest
from owslib.ogcapi.features import Features
from sqlalchemy import text

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
