"""Write to the append-only audit log: who, when, what, before and after."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from geo_service.access import Principal
from geo_service.db.models import audit_log


def _jsonable(value: Any) -> Any:
    """A record as JSON-safe data (dates, decimals, geometries as text)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def record(
    conn: Connection,
    principal: Principal,
    action: str,
    table_name: str,
    record_id: str | int | None,
    before: dict | None = None,
    after: dict | None = None,
    *,
    request_id: str | None = None,
    note: str | None = None,
) -> int:
    """Append one entry in the caller's transaction; returns its id."""
    return conn.execute(
        audit_log.insert().values(
            actor=principal.username or "anonymous",
            role=principal.role.value,
            action=action,
            table_name=table_name,
            record_id=None if record_id is None else str(record_id),
            before=_jsonable(before),
            after=_jsonable(after),
            request_id=request_id,
            note=note,
        ).returning(audit_log.c.id)
    ).scalar_one()
