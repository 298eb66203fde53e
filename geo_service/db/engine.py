"""Resolve the database (external URL or embedded cluster) and hand out SQLAlchemy engines."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from geo_service.db.cluster import LocalCluster
from geo_service.errors import DatabaseUnavailableError
from geo_service.settings import DatabaseSettings, database_settings


def sqlalchemy_url(url: str) -> str:
    """Normalise a postgresql:// URL to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailableError(
            f"GEO_SERVICE_DATABASE_URL must be a postgresql:// URL, not {parsed.drivername}://"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def uses_local_cluster(settings: DatabaseSettings | None = None) -> bool:
    """True when no external database is configured."""
    return not (settings or database_settings()).database_url


def resolve_url(settings: DatabaseSettings | None = None, *, start: bool = True) -> str:
    """The URL every command uses; starts the embedded cluster if that is the database."""
    settings = settings or database_settings()
    if settings.database_url:
        return sqlalchemy_url(settings.database_url)
    cluster = LocalCluster.from_settings(settings)
    if start:
        cluster.start()
    elif not cluster.is_initialised():
        raise DatabaseUnavailableError("the local PostGIS is not set up: run geo-service db start")
    return cluster.url()


def make_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    """A pooled engine with the statement timeout and an application name set."""
    settings = settings or database_settings()
    options = f"-c statement_timeout={int(settings.statement_timeout_ms)}"
    return create_engine(
        url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": options, "application_name": "geo_service", "connect_timeout": 10},
    )


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return make_engine(resolve_url())


def redact(url: str) -> str:
    """A URL safe to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
