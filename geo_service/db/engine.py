"""Resolve the database (external URL or embedded cluster) and hand out SQLAlchemy engines."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from geo_service.db.cluster import LocalCluster
from geo_service.errors import DatabaseUnavailableError
from geo_service.settings import DatabaseSettings


def sqlalchemy_url(url: str) -> str:
    """Normalise a postgresql:// URL to the psycopg 3 driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailableError(
            f"GEO_SERVICE_DATABASE_URL must be a postgresql:// URL, not {parsed.drivername}://"
        )
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def uses_local_cluster(settings: DatabaseSettings) -> bool:
    """True when no external database is configured."""
    return not settings.database_url


def resolve_url(settings: DatabaseSettings, *, start: bool = True) -> str:
    """The URL every command uses; starts the embedded cluster if that is the database."""
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
    settings = settings or DatabaseSettings.model_construct()  # library defaults, no env
    options = f"-c statement_timeout={int(settings.statement_timeout_ms)}"
    return create_engine(
        url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": options, "application_name": "geo_service", "connect_timeout": 10},
    )


def open_engine(settings: DatabaseSettings) -> Engine:
    """An engine on the configured database (the local cluster started if it is that)."""
    return make_engine(resolve_url(settings), settings)


def redact(url: str) -> str:
    """A URL safe to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
