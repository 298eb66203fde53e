"""Hostile input (quick part of bench/hostile.py): schemathesis on the accounts, editing and
ops endpoints, SQL injection in the audit filters, crafted GeoJSON."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from accounts_helpers import add_users, login, writable_sample
from fastapi.testclient import TestClient

from geo_service.api.app import create_app

_SPEC = importlib.util.spec_from_file_location(
    "bench_hostile", Path(__file__).resolve().parents[1] / "bench" / "hostile.py")
hostile = importlib.util.module_from_spec(_SPEC)  # type: ignore[arg-type]
_SPEC.loader.exec_module(hostile)  # type: ignore[union-attr]
MINE = ("/auth", "/admin", "/ready", "/health", "/layers")


@pytest.fixture(scope="module")
def setup(database_factory):
    engine = writable_sample(database_factory, "hostile")
    add_users(engine, "admin")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
        app = create_app(engine)
    with TestClient(app) as client:
        yield client, engine, login(client, "admin")
    engine.dispose()


def test_schemathesis_finds_no_server_errors(setup):
    client, _, admin = setup

    def mine(method: str, path: str) -> bool:
        return path.startswith(MINE) or (
            method != "GET" and path.startswith("/collections/")) or path.endswith("/versions")

    result = hostile.fuzz(client.app, [{}, admin], examples=5, include=mine)
    assert result["operations"] >= 12
    assert not result["failures"], result["failures"][:5]
    assert any(400 <= s < 500 for s in result["statuses"])


def test_sql_injection_in_audit_filters(setup):
    client, _, _ = setup
    admin = login(client, "admin")  # the fuzzer may have logged the first token out
    for attack in hostile.INJECTIONS:
        for name in ("table", "record_id", "actor", "action"):
            response = client.get("/admin/audit", params={name: attack}, headers=admin)
            assert response.status_code in {200, 422}, response.text  # 422: too long
            assert response.status_code == 422 or response.json()["total"] == 0
        assert client.get("/admin/audit", params={"since": attack},
                          headers=admin).status_code == 422
    assert client.get("/admin/audit", headers=admin).json()["total"] > 0  # table intact


def test_crafted_features(setup):
    client, engine, _ = setup
    assert hostile.crafted_features(client, login(client, "admin"), engine) == []
