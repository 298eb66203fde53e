"""The history the database writes for every boundary table (triggers, migration 0007)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, text

from geo_service.access import Principal
from geo_service.boundaries.errors import BoundaryInputError
from geo_service.db.models import boundary_history

TABLES = ("boundary_lines", "boundary_markers", "marker_references", "photos",
          "photo_attachments", "disputes", "dispute_events", "dispute_inspections",
          "dispute_attachments",
          "officer_areas", "inspections", "inspection_findings", "inspection_segment_notes")


def set_actor(conn: Connection, principal: Principal) -> None:
    """Name the logged-in user in this transaction's history rows (app_user)."""
    conn.execute(text("SELECT set_config('geo_service.actor', :u, true)"),
                 {"u": principal.username or "anonymous"})


def entries(conn: Connection, table: str, record_id: str | None = None,
            limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """History rows of a table (optionally one record), oldest first."""
    if table not in TABLES:
        raise BoundaryInputError(f"table {table!r}: use one of {', '.join(TABLES)}")
    query = (select(boundary_history).where(boundary_history.c.table_name == table)
             .order_by(boundary_history.c.id).limit(limit).offset(offset))
    if record_id is not None:
        query = query.where(boundary_history.c.record_id == record_id)
    return [{"id": r.id, "table": r.table_name, "record_id": r.record_id,
             "operation": r.operation, "before": r.old_data, "after": r.new_data,
             "db_role": r.db_role, "app_user": r.app_user,
             "changed_at": r.changed_at.isoformat()} for r in conn.execute(query).all()]
