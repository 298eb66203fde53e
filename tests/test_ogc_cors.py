"""CORS of the public OGC API: web pages on other origins read it anonymously; a staff
member's login cookie is never shared with another origin unless that origin is configured."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo_service.settings import AuthSettings

OTHER = "http://maps.example.org"
COOKIE = AuthSettings().cookie_name
PUBLIC_GETS = [
    "/", "/api", "/conformance", "/collections", "/collections/child_sites",
    "/collections/child_sites/items?limit=2", "/collections/child_sites/items/1",
    "/collections/child_sites/queryables", "/collections/child_sites/download?format=csv",
    "/tiles", "/tiles/WebMercatorQuad", "/tiles/WebMercatorQuad/tilejson.json",
    "/tiles/WebMercatorQuad/12/1690/3251", "/collections/child_sites/tiles/WebMercatorQuad",
    "/collections/child_sites/tiles/WebMercatorQuad/tilejson.json",
    "/tileMatrixSets", "/tileMatrixSets/WebMercatorQuad",
]


def _app(sample_engine, monkeypatch, **env: str) -> TestClient:
    from geo_service.api.app import create_app

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return TestClient(create_app(sample_engine))


@pytest.fixture(scope="module")
def client(sample_engine):
    from geo_service.api.app import create_app

    with TestClient(create_app(sample_engine)) as c:
        yield c


@pytest.mark.parametrize("path", PUBLIC_GETS)
def test_every_public_ogc_resource_is_shared_with_any_origin(client, path):
    got = client.get(path, headers={"Origin": OTHER})
    assert got.status_code in (200, 204), (path, got.status_code)
    assert got.headers["access-control-allow-origin"] == "*"
    assert "ETag" in got.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in got.headers
    assert "Origin" in got.headers["vary"]
    head = client.head(path, headers={"Origin": OTHER})
    assert head.status_code == got.status_code and head.content == b""
    assert head.headers["access-control-allow-origin"] == "*"


def test_errors_are_readable_cross_origin(client):
    got = client.get("/collections/child_sites/items", headers={"Origin": OTHER},
                     params={"filter": "nonsense ="})
    assert got.status_code == 400 and got.headers["access-control-allow-origin"] == "*"


def test_preflight(client):
    got = client.options("/collections/child_sites/items", headers={
        "Origin": OTHER, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "if-none-match"})
    assert got.status_code == 204 and got.headers["access-control-allow-origin"] == "*"
    assert "GET" in got.headers["access-control-allow-methods"]
    assert "If-None-Match" in got.headers["access-control-allow-headers"]
    assert int(got.headers["access-control-max-age"]) > 0
    post = client.options("/collections/child_sites/items", headers={
        "Origin": OTHER, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in post.headers


def test_cookie_requests_and_other_paths_are_not_shared(client):
    cookie = client.get("/collections/child_sites/items", headers={
        "Origin": OTHER, "Cookie": f"{COOKIE}=some-session"})
    assert cookie.status_code == 200
    assert not any(k.startswith("access-control-") for k in cookie.headers)
    tile = client.get("/tiles/WebMercatorQuad/12/1690/3251", headers={
        "Origin": OTHER, "Cookie": f"{COOKIE}=some-session"})
    assert "access-control-allow-origin" not in tile.headers
    for path in ("/auth/me", "/map", "/places/search?q=棠香"):
        got = client.get(path, headers={"Origin": OTHER})
        assert "access-control-allow-origin" not in got.headers, path
    same_origin = client.get("/collections")
    assert "access-control-allow-origin" not in same_origin.headers


def test_configured_origins(sample_engine, monkeypatch):
    staff_site = "https://gis.dazu.example"
    with _app(sample_engine, monkeypatch, GEO_SERVICE_CORS_ORIGINS=f"{OTHER}, https://b.example",
              GEO_SERVICE_CORS_CREDENTIAL_ORIGINS=staff_site) as c:
        listed = c.get("/collections", headers={"Origin": OTHER})
        assert listed.headers["access-control-allow-origin"] == OTHER
        unlisted = c.get("/collections", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in unlisted.headers
        staff = c.get("/collections", headers={"Origin": staff_site,
                                               "Cookie": f"{COOKIE}=some-session"})
        assert staff.headers["access-control-allow-origin"] == staff_site
        assert staff.headers["access-control-allow-credentials"] == "true"
        listed_cookie = c.get("/collections", headers={"Origin": OTHER,
                                                       "Cookie": f"{COOKIE}=x"})
        assert "access-control-allow-origin" not in listed_cookie.headers
        preflight = c.options("/tiles/WebMercatorQuad/tilejson.json", headers={
            "Origin": staff_site, "Access-Control-Request-Method": "GET"})
        assert preflight.headers["access-control-allow-credentials"] == "true"
