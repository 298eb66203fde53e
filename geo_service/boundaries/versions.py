"""Versions of markers and lines, recorded by the database (migration 0007).

Each committed change of a marker (or its reference objects) or a line gets a new version
with the full data; findings refer to the marker version inspected, inspections to the line
version, so a record reads the same whatever later happens to the markers and lines.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func, select, text

from geo_service.db.models import boundary_line_versions, boundary_marker_versions
from geo_service.errors import NotFoundError


def record_marker(conn: Connection, marker_id: int) -> int:
    """The marker's current version number, recorded first if it changed (this transaction)."""
    return conn.execute(text("SELECT boundary_marker_version(:i)"), {"i": marker_id}).scalar_one()


def record_line(conn: Connection, line_id: int) -> int:
    """The line's current version number, recorded first if it changed (this transaction)."""
    return conn.execute(text("SELECT boundary_line_version(:i)"), {"i": line_id}).scalar_one()


def latest_marker_versions(conn: Connection, marker_ids: list[int]) -> dict[int, int]:
    """The newest recorded version of each marker."""
    if not marker_ids:
        return {}
    rows = conn.execute(select(boundary_marker_versions.c.marker_id,
                               func.max(boundary_marker_versions.c.version))
                        .where(boundary_marker_versions.c.marker_id.in_(marker_ids))
                        .group_by(boundary_marker_versions.c.marker_id)).all()
    return {r[0]: r[1] for r in rows}


def _data_at(conn: Connection, table: Table, key: str, record_id: int, version: int,
             what: str) -> dict[str, Any]:
    """The data of a marker or line at `version` (404 naming it)."""
    data = conn.execute(select(table.c.data).where(table.c[key] == record_id,
                                                   table.c.version == version)).scalar()
    if data is None:
        raise NotFoundError(f"{what} {record_id} has no version {version}")
    return {**data, "version": version}


def marker_at(conn: Connection, marker_id: int, version: int) -> dict[str, Any]:
    """The marker's data as of `version` (number, type, position, references…)."""
    return _data_at(conn, boundary_marker_versions, "marker_id", marker_id, version, "marker")


def line_at(conn: Connection, line_id: int, version: int) -> dict[str, Any]:
    """The line's data as of `version` (sides, level, length, GeoJSON geometry)."""
    return _data_at(conn, boundary_line_versions, "line_id", line_id, version, "line")


def marker_history(conn: Connection, marker_id: int) -> list[dict[str, Any]]:
    """Every version of a marker, oldest first."""
    rows = conn.execute(select(boundary_marker_versions)
                        .where(boundary_marker_versions.c.marker_id == marker_id)
                        .order_by(boundary_marker_versions.c.version)).all()
    return [{"version": r.version, "recorded_at": r.recorded_at.isoformat(), "data": r.data}
            for r in rows]
