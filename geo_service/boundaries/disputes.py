"""Boundary disputes (边界争议): location, parties, nature, status timeline, linked inspections."""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from geo_service import audit
from geo_service.access import Principal
from geo_service.boundaries.errors import BoundaryInputError, ConflictError
from geo_service.boundaries.geometry import parse_geojson, to_db
from geo_service.boundaries.records import check_if_match, etag_of, lock, to_json, touch
from geo_service.boundaries.schemas import DisputeIn, DisputePatch, DisputeStatusIn
from geo_service.db.models import (
    boundary_lines,
    dispute_events,
    dispute_inspections,
    disputes,
    inspections,
)
from geo_service.errors import NotFoundError

GEOMETRIES = ("Point", "Polygon", "MultiPolygon")
ORDER = ("reported", "mediating", "resolved")


def _record(conn: Connection, row) -> dict:
    data = to_json(row)
    data["etag"] = etag_of(row)
    data["timeline"] = [
        {"status": e.status, "at": e.at.isoformat(), "actor": e.actor, "note": e.note}
        for e in conn.execute(select(dispute_events).where(dispute_events.c.dispute_id == row.id)
                              .order_by(dispute_events.c.at, dispute_events.c.id))]
    data["inspection_ids"] = list(conn.execute(
        select(dispute_inspections.c.inspection_id)
        .where(dispute_inspections.c.dispute_id == row.id)
        .order_by(dispute_inspections.c.inspection_id)).scalars())
    return data


def get(conn: Connection, dispute_id: int) -> dict:
    """A dispute with its timeline and linked inspections."""
    row = conn.execute(select(disputes).where(disputes.c.id == dispute_id)).first()
    if row is None:
        raise NotFoundError(f"dispute {dispute_id} not found")
    return _record(conn, row)


def list_disputes(conn: Connection, status: str | None = None) -> list[dict]:
    """Disputes, newest first (optionally of one status)."""
    query = select(disputes).order_by(disputes.c.id.desc())
    if status is not None:
        if status not in ORDER:
            raise BoundaryInputError(f"status {status!r}: use one of {', '.join(ORDER)}")
        query = query.where(disputes.c.status == status)
    return [_record(conn, r) for r in conn.execute(query).all()]


def _link(conn: Connection, dispute_id: int, inspection_ids: list[int]) -> None:
    for inspection_id in inspection_ids:
        found = conn.execute(select(inspections.c.id)
                             .where(inspections.c.id == inspection_id)).first()
        if found is None:
            raise BoundaryInputError(f"inspection_ids: inspection {inspection_id} not found")
        conn.execute(insert(dispute_inspections).values(
            dispute_id=dispute_id, inspection_id=inspection_id).on_conflict_do_nothing())


def create(conn: Connection, principal: Principal, body: DisputeIn) -> dict:
    """Report a dispute (status 'reported', first timeline entry)."""
    geom = parse_geojson(body.geometry, "geometry", GEOMETRIES)
    if body.line_id is not None and conn.execute(
            select(boundary_lines.c.id).where(boundary_lines.c.id == body.line_id)).first() is None:
        raise BoundaryInputError(f"line_id: boundary line {body.line_id} does not exist")
    me = principal.username or "anonymous"
    row = conn.execute(disputes.insert().values(
        **body.model_dump(exclude={"geometry", "inspection_ids"}), geom=to_db(geom),
        created_by=me).returning(disputes)).one()
    conn.execute(dispute_events.insert().values(dispute_id=row.id, status="reported",
                                                actor=me, note="reported"))
    _link(conn, row.id, body.inspection_ids)
    record = _record(conn, row)
    audit.record(conn, principal, "insert", "disputes", row.id, None, record)
    return record


def update(conn: Connection, principal: Principal, dispute_id: int, body: DisputePatch,
           if_match: str | None) -> dict:
    """Change a dispute's description fields (If-Match required)."""
    row = lock(conn, disputes, dispute_id, "dispute")
    check_if_match(row, if_match, "dispute")
    before = _record(conn, row)
    values = body.model_dump(exclude_unset=True, exclude={"geometry"})
    if body.geometry is not None:
        values["geom"] = to_db(parse_geojson(body.geometry, "geometry", GEOMETRIES))
    row = touch(conn, disputes, dispute_id, **values)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "disputes", dispute_id, before, after)
    return after


def set_status(conn: Connection, principal: Principal, dispute_id: int, body: DisputeStatusIn,
               if_match: str | None) -> dict:
    """Move the dispute forward in its timeline (reported → mediating → resolved)."""
    row = lock(conn, disputes, dispute_id, "dispute")
    check_if_match(row, if_match, "dispute", required=False)
    if ORDER.index(body.status) <= ORDER.index(row.status):
        raise ConflictError(f"dispute {dispute_id} is {row.status}: it can only move forward "
                            f"({' → '.join(ORDER)})")
    before = _record(conn, row)
    row = touch(conn, disputes, dispute_id, status=body.status)
    conn.execute(dispute_events.insert().values(
        dispute_id=dispute_id, status=body.status,
        actor=principal.username or "anonymous", note=body.note))
    after = _record(conn, row)
    audit.record(conn, principal, "update", "disputes", dispute_id, before, after,
                 note=f"status {before['status']} → {body.status}")
    return after


def link(conn: Connection, principal: Principal, dispute_id: int, inspection_id: int) -> dict:
    """Link an inspection to a dispute."""
    row = lock(conn, disputes, dispute_id, "dispute")
    before = _record(conn, row)
    _link(conn, dispute_id, [inspection_id])
    row = touch(conn, disputes, dispute_id)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "disputes", dispute_id, before, after,
                 note=f"inspection {inspection_id} linked")
    return after
