"""Items pages past the first (ids chosen first, GeoJSON built for the page's rows only) are
exactly the slice of the whole ordered result; a JSON page (page_json: one statement while
its layer is unchanged) has the same features, counts and ETag, and sees a row change at
once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from accounts_helpers import unlimited_app, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, text

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.ogc import features
from geo_service.ogc.collections import get_collection

CASES = [
    ("eldercare_sites", {"limit": "100"}),
    ("eldercare_sites", {"limit": "100", "offset": "100"}),
    ("eldercare_sites", {"limit": "7", "offset": "3", "sortby": "-beds,name"}),
    ("eldercare_sites", {"limit": "20", "offset": "5", "bbox": "105.65,29.62,105.80,29.76"}),
    ("eldercare_sites", {"offset": "2", "filter": "beds > 20", "sortby": "-star_rating"}),
    ("eldercare_sites", {"offset": "11", "properties": "name,beds", "skipGeometry": "true"}),
    ("eldercare_sites", {"offset": "40", "sortby": "source",
                         "crs": "http://www.opengis.net/def/crs/EPSG/0/4544"}),
    ("eldercare_sites", {"offset": "100000"}),  # past the end: an empty page
    ("villages", {"limit": "30", "offset": "60"}),
    ("place_names", {"limit": "100", "offset": "50", "sortby": "name"}),
]


@pytest.mark.parametrize("principal", [ANONYMOUS, Principal("p", Role.planner)])
@pytest.mark.parametrize(("collection_id", "params"), CASES)
def test_a_page_is_the_slice_of_the_ordered_rows(sample_engine, collection_id, params,
                                                 principal):
    query = features.parse_items(get_collection(collection_id, principal), principal, params)
    every = (select(features.feature_json(query)).select_from(query.collection.table)
             .where(query.where()).order_by(*query.order))
    with sample_engine.connect() as conn:
        whole = list(conn.execute(every).scalars())
        page = features.page_features(conn, query)
    assert page == whole[query.offset:query.offset + query.limit]
    assert len(whole) > query.offset or page == []


@pytest.mark.parametrize("principal", [ANONYMOUS, Principal("p", Role.planner)])
@pytest.mark.parametrize(("collection_id", "params"), CASES)
def test_a_json_page_matches_the_rows_counts_and_etag(sample_engine, collection_id, params,
                                                      principal):
    query = features.parse_items(get_collection(collection_id, principal), principal, params)
    with sample_engine.connect() as conn:
        state = features.page_state(conn, query)
        rows = features.page_features(conn, query)
        for _ in range(2):  # the second answer comes from the kept counts
            got, joined, returned = features.page_json(conn, query)
            assert json.loads(f"[{joined}]") == [json.loads(r) for r in rows]
            assert returned == len(rows)
            assert (got.total, got.matched, got.last_modified, got.etag) == (
                state.total, state.matched, state.last_modified, state.etag)


@pytest.fixture(scope="module")
def writable(database_factory) -> Iterator[Engine]:
    engine = writable_sample(database_factory, "items_pages")
    yield engine
    engine.dispose()


def test_a_row_change_reaches_an_items_page_at_once(writable):
    url = "/collections/eldercare_sites/items"
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    with TestClient(unlimited_app(writable)) as client:
        first = client.get(url, params={"limit": 5})
        event.listen(writable, "before_cursor_execute", note)
        try:
            again = client.get(url, params={"limit": 5})
        finally:
            event.remove(writable, "before_cursor_execute", note)
        assert len(sent) == 1  # unchanged layer: one statement for the whole page
        assert again.headers["etag"] == first.headers["etag"]
        shown = first.json()["features"][0]["id"]
        with writable.begin() as conn:  # hidden from the public: counts and ETag move
            conn.execute(text("UPDATE eldercare_sites SET is_public = false WHERE id = :i"),
                         {"i": shown})
        hidden = client.get(url, params={"limit": 5},
                            headers={"If-None-Match": first.headers["etag"]})
        assert hidden.status_code == 200
        assert hidden.json()["numberMatched"] == first.json()["numberMatched"] - 1
        assert shown not in [f["id"] for f in hidden.json()["features"]]
        with writable.begin() as conn:  # back: the same counts, a new newest change
            conn.execute(text("UPDATE eldercare_sites SET is_public = true WHERE id = :i"),
                         {"i": shown})
        back = client.get(url, params={"limit": 5})
        assert back.json()["numberMatched"] == first.json()["numberMatched"]
        assert [f["id"] for f in back.json()["features"]] == [
            f["id"] for f in first.json()["features"]]


def test_a_large_page_is_gzipped_for_clients_that_ask(sample_engine):
    with TestClient(unlimited_app(sample_engine)) as client:
        url = "/collections/eldercare_sites/items?limit=100"
        zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert int(zipped.headers["content-length"]) < len(plain.content) / 4
    assert zipped.json()["features"] == plain.json()["features"]


@pytest.mark.parametrize("principal", [ANONYMOUS, Principal("p", Role.planner)])
def test_pages_of_one_shape_share_a_statement_and_bind_their_own_values(sample_engine,
                                                                       principal):
    boxes = ["105.65,29.62,105.80,29.76", "105.5,29.4,106.0,29.9", "105.70,29.70,105.72,29.72"]
    collection = get_collection("eldercare_sites", principal)
    features._compiled_pages.clear()
    with sample_engine.connect() as conn:
        for box in boxes:
            for offset in ("3", "40"):
                query = features.parse_items(collection, principal,
                                             {"limit": "25", "offset": offset, "bbox": box})
                rows = features.page_features(conn, query)
                state, joined, returned = features.page_json(conn, query)
                assert json.loads(f"[{joined}]") == [json.loads(r) for r in rows]
                assert returned == len(rows)
                assert state.matched == features.page_state(conn, query).matched
        # a bbox across the antimeridian (two boxes) is another shape, and answers empty
        wrapped = features.parse_items(collection, principal, {"bbox": "170,20,100,40"})
        assert features.page_json(conn, wrapped)[1:] == ("", 0)
    assert len(features._compiled_pages) == 2
