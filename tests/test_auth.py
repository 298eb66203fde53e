"""Accounts: argon2 users, bearer tokens and cookies, logout, roles, throttling, no leaks."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys

import pytest
from accounts_helpers import PASSWORD, add_users, login, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app


@pytest.fixture(scope="module")
def acc_engine(database_factory):
    engine = writable_sample(database_factory, "auth")
    add_users(engine, "planner", "boundary_officer", "data_editor", "admin")
    yield engine
    engine.dispose()


@pytest.fixture
def client(acc_engine, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
    with TestClient(create_app(acc_engine)) as test_client:
        yield test_client


def test_cli_adds_lists_changes_and_disables_users(database_factory):
    url = database_factory("auth_cli")
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url.replace("postgresql+psycopg",
                                                                "postgresql"))

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "geo_service.cli", "user", *args],
                              input=stdin, env=env, capture_output=True, text=True, timeout=120)

    added = cli("add", "chief", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "chief added with role admin" in added.stdout
    again = cli("add", "chief", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "exists already" in again.stderr
    weak = cli("add", "weakling", "--role", "planner", "--password-stdin", stdin="short\n")
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    bad_role = cli("add", "x1", "--role", "god", "--password-stdin", stdin=PASSWORD + "\n")
    assert bad_role.returncode == 1 and "unknown role 'god'" in bad_role.stderr
    assert cli("set-role", "chief", "planner").returncode == 0
    assert cli("disable", "chief").returncode == 0
    listing = cli("list")
    assert "chief" in listing.stdout and "planner" in listing.stdout and "no" in listing.stdout
    from geo_service.db.engine import make_engine

    with make_engine(url).connect() as conn:
        row = conn.execute(text("SELECT password_hash, role, is_active FROM users "
                                "WHERE username = 'chief'")).one()
    assert row.password_hash.startswith("$argon2id$") and PASSWORD not in row.password_hash
    assert (row.role, row.is_active) == ("planner", False)


def test_token_login_me_and_logout(client, acc_engine):
    response = client.post("/auth/token", data={"username": "planner", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "planner"
    assert 0 < body["expires_in"] <= 30 * 60
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/auth/me", headers=headers).json() == {
        "username": "planner", "role": "planner", "authenticated": True}
    with acc_engine.connect() as conn:  # only the hash of the token is stored
        stored = conn.execute(text("SELECT token_hash FROM sessions WHERE token_hash = :h"), {
            "h": hashlib.sha256(body["access_token"].encode()).hexdigest()}).scalar()
        raw = conn.execute(text("SELECT count(*) FROM sessions WHERE token_hash = :t"),
                           {"t": body["access_token"]}).scalar()
    assert stored is not None and raw == 0
    assert client.post("/auth/logout", headers=headers).json()["detail"] == "logged out"
    after = client.get("/auth/me", headers=headers)
    assert after.status_code == 401 and "log in again" in after.json()["detail"]
    assert client.get("/auth/me").json()["role"] == "public"


def test_cookie_login_for_the_web_app(client):
    response = client.post("/auth/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 200 and response.json()["role"] == "admin"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback; https sets Secure
    assert client.get("/auth/me").json()["username"] == "admin"  # the client keeps the cookie
    assert client.get("/admin/users").status_code == 200
    assert client.post("/auth/logout").status_code == 403  # a cookie write needs an Origin
    client.post("/auth/logout", headers={"Origin": "http://testserver"})
    assert client.get("/auth/me").json()["role"] == "public"
    assert client.get("/admin/users").status_code == 401


def test_wrong_password_and_brute_force_throttling(client):
    for _ in range(4):
        wrong = client.post("/auth/token", data={"username": "data_editor",
                                                 "password": "wrong-password-1"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    locked = client.post("/auth/token", data={"username": "data_editor",
                                              "password": "wrong-password-1"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert "too many failed logins" in locked.json()["detail"]
    still = client.post("/auth/token", data={"username": "DATA_EDITOR", "password": PASSWORD})
    assert still.status_code == 429  # even the right password waits out the lockout
    other = client.post("/auth/token", data={"username": "boundary_officer",
                                             "password": PASSWORD})
    assert other.status_code == 200  # other accounts are not locked


def test_unknown_user_is_the_same_401(client):
    response = client.post("/auth/token", data={"username": "nobody", "password": PASSWORD})
    assert response.status_code == 401
    assert response.json()["detail"].startswith("wrong user name or password")


def test_disabling_a_user_ends_their_sessions(client, acc_engine):
    from geo_service.auth import users

    with acc_engine.begin() as conn:
        users.add_user(conn, "temp_editor", PASSWORD, "data_editor")
    headers = login(client, "temp_editor")
    assert client.get("/auth/me", headers=headers).json()["authenticated"] is True
    with acc_engine.begin() as conn:
        users.set_active(conn, "temp_editor", False)
    assert client.get("/auth/me", headers=headers).status_code == 401
    again = client.post("/auth/token", data={"username": "temp_editor", "password": PASSWORD})
    assert again.status_code == 401


def test_roles_are_checked_in_one_place(client):
    assert client.get("/admin/audit").status_code == 401
    assert client.get("/admin/audit").headers["www-authenticate"] == "Bearer"
    planner = client.get("/admin/audit", headers=login(client, "planner"))
    assert planner.status_code == 403 and "needs admin" in planner.json()["detail"]
    admin = client.get("/admin/audit", params={"action": "login"},
                       headers=login(client, "admin"))
    assert admin.status_code == 200
    assert {e["actor"] for e in admin.json()["entries"]} >= {"planner", "admin"}


def test_every_endpoint_states_its_role(client):
    roles = ("public", "any user", "planner", "officer", "data_editor", "admin")
    paths = client.get("/openapi.json").json()["paths"]
    every = [(p, m, op) for p, ops in paths.items() for m, op in ops.items()]
    assert len(every) >= 60
    for path, method, op in every:  # all of them, not only the accounts' own
        said = " ".join(re.findall(r"\(([^()]*)\)", op.get("summary", "")))
        assert any(r in said for r in roles), (path, method, op.get("summary"))
    summary = {(p, m): op["summary"] for p, m, op in every}
    assert summary[("/places/search", "get")].endswith("(public)")
    assert summary[("/admin/audit", "get")].endswith("(admin)")


def test_a_public_label_is_never_on_a_guarded_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path, ops in paths.items():
        for method, op in ops.items():
            if "(public" in op["summary"] and "{" not in path and method == "get":
                status = client.get(path).status_code
                assert status not in (401, 403), (path, op["summary"], status)
