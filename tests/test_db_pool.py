"""The engine's pool: a connection in steady use is not pinged (one round trip saved per
request); one idle for PING_AFTER_IDLE_S is, and a dead one is replaced unseen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from geo_service.db import engine as engine_module
from geo_service.db.engine import fill_pool, make_engine


@pytest.fixture
def pooled(db_url: str, monkeypatch) -> Iterator[tuple[Engine, list[object]]]:
    """A fresh engine whose pings are counted."""
    engine = make_engine(db_url)
    pings: list[object] = []
    ping = engine.dialect.do_ping

    def counted(dbapi: object) -> bool:
        pings.append(dbapi)
        return ping(dbapi)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    yield engine, pings
    engine.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_steady_use_is_not_pinged(pooled):
    engine, pings = pooled
    first = _pid(engine)
    assert [_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_an_idle_connection_is_pinged_and_a_dead_one_replaced(pooled, monkeypatch):
    engine, pings = pooled
    first = _pid(engine)
    other = make_engine(engine.url.render_as_string(hide_password=False))
    with other.connect() as conn:  # the server drops the pooled connection
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": first})
    other.dispose()
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)  # it has been idle long
    second = _pid(engine)  # no error: the ping found it dead and the pool reconnected
    assert second != first
    assert pings


def test_eight_concurrent_requests_keep_their_connections(pooled):
    """The bench's concurrency: no connection is closed after use and opened again."""
    engine, _ = pooled

    def pids() -> set[int]:
        conns = [engine.connect() for _ in range(8)]
        try:
            return {int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()) for c in conns}
        finally:
            for c in conns:
                c.close()

    first = pids()
    assert len(first) == 8
    assert pids() == first


def test_a_filled_pool_answers_a_burst_with_the_connections_it_opened(pooled):
    engine, _ = pooled
    fill_pool(engine, 8)
    assert engine.pool.checkedin() == 8
    opened = {int(r[0]) for r in _pids_of(engine, 8)}
    assert len(opened) == 8 and engine.pool.checkedin() == 8  # none opened, none closed


def _pids_of(engine: Engine, count: int) -> list[tuple[int]]:
    conns = [engine.connect() for _ in range(count)]
    try:
        return [(int(c.execute(text("SELECT pg_backend_pid()")).scalar_one()),) for c in conns]
    finally:
        for c in conns:
            c.close()


def test_a_filled_pool_has_postgis_and_proj_loaded_in_every_connection(pooled):
    # a backend's first ST_Transform loads PROJ (about 40 ms): fill_pool pays it at start
    engine, _ = pooled
    engine.dispose()
    fill_pool(engine, 4)
    conns = [engine.connect() for _ in range(4)]
    try:
        loaded = [set(c.execute(text(
            "SELECT name FROM pg_backend_memory_contexts WHERE name IN "
            "('Proj Context', 'PostGIS Constants Context')")).scalars()) for c in conns]
    finally:
        for c in conns:
            c.close()
    assert loaded == [{"Proj Context", "PostGIS Constants Context"}] * 4
