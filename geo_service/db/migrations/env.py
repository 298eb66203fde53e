"""Alembic environment: runs migrations on the connection the caller hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from geo_service.db.models import metadata

config = context.config


def run_online() -> None:
    """Migrate through the caller's connection, or a URL from the config."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    assert url, "migrations need sqlalchemy.url (see geo_service.db.migrate.alembic_config)"
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_online()
