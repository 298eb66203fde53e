"""A throwaway PostGIS database for a bench run, on the configured server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url


def admin_url(url: str) -> str:
    """The server's maintenance database, as a libpq URL with the password."""
    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False)


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False) -> Iterator[str]:
    """Create `prefix_<random>`, migrated to the latest schema; yield its SQLAlchemy URL;
    drop it afterwards unless `keep` (then its URL is printed)."""
    from geo_service.db import migrate
    from geo_service.db.engine import make_engine, resolve_url
    from geo_service.settings import Settings

    server = resolve_url(Settings().database)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url(server), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        yield url
    finally:
        if keep:
            print(f"kept the database: {make_url(url).render_as_string(hide_password=True)}")
        else:
            with psycopg.connect(admin_url(server), autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
