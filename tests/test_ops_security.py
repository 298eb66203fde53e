"""Security hygiene of the HTTP service: CSRF on cookie writes, no shared caching of staff
answers, page security headers, and hostile input answered 4xx."""

from __future__ import annotations

import io
import re

import pytest
from accounts_helpers import PASSWORD, add_users, login, unlimited_app, writable_sample
from fastapi.testclient import TestClient
from PIL import Image

from geo_service.api.deps import get_principal
from geo_service.ops.roles_doc import api_routes
from geo_service.settings import AuthSettings

FOREIGN = {"Origin": "https://evil.dazu.example"}
SIBLING = {"Sec-Fetch-Site": "same-site", "Origin": "http://testserver"}
OWN = {"Origin": "http://testserver"}
CSRF_WORDS = "must come from this service's own pages"
# logout would end the walk's own token; suggest with {} is issue 18's IndexError
UNWALKED = {"/auth/logout", "/coverage/suggest"}


@pytest.fixture(scope="module")
def app(database_factory):
    engine = writable_sample(database_factory, "security")
    add_users(engine, "admin", "planner", "boundary_officer")
    app = unlimited_app(engine)
    yield app
    engine.dispose()


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def _cookie_client(app, username: str) -> TestClient:
    client = TestClient(app)
    response = client.post("/auth/login", data={"username": username, "password": PASSWORD},
                           headers=OWN)
    assert response.status_code == 200, response.text
    assert client.cookies.get(AuthSettings().cookie_name)
    return client


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _unsafe_operations(app) -> list[tuple[str, str, bool]]:
    """(method, path, is multipart) of every state-changing operation."""
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, op in operations.items():
            if method in {"post", "put", "patch", "delete"}:
                content = op.get("requestBody", {}).get("content", {})
                found.append((method.upper(), path, "multipart/form-data" in content))
    return found


def test_cross_origin_cookie_writes_are_403(app):
    officer = _cookie_client(app, "admin")
    operations = _unsafe_operations(app)
    multipart = [path for _, path, is_multipart in operations if is_multipart]
    assert len(multipart) >= 3  # the photo uploads
    for method, path, is_multipart in operations:
        kwargs = ({"files": {"file": ("p.png", _png(), "image/png")}} if is_multipart
                  else {"json": {}})
        for headers in (FOREIGN, SIBLING, {}):
            response = officer.request(method, _concrete(path), headers=headers, **kwargs)
            assert response.status_code == 403, (method, path, headers, response.text)
            assert CSRF_WORDS in response.json()["detail"]
    refused = officer.post("/auth/logout", headers=FOREIGN)
    assert refused.status_code == 403
    assert officer.get("/auth/me").json()["username"] == "admin"  # still logged in


def test_same_origin_cookie_writes_and_bearer_tokens_pass(app, client):
    officer = _cookie_client(app, "boundary_officer")
    files = {"file": ("p.png", _png(), "image/png")}
    assert officer.post("/boundaries/photos", files=files, headers=OWN).status_code == 201
    fetched = officer.post("/boundaries/photos", files=files,
                           headers={"Sec-Fetch-Site": "same-origin"})
    assert fetched.status_code == 201
    bearer = login(client, "boundary_officer")
    assert client.post("/boundaries/photos", files=files,
                       headers={**bearer, **FOREIGN}).status_code == 201
    assert officer.post("/auth/logout", headers=OWN).json()["detail"] == "logged out"
    assert officer.get("/auth/me").json()["role"] == "public"


def test_login_from_a_foreign_page_is_refused(client):
    response = client.post("/auth/login", data={"username": "admin", "password": PASSWORD},
                           headers=FOREIGN)
    assert response.status_code == 403 and CSRF_WORDS in response.json()["detail"]


def _uses_principal(dependant) -> bool:
    return any(d.call is get_principal or _uses_principal(d) for d in dependant.dependencies)


def test_every_staff_answer_is_private_and_varies_on_login(app, client):
    planner = login(client, "planner")
    checked = 0
    for route in api_routes(app.routes):
        if not _uses_principal(route.dependant) or route.path in UNWALKED:
            continue
        for method in sorted(route.methods - {"HEAD"}):
            path = _concrete(route.path).replace("/1/1/1", "/10/420/830")
            response = client.request(method, path, headers=planner,
                                      json={} if method != "GET" else None)
            if response.status_code == 401:  # a route this role may not use said so
                continue
            cache = response.headers.get("cache-control", "")
            vary = {v.strip().lower() for v in response.headers.get("vary", "").split(",")}
            assert "private" in cache and "public" not in cache, (method, path, cache)
            assert {"authorization", "cookie"} <= vary, (method, path, vary)
            checked += 1
    assert checked >= 40
    for path in ("/places/search?q=宝顶", "/places/reverse?lon=105.72&lat=29.7",
                 "/places/hierarchy?name=大足区", "/places/export.xlsx", "/boundaries/lines",
                 "/indicators"):
        response = client.get(path, headers=planner)
        assert response.status_code == 200, path
        assert response.headers["cache-control"] == "private, no-store", path
    public = client.get("/places/search?q=宝顶")
    assert "private" not in public.headers.get("cache-control", "")


@pytest.mark.parametrize(("label", "method", "url", "body", "status", "words"), [
    ("1e400 in a geometry literal", "GET", "/collections/eldercare_sites/items?filter="
     "S_INTERSECTS(geometry, POINT(1e400 0))", None, 400, "not a finite number"),
    ("NaN in a geometry literal", "GET", "/collections/eldercare_sites/items?filter-lang="
     "cql2-json&filter=" + '{"op":"s_intersects","args":[{"property":"geometry"},'
     '{"type":"Point","coordinates":[NaN,0]}]}', None, 400, "filter"),
    ("1e400 in a BBOX literal", "GET", "/collections/eldercare_sites/items?filter="
     "S_INTERSECTS(geometry, BBOX(0, 0, 1e400, 1))", None, 400, "not a finite number"),
    ("NUL in a path", "GET", "/boundaries/field/%00", None, 400, "NUL"),
    ("NUL in a static path", "GET", "/map/static/a%00b.js", None, 400, "NUL"),
    ("lone surrogate in a feature", "POST", "/collections/eldercare_sites/items",
     b'{"type":"Feature","properties":{"name":"\\ud800","kind":"\\u8001\\u5e74\\u98df\\u5802"},'
     b'"geometry":{"type":"Point","coordinates":[105.72,29.70]}}', 400, "not valid Unicode"),
    ("NaN in a coverage body", "POST", "/coverage",
     b'{"kinds":["\\u8001\\u5e74\\u98df\\u5802"],"radius_m":NaN}', 422, "radius_m"),
    ("Infinity in a coverage body", "POST", "/coverage",
     b'{"kinds":["\\u8001\\u5e74\\u98df\\u5802"],"radius_m":-Infinity}', 422, "radius_m"),
])
def test_hostile_input_is_a_clear_4xx(client, label, method, url, body, status, words):
    admin = login(client, "admin")
    headers = {**admin, "content-type": "application/json"}
    response = client.request(method, url, content=body, headers=headers)
    assert response.status_code == status, (label, response.text)
    assert words in response.text, (label, response.text)


@pytest.mark.parametrize(("username", "password", "words"), [
    ("clerk", "1234567890", "at least 12"),
    ("clerk", "password12", "at least 12"),
    ("clerk", "qwertyuiop123", "common passwords"),
    ("zhangsan", "zhangsan", "at least 12"),
    ("zhangsan2026", "zhangsan2026", "user name"),
    ("zhangsan", "ZhangSan-2026-abc", "user name"),
    ("clerk", "123456789012", "easy to guess"),
    ("clerk", "passwordpassword", "easy to guess"),
])
def test_password_policy_refuses_weak_passwords(username, password, words):
    from geo_service.auth.passwords import WeakPasswordError, check_strength

    with pytest.raises(WeakPasswordError, match=words):
        check_strength(password, username)


def test_password_policy_accepts_a_passphrase_and_applies_to_accounts(app):
    from geo_service.auth import users
    from geo_service.auth.passwords import WeakPasswordError, check_strength

    check_strength("界桩-field-pass-2026", "officer")
    with app.state.engine.begin() as conn, pytest.raises(WeakPasswordError):
        users.add_user(conn, "weakling", "password1234", "planner")
    with app.state.engine.begin() as conn, pytest.raises(WeakPasswordError):
        users.set_password(conn, "planner", "planner-planner")
