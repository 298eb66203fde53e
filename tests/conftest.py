"""Test fixtures: throwaway PostGIS databases on the real server (local cluster or external)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from geo_service.db import migrate
from geo_service.db.engine import make_engine, resolve_url
from geo_service.db.models import LAYER_TABLES
from geo_service.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def _uses_browser(module: object) -> bool:
    """True when a test module drives Chromium (it imports something from playwright)."""
    return any(getattr(value, "__module__", "").startswith("playwright")
               for value in vars(module).values())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests `db` (they use PostGIS) and `browser` (they use Chromium), for -m."""
    for item in items:
        if "database_factory" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)
        module = getattr(item, "module", None)
        if module is not None and _uses_browser(module):
            item.add_marker(pytest.mark.browser)


def _server_url() -> str:
    """The configured server (external URL, or the local cluster started on demand)."""
    return resolve_url(Settings().database)


def _admin_conninfo(url: str) -> str:
    """psycopg conninfo of the server's maintenance database."""
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)


@pytest.fixture(scope="session")
def database_factory() -> Iterator:
    """Creates throwaway databases on the server and drops them at the end of the session."""
    server = _server_url()
    created: list[str] = []

    def create(label: str) -> str:
        name = f"geo_test_{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(_admin_conninfo(server), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return make_url(server).set(database=name).render_as_string(hide_password=False)

    yield create
    with psycopg.connect(_admin_conninfo(server), autocommit=True) as conn:
        for name in created:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture(scope="session")
def db_url(database_factory) -> str:
    """URL of an empty, migrated throwaway database."""
    url = database_factory("layers")
    migrate.upgrade(make_engine(url))
    return url


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """Engine on the migrated throwaway database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def empty_layers(engine: Engine) -> Engine:
    """The throwaway database with every layer table emptied."""
    tables = ", ".join([*LAYER_TABLES, "neighbour_areas", "ingest_runs"])
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(scope="session")
def sample_url(database_factory) -> str:
    """URL of a throwaway database holding the 大足 sample."""
    from geo_service.sample import load_sample

    url = database_factory("sample")
    eng = make_engine(url)
    migrate.upgrade(eng)
    load_sample(eng)
    eng.dispose()
    return url


@pytest.fixture(scope="session")
def sample_engine(sample_url: str) -> Iterator[Engine]:
    """Engine on the sample database."""
    eng = make_engine(sample_url)
    yield eng
    eng.dispose()


@pytest.fixture
def district_loaded(empty_layers: Engine) -> Engine:
    """Empty layers plus the sample's district, townships and villages (for position checks)."""
    from geo_service.sample import load_admin_areas

    load_admin_areas(empty_layers)
    return empty_layers


@pytest.fixture
def cli_env(db_url: str) -> dict[str, str]:
    """Environment for running the CLI as a subprocess against the throwaway database."""
    env = dict(os.environ)
    env["GEO_SERVICE_DATABASE_URL"] = db_url.replace("postgresql+psycopg", "postgresql")
    return env


@pytest.fixture(scope="session")
def live_server(sample_url: str, tmp_path_factory) -> Iterator[str]:
    """The real service (`geo-service serve`) on a free port over the sample; yields its URL."""
    from geo_service.devserver import running_service

    media = str(tmp_path_factory.mktemp("media"))
    log = tmp_path_factory.mktemp("server") / "server.log"
    with running_service(sample_url, log=log, GEO_SERVICE_MEDIA_DIR=media) as base:
        yield base
