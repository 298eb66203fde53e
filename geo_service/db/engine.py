"""Resolve the database (external URL or embedded cluster) and hand out SQLAlchemy engines."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError

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


# A pooled connection idle longer than this is pinged before use (a restarted database is
# then met by a fresh connection); one in steady use is not, which saves a round trip.
PING_AFTER_IDLE_S = 5.0


def make_engine(url: str, settings: DatabaseSettings | None = None) -> Engine:
    """A pooled engine with the statement timeout and an application name set."""
    settings = settings or DatabaseSettings.model_construct()  # library defaults, no env
    options = f"-c statement_timeout={int(settings.statement_timeout_ms)}"
    engine = create_engine(
        url,
        pool_size=settings.pool_size,
        connect_args={"options": options, "application_name": "geo_service", "connect_timeout": 10},
    )
    ping_after_idle(engine)
    return engine


def ping_after_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout when it has been idle PING_AFTER_IDLE_S or more;
    a dead one is replaced by a new connection (the pool retries)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi)
        except Exception as exc:  # the server went away: let the pool reconnect
            raise DisconnectionError(f"pooled connection died while idle: {exc}") from exc


# A new backend loads PostGIS, PROJ's 4490 → 3857/4544 transforms and the MVT encoder on
# first use (about 45 ms): pay that when the pool is filled, not on a user's first tile.
_WARM_UP = text(
    "SELECT ST_AsMVT(t) FROM (SELECT ST_AsMVTGeom(ST_Transform(p, 3857), ST_TileEnvelope(0, 0, 0))"
    " AS g, ST_AsGeoJSON(ST_Transform(p, 4544)) AS m FROM (SELECT ST_SetSRID("
    "ST_MakePoint(105.7, 29.7), 4490) AS p) s) t")


def fill_pool(engine: Engine, count: int) -> None:
    """Open `count` pooled connections now, each warmed up for PostGIS (a server's first busy
    second then opens none and loads nothing)."""
    opened = []
    try:
        for _ in range(count):
            conn = engine.connect()
            opened.append(conn)
            with contextlib.suppress(DBAPIError):  # no PostGIS yet (unmigrated): nothing to warm
                conn.execute(_WARM_UP)
            conn.rollback()
    finally:
        for conn in opened:
            conn.close()


def open_engine(settings: DatabaseSettings) -> Engine:
    """An engine on the configured database (the local cluster started if it is that)."""
    return make_engine(resolve_url(settings), settings)


def redact(url: str) -> str:
    """A URL safe to print: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)
