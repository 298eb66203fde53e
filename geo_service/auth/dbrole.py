"""Run the service's SQL as the unprivileged `geo_service_app` role (no audit rewrites)."""

from __future__ import annotations

import logging

from psycopg import sql
from sqlalchemy import Engine, event, text

from geo_service.db.engine import uses_local_cluster
from geo_service.settings import Settings

APP_ROLE = "geo_service_app"
log = logging.getLogger("geo_service.auth")


def configured_role(settings: Settings) -> str | None:
    """The role to switch to: the setting, else geo_service_app on the local cluster."""
    setting = settings.auth.app_role
    if setting is not None:
        return setting or None
    return APP_ROLE if uses_local_cluster(settings.database) else None


def use_app_role(engine: Engine, role: str | None) -> bool:
    """Make every new connection of `engine` SET ROLE; False (and a warning) if impossible."""
    if not role:
        return False
    with engine.connect() as conn:
        usable = conn.execute(text("SELECT pg_has_role(current_user, oid, 'USAGE') "
                                   "FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not usable:
        log.warning("database role %s is missing or not granted: the service runs as the "
                    "connecting role (run geo-service db upgrade as a superuser)", role)
        return False
    statement = sql.SQL("SET ROLE {}").format(sql.Identifier(role))

    @event.listens_for(engine, "connect")
    def _set_role(dbapi_connection, _record) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(statement)
        dbapi_connection.commit()

    engine.dispose()  # pooled connections opened before this run as the old role
    return True
