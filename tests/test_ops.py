"""Operations: request ids, limits, JSON errors, timeouts, read-only DB, /ready, /metrics."""

from __future__ import annotations

import logging

import pytest
from accounts_helpers import add_users, login, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app
from geo_service.db import migrate
from geo_service.db.engine import make_engine


@pytest.fixture
def sample_client(sample_url):
    engine = make_engine(sample_url)
    with TestClient(create_app(engine)) as client:
        yield client
    engine.dispose()


def test_request_id_in_and_out_and_in_the_log(sample_client):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("geo_service.requests")
    logger.addHandler(handler)
    try:
        given = sample_client.get("/layers", headers={"X-Request-ID": "trace-42"})
        made = sample_client.get("/layers")
        hostile = sample_client.get("/layers", headers={"X-Request-ID": "a b\"<script>"})
    finally:
        logger.removeHandler(handler)
    assert given.headers["x-request-id"] == "trace-42"
    assert len(made.headers["x-request-id"]) == 32
    assert hostile.headers["x-request-id"] != "a b\"<script>"
    entry = next(r for r in records if r.request_id == "trace-42")
    assert (entry.route, entry.status, entry.method) == ("/layers", 200, "GET")
    import json

    from geo_service.ops.logs import JsonFormatter

    line = json.loads(JsonFormatter().format(entry))
    assert line["request_id"] == "trace-42" and line["msg"] == "request" and line["ms"] >= 0


def test_ready_and_metrics(sample_client, database_factory):
    ready = sample_client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    sample_client.get("/layers")
    metrics = sample_client.get("/metrics").text
    assert 'geo_service_http_requests_total{method="GET",route="/layers",status="200"}' in metrics
    assert 'geo_service_http_request_duration_seconds_bucket{le="0.005",method="GET",' \
           'route="/layers"}' in metrics
    sample_client.get("/no/such/path/12345")
    assert 'route="unmatched"' in sample_client.get("/metrics").text
    behind = make_engine(database_factory("ready_old"))
    migrate.upgrade(behind, "0002")
    with TestClient(create_app(behind)) as client:
        response = client.get("/ready")
    assert response.status_code == 503 and response.json()["schema"] == "0002"
    behind.dispose()
    down = make_engine("postgresql+psycopg://nobody:x@127.0.0.1:9/none")
    with TestClient(create_app(down)) as client:
        assert client.get("/ready").status_code == 503


def test_body_size_limit(sample_url, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_MAX_BODY_BYTES", "4096")
    with TestClient(create_app(make_engine(sample_url))) as client:
        big = client.post("/auth/token", content=b"x" * 5000,
                          headers={"content-type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413 and "4096 bytes" in big.json()["detail"]
        chunked = client.post("/auth/token", content=(b"y" * 1024 for _ in range(8)),
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert chunked.status_code == 413 and chunked.json()["request_id"]


def test_anonymous_rate_limit(sample_url, monkeypatch, database_factory):
    monkeypatch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0.5")
    monkeypatch.setenv("GEO_SERVICE_RATE_LIMIT_BURST", "4")
    engine = writable_sample(database_factory, "ratelimit")
    add_users(engine, "planner")
    with TestClient(create_app(engine)) as client:
        statuses = [client.get("/layers").status_code for _ in range(3)]
        headers = login(client, "planner")  # the 4th request: the last token of the burst
        limited = client.get("/layers")
        assert statuses == [200, 200, 200]
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert "too many requests" in limited.json()["detail"]
        assert client.get("/health").status_code == 200  # health checks are not limited
        assert client.get("/layers", headers=headers).status_code == 200  # logged-in users
        forged = client.get("/layers", headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 429  # an unknown token does not skip the limit
    engine.dispose()


def test_errors_are_json_never_a_stack_trace(sample_url):
    from geo_service.settings import DatabaseSettings

    slow = make_engine(sample_url, DatabaseSettings(statement_timeout_ms=200))
    app = create_app(slow)

    @app.get("/_test/boom")
    def boom() -> None:
        raise RuntimeError("secret internals /etc/passwd")

    @app.get("/_test/slow")
    def slow_query() -> None:
        with slow.connect() as conn:
            conn.execute(text("SELECT pg_sleep(3)"))

    with TestClient(app) as client:
        response = client.get("/_test/boom", headers={"X-Request-ID": "boom-1"})
        assert response.status_code == 500
        assert response.json() == {"detail": "internal error", "request_id": "boom-1"}
        timeout = client.get("/_test/slow")
        assert timeout.status_code == 504 and "time limit" in timeout.json()["detail"]
        missing = client.get("/nowhere")
        assert missing.status_code == 404 and missing.json()["detail"]
    slow.dispose()


def test_read_only_database_is_a_clear_503_and_nothing_changes(database_factory):
    engine = writable_sample(database_factory, "readonly")
    add_users(engine, "data_editor")
    with TestClient(create_app(engine)) as client:
        headers = login(client, "data_editor")
        with engine.connect() as conn:
            before = conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar()
            fid, x, y = conn.execute(text(
                "SELECT id, ST_X(geom), ST_Y(geom) FROM eldercare_sites LIMIT 1")).one()
            name = conn.execute(text("SELECT current_database()")).scalar()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        engine.dispose()  # new connections pick up the setting
        body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
                "properties": {"name": "只读测试", "kind": "老年食堂"}}
        response = client.post("/collections/eldercare_sites/items", json=body, headers=headers)
        assert response.status_code == 503 and "read-only" in response.json()["detail"]
        assert response.headers["retry-after"] == "5"
        assert client.get("/layers").status_code == 200  # reads go on
        deleted = client.delete(f"/collections/eldercare_sites/items/{fid}",
                                headers={**headers, "If-Match": "*"})
        assert deleted.status_code == 503
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET default_transaction_read_only = off"))
        conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        assert conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar() == before
    engine.dispose()
