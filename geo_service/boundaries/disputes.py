"""Boundary disputes (边界争议): location, parties, nature, status timeline, linked inspections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.postgresql import insert

from geo_service import audit
from geo_service.access import Principal, Role
from geo_service.auth.users import area_of
from geo_service.boundaries import photos
from geo_service.boundaries.errors import (
    BoundaryInputError,
    ConflictError,
    NotYourSideError,
    OutsideAreaError,
)
from geo_service.boundaries.geometry import parse_geojson, to_db
from geo_service.boundaries.parties import require_party
from geo_service.boundaries.records import check_if_match, etag_of, lock, to_json, touch
from geo_service.boundaries.schemas import DisputeIn, DisputePatch, DisputeStatusIn
from geo_service.db.models import (
    boundary_lines,
    dispute_attachments,
    dispute_events,
    dispute_inspections,
    disputes,
    inspections,
)
from geo_service.errors import NotFoundError

GEOMETRIES = ("Point", "Polygon", "MultiPolygon")
ORDER = ("reported", "mediating", "resolved")
AREA_TOLERANCE_M = 100.0


def _record(conn: Connection, row) -> dict:
    data = to_json(row)
    data["etag"] = etag_of(row)
    data["timeline"] = [
        {"kind": e.kind, "status": e.status, "at": e.at.isoformat(), "actor": e.actor,
         "note": e.note}
        for e in conn.execute(select(dispute_events).where(dispute_events.c.dispute_id == row.id)
                              .order_by(dispute_events.c.at, dispute_events.c.id))]
    data["inspection_ids"] = list(conn.execute(
        select(dispute_inspections.c.inspection_id)
        .where(dispute_inspections.c.dispute_id == row.id)
        .order_by(dispute_inspections.c.inspection_id)).scalars())
    data["attachments"] = [
        {"id": a.id, "kind": a.kind, "sha256": a.sha256, "filename": a.filename,
         "content_type": a.content_type, "size_bytes": a.size_bytes, "caption": a.caption,
         "attached_by": a.attached_by, "attached_at": a.attached_at.isoformat()}
        for a in conn.execute(select(dispute_attachments)
                              .where(dispute_attachments.c.dispute_id == row.id)
                              .order_by(dispute_attachments.c.id))]
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


def _check_location(conn: Connection, geom: BaseGeometry, line_id: int | None) -> None:
    """400 unless the location lies in the district or the neighbouring county of the line."""
    line = None
    if line_id is not None:
        line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
        if line is None:
            raise BoundaryInputError(f"line_id: boundary line {line_id} does not exist")
    codes = [] if line is None else [line.side_a_code, line.side_b_code]
    inside = conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM (SELECT geom FROM admin_areas WHERE level = 'district' "
        "UNION ALL SELECT geom FROM neighbour_areas WHERE code = ANY(:codes) "
        "OR cardinality(:codes) = 0) a WHERE ST_DWithin(ST_Transform(a.geom, 4544), "
        "ST_Transform(ST_GeomFromWKB(:g, 4490), 4544), :tol))"),
        {"codes": codes,
         "g": geom.wkb, "tol": AREA_TOLERANCE_M}).scalar_one()
    if not inside:
        where = ("the district or a neighbouring county" if line is None else
                 f"the two counties of line {line.id} ({line.side_a_name}—{line.side_b_name})")
        raise OutsideAreaError(f"geometry: the dispute's location lies outside {where} "
                               f"(more than {AREA_TOLERANCE_M:.0f} m)")


def _require_party(conn: Connection, principal: Principal, row: Any, what: str) -> None:
    """On a line's dispute, only its two sides' officers (and admins) write."""
    if row.line_id is not None:
        require_party(conn, principal, row.line_id, what)


def create(conn: Connection, principal: Principal, body: DisputeIn) -> dict:
    """Report a dispute (status 'reported', first timeline entry)."""
    geom = parse_geojson(body.geometry, "geometry", GEOMETRIES)
    _check_location(conn, geom, body.line_id)
    if body.line_id is not None:
        require_party(conn, principal, body.line_id, f"disputes of line {body.line_id}")
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
    row = _open(conn, principal, dispute_id, "dispute")
    check_if_match(row, if_match, "dispute")
    before = _record(conn, row)
    values = body.model_dump(exclude_unset=True, exclude={"geometry"})
    if body.geometry is not None:
        geom = parse_geojson(body.geometry, "geometry", GEOMETRIES)
        _check_location(conn, geom, row.line_id)
        values["geom"] = to_db(geom)
    row = touch(conn, disputes, dispute_id, **values)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "disputes", dispute_id, before, after)
    return after


def _open(conn: Connection, principal: Principal, dispute_id: int, what: str) -> Any:
    """Lock a dispute for a change: 404; 403 unless a party; 409 once resolved."""
    row = lock(conn, disputes, dispute_id, "dispute")
    _require_party(conn, principal, row, f"{what} {dispute_id}")
    if row.status == "resolved":
        raise ConflictError(f"dispute {dispute_id} is resolved: it changes only by reopening "
                            "it with a reason (status mediating, reopen: true, note)")
    return row


def _event(conn: Connection, principal: Principal, dispute_id: int, status: str, kind: str,
           note: str | None) -> None:
    conn.execute(dispute_events.insert().values(
        dispute_id=dispute_id, status=status, kind=kind,
        actor=principal.username or "anonymous", note=note))


def _side_of(conn: Connection, principal: Principal, line_id: int | None) -> str | None:
    """Which side of the dispute's line the caller is an officer of (None: neither)."""
    if line_id is None:
        return None
    line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).one()
    mine = area_of(conn, principal.username or "")
    return "a" if mine == line.side_a_code else "b" if mine == line.side_b_code else None


def set_status(conn: Connection, principal: Principal, dispute_id: int, body: DisputeStatusIn,
               if_match: str | None) -> dict:
    """Move the dispute forward (reported → mediating → resolved), or reopen it with a reason.

    'resolved' needs both sides' officers (each confirms; the second resolves it), or an admin
    recording the deciding authority's document (decision_document).
    """
    row = lock(conn, disputes, dispute_id, "dispute")
    _require_party(conn, principal, row, f"dispute {dispute_id}")
    check_if_match(row, if_match, "dispute", required=True)
    before = _record(conn, row)
    values: dict[str, Any] = {}
    if body.reopen:
        if row.status != "resolved" or body.status == "resolved":
            raise ConflictError(f"dispute {dispute_id} is {row.status}: only a resolved dispute "
                                "is reopened, to reported or mediating")
        if not (body.note or "").strip():
            raise BoundaryInputError("note: give the reason for reopening the dispute")
        values.update(status=body.status, resolved_a_by=None, resolved_b_by=None,
                      decision_document=None)
        _event(conn, principal, dispute_id, body.status, "reopen", body.note)
    elif ORDER.index(body.status) <= ORDER.index(row.status):
        raise ConflictError(f"dispute {dispute_id} is {row.status}: it can only move forward "
                            f"({' → '.join(ORDER)}); a resolved one is reopened with a reason")
    elif body.status != "resolved":
        values["status"] = body.status
        _event(conn, principal, dispute_id, body.status, "status", body.note)
    elif body.decision_document:
        if principal.role is not Role.admin:
            raise NotYourSideError("decision_document: only an admin records the deciding "
                                   "authority's document")
        values.update(status="resolved", decision_document=body.decision_document)
        _event(conn, principal, dispute_id, "resolved", "status",
               f"依据 {body.decision_document}" + (f": {body.note}" if body.note else ""))
    else:
        side = _side_of(conn, principal, row.line_id)
        if side is None:
            raise NotYourSideError(
                f"dispute {dispute_id}: 'resolved' needs an officer of each side of its line "
                "to confirm, or an admin recording the decision (decision_document)")
        values[f"resolved_{side}_by"] = principal.username
        _event(conn, principal, dispute_id, row.status, "confirm",
               f"side {side} confirms the resolution" + (f": {body.note}" if body.note else ""))
        other = row.resolved_b_by if side == "a" else row.resolved_a_by
        if other:
            values["status"] = "resolved"
            _event(conn, principal, dispute_id, "resolved", "status", body.note)
    row = touch(conn, disputes, dispute_id, **values)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "disputes", dispute_id, before, after,
                 note=f"status {before['status']} → {after['status']}")
    return after


def add_event(conn: Connection, principal: Principal, dispute_id: int, note: str,
              if_match: str | None) -> dict:
    """A mediation event (any number; the status stays)."""
    row = _open(conn, principal, dispute_id, "dispute")
    check_if_match(row, if_match, "dispute", required=False)
    _event(conn, principal, dispute_id, row.status, "mediation", note)
    row = touch(conn, disputes, dispute_id)
    return _record(conn, row)


def check_attach(conn: Connection, principal: Principal, dispute_id: int) -> None:
    """Before reading an upload: the dispute exists, is open and the caller is a party."""
    _open(conn, principal, dispute_id, "dispute")


def attach(conn: Connection, principal: Principal, dispute_id: int, data: bytes,
           filename: str, caption: str | None, *, media_dir: Path) -> dict:
    """Attach a photo (decoded) or a PDF document to an open dispute."""
    row = _open(conn, principal, dispute_id, "dispute")
    if data.startswith(b"%PDF-"):
        content_type = photos.check_document(data, filename)
        sha, kind = photos.save_bytes(media_dir, data, "documents"), "document"
    else:
        stored = photos.store(conn, principal, data, filename, media_dir=media_dir)
        sha, kind, content_type = stored["sha256"], "photo", stored["content_type"]
    conn.execute(dispute_attachments.insert().values(
        dispute_id=dispute_id, sha256=sha, kind=kind, filename=filename or None,
        content_type=content_type, size_bytes=len(data), caption=caption,
        attached_by=principal.username or "anonymous"))
    _event(conn, principal, dispute_id, row.status, "attachment",
           f"{'文件' if kind == 'document' else '照片'} {filename or sha[:12]}")
    row = touch(conn, disputes, dispute_id)
    return _record(conn, row)


def attachment_file(conn: Connection, dispute_id: int, attachment_id: int,
                    media_dir: Path) -> tuple[Path, str, str]:
    """The stored file, content type and file name of a dispute's attachment (or 404)."""
    row = conn.execute(select(dispute_attachments).where(
        dispute_attachments.c.id == attachment_id,
        dispute_attachments.c.dispute_id == dispute_id)).first()
    path = None if row is None else photos.media_path(
        media_dir, row.sha256, "documents" if row.kind == "document" else "photos")
    if row is None or path is None or not path.exists():
        raise NotFoundError(f"attachment {attachment_id} of dispute {dispute_id} not found")
    return path, row.content_type, row.filename or row.sha256


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
