"""Shared helpers of the accounts/editing/ops tests: a writable sample DB, users, tokens."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from geo_service.auth import users
from geo_service.db import migrate
from geo_service.db.engine import make_engine

PASSWORD = "correct horse battery"


def writable_sample(database_factory, label: str) -> Engine:
    """A fresh database of our own with the 大足 sample loaded (tests may write to it)."""
    from geo_service.sample import load_sample

    engine = make_engine(database_factory(label))
    migrate.upgrade(engine)
    load_sample(engine)
    return engine


def add_users(engine: Engine, *roles: str) -> None:
    """One user per role, named after the role."""
    with engine.begin() as conn:
        for role in roles:
            users.add_user(conn, role, PASSWORD, role)


def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Authorization headers for a user (OAuth2 password flow)."""
    response = client.post("/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def unlimited_app(engine: Engine) -> FastAPI:
    """The app on `engine` with the anonymous rate limit off (tests send many requests)."""
    import pytest

    from geo_service.api.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
        return create_app(engine)
