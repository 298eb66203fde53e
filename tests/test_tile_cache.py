"""The encoded-tile cache: byte-identical to a cold tile, invalidated by any row change of
its layers (at once with GEO_SERVICE_TILE_VERSION_TTL_S=0, once the version TTL has passed
otherwise), keyed by the caller's view, and bounded; a hit costs no database query."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import mapbox_vector_tile
import numpy as np
import pytest
from accounts_helpers import add_users, login, unlimited_app, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from geo_service.crs import transformer
from geo_service.ogc import tiles
from geo_service.ogc.tile_cache import (
    ENTRY_OVERHEAD,
    EncodedTile,
    LayerVersionCache,
    TileCache,
)

HALF = 20037508.342789244


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(row, column) of the WebMercatorQuad tile holding a point."""
    x, y = transformer(4490, 3857).transform(lon, lat)
    size = 2 * HALF / 2**z
    return int((HALF - y) // size), int((x + HALF) // size)


@pytest.fixture(scope="module")
def engine(database_factory) -> Iterator[Engine]:
    engine = writable_sample(database_factory, "tile_cache")
    add_users(engine, "planner", "admin")
    yield engine
    engine.dispose()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=[0.0, 1.0], ids=["exact", "ttl"])
def client(engine: Engine, request, monkeypatch) -> Iterator[TestClient]:
    """The app with the version read per tile (exact) or trusted for 1 s (a hand clock)."""
    monkeypatch.setenv("GEO_SERVICE_TILE_VERSION_TTL_S", str(request.param))
    with TestClient(unlimited_app(engine)) as c:
        versions: LayerVersionCache = c.app.state.layer_versions
        assert versions.ttl_s == request.param
        versions.clock = Clock()
        yield c


def _after_change(client: TestClient) -> None:
    """Let the worker's version TTL pass (a no-op when it reads versions per tile)."""
    versions: LayerVersionCache = client.app.state.layer_versions
    versions.clock.now += versions.ttl_s  # type: ignore[attr-defined]


def _one(engine: Engine, sql: str, **params: object) -> tuple:
    with engine.connect() as conn:
        return tuple(conn.execute(text(sql), params).one())


def _urls(engine: Engine) -> list[str]:
    """Care-map and eldercare tiles z10–z14 round a public site, plus some empty ones."""
    lon, lat = _one(engine, "SELECT ST_X(geom), ST_Y(geom) FROM eldercare_sites "
                            "WHERE is_public ORDER BY id LIMIT 1")
    urls = []
    for z in range(10, 15):
        row, col = _tile_of(lon, lat, z)
        for dr, dc in ((0, 0), (0, 1), (1, 0)):
            urls.append(f"/tiles/WebMercatorQuad/{z}/{row + dr}/{col + dc}")
            urls.append(f"/collections/eldercare_sites/tiles/WebMercatorQuad/{z}/{row + dr}/"
                        f"{col + dc}")
    return [*urls, "/collections/child_sites/tiles/WebMercatorQuad/6/10/10"]


def test_a_cached_tile_is_byte_identical_to_a_cold_one(engine, client, monkeypatch):
    urls = _urls(engine)
    cache: TileCache = client.app.state.tile_cache
    cache.clear()
    cold = {u: client.get(u) for u in urls}
    assert {r.status_code for r in cold.values()} == {200, 204}
    assert len(cache) == len(set(urls))

    def never(*_args: object, **_kw: object) -> bytes:
        raise AssertionError("a warm tile must come from the cache")

    monkeypatch.setattr(tiles, "render_tile", never)
    for url, first in cold.items():
        warm = client.get(url)
        assert (warm.status_code, warm.content, warm.headers.get("etag")) == (
            first.status_code, first.content, first.headers.get("etag"))
    monkeypatch.undo()
    monkeypatch.setenv("GEO_SERVICE_TILE_CACHE_MB", "0")  # a worker without any cache
    with TestClient(unlimited_app(engine)) as plain:
        assert plain.app.state.tile_cache.max_bytes == 0
        for url, first in cold.items():
            got = plain.get(url)
            assert (got.status_code, got.content) == (first.status_code, first.content)
        assert len(plain.app.state.tile_cache) == 0


def _names(content: bytes, layer: str) -> dict[int, str]:
    decoded = mapbox_vector_tile.decode(content)
    return {f["id"]: f["properties"]["name"] for f in decoded.get(layer, {}).get("features", [])}


def test_a_row_change_invalidates_the_cached_tile(engine, client):
    fid, lon, lat = _one(engine, "SELECT id, ST_X(geom), ST_Y(geom) FROM eldercare_sites "
                                 "WHERE is_public ORDER BY id LIMIT 1 OFFSET 1")
    row, col = _tile_of(lon, lat, 14)
    url = f"/collections/eldercare_sites/tiles/WebMercatorQuad/14/{row}/{col}"
    before = client.get(url)
    assert client.get(url).content == before.content  # now cached
    old_name = _names(before.content, "eldercare_sites")[fid]
    with engine.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET name = name || '(新址)' WHERE id = :i"),
                     {"i": fid})
    _after_change(client)
    renamed = client.get(url)
    assert _names(renamed.content, "eldercare_sites")[fid] == old_name + "(新址)"
    assert renamed.headers["etag"] != before.headers["etag"]
    # moved beyond every other site: the layer's extent grows, the new tile shows it at once
    with engine.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET geom = ST_SetSRID(ST_Point(106.31, 29.61),"
                          " 4490) WHERE id = :i"), {"i": fid})
    _after_change(client)
    gone = client.get(url)
    assert gone.status_code == 204 or fid not in _names(gone.content, "eldercare_sites")
    far_row, far_col = _tile_of(106.31, 29.61, 14)
    far = client.get(f"/collections/eldercare_sites/tiles/WebMercatorQuad/14/{far_row}/{far_col}")
    assert far.status_code == 200 and fid in _names(far.content, "eldercare_sites")
    with engine.begin() as conn:  # a delete invalidates too
        conn.execute(text("DELETE FROM eldercare_sites WHERE id = :i"), {"i": fid})
    _after_change(client)
    after = client.get(f"/collections/eldercare_sites/tiles/WebMercatorQuad/14/{far_row}/{far_col}")
    assert after.status_code == 204


def test_an_anonymous_caller_never_gets_a_staff_cached_tile(engine, client):
    hidden, lon, lat = _one(engine, "SELECT id, ST_X(geom), ST_Y(geom) FROM child_sites "
                                    "WHERE NOT is_public ORDER BY id LIMIT 1")
    row, col = _tile_of(lon, lat, 13)
    urls = [f"/tiles/WebMercatorQuad/13/{row}/{col}",
            f"/collections/child_sites/tiles/WebMercatorQuad/13/{row}/{col}"]
    cache: TileCache = client.app.state.tile_cache
    cache.clear()
    planner, admin = login(client, "planner"), login(client, "admin")
    for url in urls:
        staff = client.get(url, headers=planner)
        assert staff.headers["cache-control"].startswith("private")
        assert hidden in _names(staff.content, "child_sites")
        assert client.get(url, headers=admin).content == staff.content
        public = client.get(url)  # the staff tile is cached; the public one is its own
        assert public.headers["cache-control"].startswith("public")
        assert not public.content or hidden not in _names(public.content, "child_sites")
        assert public.content != staff.content
    assert {key[4] for key in cache.held()} == {"planner", "admin", "anonymous"}
    assert len(cache) == 3 * len(urls)


def test_the_cache_is_bounded():
    tile = EncodedTile(b"x" * 100, '"t"')
    cache = TileCache(10 * (100 + ENTRY_OVERHEAD))
    for i in range(50):
        cache.put(("care_map", 14, i, 0, "anonymous", (1,)), tile)
        if i >= 1:
            assert cache.get(("care_map", 14, 1, 0, "anonymous", (1,))) is tile  # kept in use
        assert cache.bytes_used <= cache.max_bytes
    assert len(cache) == 10
    assert cache.get(("care_map", 14, 1, 0, "anonymous", (1,))) is tile
    assert cache.get(("care_map", 14, 2, 0, "anonymous", (1,))) is None  # least recently used
    cache.put(("care_map", 0, 0, 0, "anonymous", (1,)), EncodedTile(b"y" * 10_000, '"y"'))
    assert len(cache) == 10 and cache.bytes_used <= cache.max_bytes  # too big: not kept
    off = TileCache(0)
    off.put(("care_map", 14, 0, 0, "anonymous", (1,)), tile)
    assert len(off) == 0


def test_every_change_of_a_layer_bumps_its_version(engine):
    def versions() -> dict[str, int]:
        with engine.connect() as conn:
            return tiles.layer_versions(conn)

    start = versions()
    assert set(start) >= {"admin_areas", "eldercare_sites", "child_sites", "funeral_sites",
                          "place_names"}
    with engine.begin() as conn:
        conn.execute(text("UPDATE child_sites SET phone = phone WHERE id = (SELECT min(id) "
                          "FROM child_sites)"))
    after = versions()
    assert after["child_sites"] == start["child_sites"] + 1
    assert {k: v for k, v in after.items() if k != "child_sites"} == {
        k: v for k, v in start.items() if k != "child_sites"}
    with pytest.raises(Exception, match="violates"), engine.begin() as conn:
        conn.execute(text("UPDATE child_sites SET capacity = -1"))  # rolled back: no bump
    assert versions() == after


def test_a_re_created_version_table_never_matches_old_tiles(engine, client):
    """A restore brings back counters a running worker may have cached tiles under."""
    fid, lon, lat = _one(engine, "SELECT id, ST_X(geom), ST_Y(geom) FROM funeral_sites "
                                 "WHERE is_public ORDER BY id LIMIT 1")
    row, col = _tile_of(lon, lat, 14)
    url = f"/collections/funeral_sites/tiles/WebMercatorQuad/14/{row}/{col}"
    before = client.get(url)
    old_version = _one(engine, "SELECT version FROM layer_versions "
                               "WHERE layer = 'funeral_sites'")[0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE funeral_sites SET name = name || '(恢复后)' WHERE id = :i"),
                     {"i": fid})
        conn.execute(text("CREATE TEMP TABLE saved ON COMMIT DROP AS "
                          "SELECT * FROM layer_versions"))
        conn.execute(text("DROP TABLE layer_versions"))
        conn.execute(text("CREATE TABLE layer_versions (layer text PRIMARY KEY, "
                          "version bigint NOT NULL DEFAULT 0)"))
        conn.execute(text("INSERT INTO layer_versions SELECT * FROM saved"))
        conn.execute(text("UPDATE layer_versions SET version = :v "
                          "WHERE layer = 'funeral_sites'"), {"v": old_version})
    _after_change(client)
    after = client.get(url)
    assert _names(after.content, "funeral_sites")[fid] == (
        _names(before.content, "funeral_sites")[fid] + "(恢复后)")


@contextmanager
def _queries(engine: Engine) -> Iterator[list[str]]:
    """Every statement `engine` sends inside the block."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_a_hit_within_the_ttl_sends_no_query_and_a_change_shows_after_it(engine, client):
    versions: LayerVersionCache = client.app.state.layer_versions
    fid, lon, lat = _one(engine, "SELECT id, ST_X(geom), ST_Y(geom) FROM eldercare_sites "
                                 "WHERE is_public ORDER BY id DESC LIMIT 1")
    row, col = _tile_of(lon, lat, 13)
    url = f"/collections/eldercare_sites/tiles/WebMercatorQuad/13/{row}/{col}"
    before = client.get(url)
    with _queries(engine) as sent:
        again = client.get(url)
        assert again.content == before.content
        assert (sent == []) == (versions.ttl_s > 0)  # exact mode reads the versions
        with engine.begin() as conn:
            conn.execute(text("UPDATE eldercare_sites SET name = name || '(改)' "
                              "WHERE id = :i"), {"i": fid})
        sent.clear()
        within = client.get(url)
        if versions.ttl_s > 0:  # still inside the TTL: the kept tile, no query
            assert within.content == before.content and sent == []
            versions.clock.now += versions.ttl_s - 0.01  # type: ignore[attr-defined]
            assert client.get(url).content == before.content
            versions.clock.now += 0.01  # type: ignore[attr-defined]
        changed = client.get(url)
        assert _names(changed.content, "eldercare_sites")[fid] == (
            _names(before.content, "eldercare_sites")[fid] + "(改)")
        assert changed.headers["etag"] != before.headers["etag"]


def test_the_version_cache_trusts_a_read_only_for_its_ttl():
    clock = Clock()
    cache = LayerVersionCache(2.0, clock)
    assert cache.fresh() is None
    cache.store({"eldercare_sites": 3}, clock())
    assert cache.fresh() == {"eldercare_sites": 3}
    clock.now += 1.99
    assert cache.fresh() == {"eldercare_sites": 3}
    cache.store({"eldercare_sites": 2}, clock() - 5)  # an older read never replaces it
    assert cache.fresh() == {"eldercare_sites": 3}
    clock.now += 0.01
    assert cache.fresh() is None
    off = LayerVersionCache(0.0, clock)
    off.store({"eldercare_sites": 3}, clock())
    assert off.fresh() is None


@pytest.mark.parametrize("margin", [0.0, 64 / 4096, 0.5])
def test_tile_bounds_in_closed_form_equal_proj(margin):
    """The spherical Mercator inverse equals PROJ's EPSG:3857 → 4490, at every zoom."""
    rng = np.random.default_rng(7)
    to_lonlat = transformer(3857, 4490)
    size_of = 2 * tiles.HALF_WORLD
    for z in range(0, 23):
        for x, y in rng.integers(0, 2**z, size=(20, 2)):
            size = size_of / 2**z
            minx, maxy = -tiles.HALF_WORLD + x * size, tiles.HALF_WORLD - y * size
            pad = size * margin
            xs = [max(-tiles.HALF_WORLD, minx - pad), min(tiles.HALF_WORLD, minx + size + pad)]
            ys = [max(-tiles.HALF_WORLD, maxy - size - pad), min(tiles.HALF_WORLD, maxy + pad)]
            lon, lat = to_lonlat.transform(xs, ys)
            assert tiles.tile_lonlat_bounds(z, int(y), int(x), margin) == pytest.approx(
                (lon[0], lat[0], lon[1], lat[1]), abs=1e-12)
