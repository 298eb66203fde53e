"""The audit log, queryable by admins."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Engine, func, select

from geo_service.access import Principal, Role
from geo_service.api.deps import get_engine_dep, require
from geo_service.db.models import audit_log

router = APIRouter(tags=["admin"])


@router.get("/admin/audit", summary="Query the audit log (admin)")
def query_audit(
    engine: Annotated[Engine, Depends(get_engine_dep)],
    _: Annotated[Principal, Depends(require(Role.admin))],
    table: Annotated[str | None, Query(max_length=64, description="table name")] = None,
    record_id: Annotated[str | None, Query(max_length=200)] = None,
    actor: Annotated[str | None, Query(max_length=200, description="user name")] = None,
    action: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 time, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict:
    """Entries newest first: who, when, which record, before and after."""
    conditions = []
    if table:
        conditions.append(audit_log.c.table_name == table)
    if record_id:
        conditions.append(audit_log.c.record_id == record_id)
    if actor:
        conditions.append(audit_log.c.actor == actor)
    if action:
        conditions.append(audit_log.c.action == action)
    if since:
        conditions.append(audit_log.c.at >= since)
    if until:
        conditions.append(audit_log.c.at < until)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log).where(*conditions)
                             ).scalar_one()
        rows = conn.execute(select(audit_log).where(*conditions)
                            .order_by(audit_log.c.id.desc()).limit(limit).offset(offset)).all()
    entries = [{**row._mapping, "at": row.at.isoformat()} for row in rows]
    return {"total": total, "limit": limit, "offset": offset, "entries": entries}
