"""Shared record plumbing: row → JSON, locking with If-Match, and the versioned update."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select

from geo_service.boundaries.geometry import as_geojson, from_db
from geo_service.errors import NotFoundError
from geo_service.etags import feature_etag, require_match

GEOMETRY_COLUMNS = ("geom", "measured_geom")


def to_json(row: Any) -> dict[str, Any]:
    """A row as JSON-ready data: geometries as GeoJSON, dates as ISO text."""
    data = dict(row._mapping)
    for key, value in data.items():
        if key in GEOMETRY_COLUMNS:
            data[key] = as_geojson(from_db(value))
        elif isinstance(value, datetime | date):
            data[key] = value.isoformat()
    return data


def etag_of(row: Any) -> str:
    """The record's ETag (same rule as features: id and last change)."""
    return feature_etag(row.id, row.updated_at)


def lock(conn: Connection, table: Table, record_id: int, what: str) -> Any:
    """SELECT … FOR UPDATE the record, or 404 naming it."""
    row = conn.execute(select(table).where(table.c.id == record_id).with_for_update()).first()
    if row is None:
        raise NotFoundError(f"{what} {record_id} not found")
    return row


def check_if_match(row: Any, if_match: str | None, what: str, *, required: bool = True) -> None:
    """428 without If-Match (when required), 412 when it names an older version."""
    require_match(if_match, etag_of(row), f"{what} {row.id}", required=required)


def touch(conn: Connection, table: Table, record_id: int, **values: Any) -> Any:
    """Update a record, setting updated_at to the clock; returns the new row."""
    return conn.execute(table.update().where(table.c.id == record_id)
                        .values(**values, updated_at=func.clock_timestamp())
                        .returning(table)).one()
