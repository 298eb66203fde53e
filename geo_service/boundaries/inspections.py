"""Joint inspections (联检) of one line: findings per marker, segment notes, photos, sign-off.

A signed-off inspection is immutable (here: 409; in the database: a trigger). A correction
is a new draft that references the signed-off record and starts from a copy of its content.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, null, select
from sqlalchemy.exc import IntegrityError

from geo_service import audit
from geo_service.access import Principal
from geo_service.auth.users import area_of
from geo_service.boundaries import content, photos, versions
from geo_service.boundaries.errors import BoundaryInputError, ConflictError, NotYourSideError
from geo_service.boundaries.geometry import (
    displacement_m,
    parse_geojson,
    point_from,
    point_of,
    to_db,
)
from geo_service.boundaries.parties import require_party
from geo_service.boundaries.records import check_if_match, etag_of, lock, to_json, touch
from geo_service.boundaries.schemas import (
    FindingIn,
    FindingPatch,
    InspectionIn,
    InspectionPatch,
    NoteIn,
)
from geo_service.db.models import (
    boundary_lines,
    boundary_markers,
    inspection_findings,
    inspection_segment_notes,
    inspections,
    photo_attachments,
    users,
)
from geo_service.errors import NotFoundError, PreconditionFailedError

NOTE_GEOMETRIES = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def state(row) -> str:
    """draft, signed by one side, or signed off (immutable)."""
    if row.signed_off_at is not None:
        return "signed_off"
    if row.side_a_signed_at or row.side_b_signed_at:
        return "partly_signed"
    return "draft"


def _record(conn: Connection, row) -> dict:
    """The record: its row, its content (frozen once signed), state, hash and ETag."""
    data = to_json(row)
    frozen = data.pop("signed_content")
    body = frozen if frozen is not None else content.build(conn, row)
    line = body["line"]
    data.update(side_a_name=line["side_a_name"], side_b_name=line["side_b_name"],
                line_level=line["level"], state=state(row), etag=etag_of(row),
                content_hash=row.content_hash or content.content_hash(body),
                content=body, findings=body["findings"], segment_notes=body["segment_notes"],
                photos=body["photos"], document_number=document_number(row))
    data["corrected_by"] = list(conn.execute(
        select(inspections.c.id).where(inspections.c.corrects_id == row.id)
        .order_by(inspections.c.id)).scalars())
    return data


def document_number(row) -> str:
    """The record's document number: 联检〔year〕line-record号."""
    return f"联检〔{row.inspected_on.year}〕{row.line_id}-{row.id}号"


def get(conn: Connection, inspection_id: int) -> dict:
    """An inspection with findings, notes, photos, state and ETag."""
    row = conn.execute(select(inspections).where(inspections.c.id == inspection_id)).first()
    if row is None:
        raise NotFoundError(f"inspection {inspection_id} not found")
    return _record(conn, row)


def list_inspections(conn: Connection, line_id: int | None = None,
                     round_: str | None = None) -> list[dict]:
    """Inspections (newest first) without their details."""
    query = select(inspections).order_by(inspections.c.inspected_on.desc(),
                                         inspections.c.id.desc())
    if line_id is not None:
        query = query.where(inspections.c.line_id == line_id)
    if round_ is not None:
        query = query.where(inspections.c.round == round_)
    return [{**to_json(r), "state": state(r), "etag": etag_of(r)}
            for r in conn.execute(query).all()]


def _editable(conn: Connection, principal: Principal, inspection_id: int,
              if_match: str | None, required: bool, what: str) -> Any:
    """Lock a draft for a change: 404; 403 unless a party; 409 once signed; 428/412."""
    row = lock(conn, inspections, inspection_id, "inspection")
    require_party(conn, principal, row.line_id, f"{what} of inspection {inspection_id}")
    if row.signed_off_at is not None:
        raise ConflictError(
            f"inspection {inspection_id} is signed off and cannot be changed: file a "
            f"correction (POST /boundaries/inspections with corrects_id={inspection_id})")
    if row.content_hash is not None:
        signed = " and ".join(f"side {s} ({getattr(row, f'side_{s}_signed_by')})"
                              for s in "ab" if getattr(row, f"side_{s}_signed_at"))
        raise ConflictError(
            f"inspection {inspection_id} has been signed by {signed}: its content cannot "
            f"change until the signature is withdrawn or the record is sent back "
            f"(POST /boundaries/inspections/{inspection_id}/return with a reason)")
    check_if_match(row, if_match, "inspection", required=required)
    return row


def create(conn: Connection, principal: Principal, body: InspectionIn) -> dict:
    """Open a draft inspection of a line (a correction copies the corrected record)."""
    line = conn.execute(select(boundary_lines)
                        .where(boundary_lines.c.id == body.line_id)).first()
    if line is None:
        raise BoundaryInputError(f"line_id: boundary line {body.line_id} does not exist")
    require_party(conn, principal, line.id, f"inspections of line {line.id}")
    old = None
    values = body.model_dump()
    if body.corrects_id is not None:
        old = conn.execute(select(inspections).where(inspections.c.id == body.corrects_id)
                           .with_for_update()).first()
        if old is None:
            raise BoundaryInputError(f"corrects_id: inspection {body.corrects_id} not found")
        if old.signed_off_at is None:
            raise ConflictError(f"inspection {old.id} is not signed off: edit it instead of "
                                "filing a correction")
        if old.line_id != body.line_id:
            raise BoundaryInputError(f"corrects_id: inspection {old.id} is of line "
                                     f"{old.line_id}, not {body.line_id}")
        existing = conn.execute(select(inspections.c.id, inspections.c.signed_off_at)
                                .where(inspections.c.corrects_id == old.id)).first()
        if existing is not None:
            hint = (f"correct #{existing.id} instead (the newest)" if existing.signed_off_at
                    else f"finish or change that draft (#{existing.id})")
            raise ConflictError(f"inspection {old.id} already has a correction, "
                                f"#{existing.id}: one correction at a time — {hint}")
        for field in ("side_a_officers", "side_b_officers", "summary"):  # carried forward
            if field not in body.model_fields_set:
                values[field] = getattr(old, field)
    row = conn.execute(inspections.insert().values(
        **values, side_a_code=line.side_a_code, side_b_code=line.side_b_code,
        line_version=versions.record_line(conn, line.id),
        created_by=principal.username or "anonymous").returning(inspections)).one()
    if old is not None:
        _copy_content(conn, old.id, row.id)
    record = _record(conn, row)
    audit.record(conn, principal, "insert", "inspections", row.id, None, record,
                 note=None if old is None else f"correction of inspection {old.id}")
    return record


def _copy_content(conn: Connection, old_id: int, new_id: int) -> None:
    """Copy findings, notes and photos of a signed-off record into its correction."""
    finding_ids: dict[int, int] = {}
    for f in conn.execute(select(inspection_findings)
                          .where(inspection_findings.c.inspection_id == old_id)).all():
        values = {k: v for k, v in f._mapping.items()
                  if k not in ("id", "inspection_id", "created_at", "updated_at")}
        finding_ids[f.id] = conn.execute(inspection_findings.insert().values(
            **values, inspection_id=new_id).returning(inspection_findings.c.id)).scalar_one()
    for n in conn.execute(select(inspection_segment_notes)
                          .where(inspection_segment_notes.c.inspection_id == old_id)).all():
        values = {k: v for k, v in n._mapping.items()
                  if k not in ("id", "inspection_id", "created_at")}
        conn.execute(inspection_segment_notes.insert().values(**values, inspection_id=new_id))
    for p in conn.execute(select(photo_attachments)
                          .where(photo_attachments.c.inspection_id == old_id)).all():
        conn.execute(photo_attachments.insert().values(
            sha256=p.sha256, inspection_id=new_id, caption=p.caption,
            finding_id=finding_ids.get(p.finding_id), attached_by=p.attached_by))


def update(conn: Connection, principal: Principal, inspection_id: int, body: InspectionPatch,
           if_match: str | None) -> dict:
    """Change a draft's header fields (If-Match required: 412 if someone saved first)."""
    row = _editable(conn, principal, inspection_id, if_match, required=True, what="the header")
    before = _record(conn, row)
    row = touch(conn, inspections, inspection_id, **body.model_dump(exclude_unset=True))
    after = _record(conn, row)
    audit.record(conn, principal, "update", "inspections", inspection_id, before, after)
    return after


MAX_DISPLACEMENT_M = 1000.0
GOOD_SLACK_M = 1.0


def _measured(conn: Connection, marker_id: int, lon: float | None, lat: float | None,
              line_id: int) -> tuple[object, float | None]:
    marker = conn.execute(select(boundary_markers)
                          .where(boundary_markers.c.id == marker_id)).first()
    if marker is None:
        raise BoundaryInputError(f"marker_id: marker {marker_id} does not exist")
    if marker.line_id != line_id:
        raise BoundaryInputError(f"marker_id: marker {marker.number} stands on line "
                                 f"{marker.line_id}, not on the inspected line {line_id}")
    if lon is None:
        return None, None
    point = point_from(lon, lat, "measured position")
    return to_db(point), displacement_m(point_of(marker.geom), point)


def check_consistent(condition: str, moved: float | None, accuracy: float | None,
                     note: str | None) -> None:
    """Refuse findings that contradict themselves (422 naming the problem)."""
    if condition == "移位" and moved is None:
        raise BoundaryInputError("condition 移位 needs a measured position (measured_lon, "
                                 "measured_lat): the displacement is computed from it")
    if moved is not None and moved > MAX_DISPLACEMENT_M:
        raise BoundaryInputError(
            f"measured position is {moved:.0f} m from the registered marker — more than "
            f"{MAX_DISPLACEMENT_M:.0f} m: probably the wrong marker or a wrong GPS fix")
    allowed = (accuracy or 0.0) + GOOD_SLACK_M
    if condition == "完好" and moved is not None and moved > allowed and not (note or "").strip():
        raise BoundaryInputError(
            f"condition 完好 but the measured position is {moved:.2f} m away (GPS accuracy "
            f"±{accuracy or 0:.0f} m + {GOOD_SLACK_M:.0f} m allowed): choose 移位, or explain "
            "in the note")


def add_finding(conn: Connection, principal: Principal, inspection_id: int, body: FindingIn,
                if_match: str | None = None) -> dict:
    """Record a marker's finding; the displacement is computed from the registered position."""
    row = _editable(conn, principal, inspection_id, if_match, required=False, what="findings")
    geom, moved = _measured(conn, body.marker_id, body.measured_lon, body.measured_lat,
                            row.line_id)
    check_consistent(body.condition, moved, body.measured_accuracy_m, body.note)
    try:
        with conn.begin_nested():
            finding = conn.execute(inspection_findings.insert().values(
                inspection_id=inspection_id, marker_id=body.marker_id,
                marker_version=versions.record_marker(conn, body.marker_id),
                condition=body.condition, measured_geom=geom, displacement_m=moved,
                measured_accuracy_m=body.measured_accuracy_m if geom is not None else None,
                note=body.note, created_by=principal.username or "anonymous",
            ).returning(inspection_findings)).one()
    except IntegrityError as exc:
        raise ConflictError(f"inspection {inspection_id} already has a finding for marker "
                            f"{body.marker_id}: change it with PATCH") from exc
    photos.attach(conn, principal, body.photos, inspection_id=inspection_id,
                  finding_id=finding.id)
    touch(conn, inspections, inspection_id)
    audit.record(conn, principal, "insert", "inspection_findings", finding.id, None,
                 to_json(finding))
    return get(conn, inspection_id)


def update_finding(conn: Connection, principal: Principal, inspection_id: int,
                   finding_id: int, body: FindingPatch, if_match: str | None) -> dict:
    """Change a finding (If-Match of the inspection required)."""
    row = _editable(conn, principal, inspection_id, if_match, required=True, what="findings")
    old = conn.execute(select(inspection_findings).where(
        inspection_findings.c.id == finding_id,
        inspection_findings.c.inspection_id == inspection_id)).first()
    if old is None:
        raise NotFoundError(f"finding {finding_id} of inspection {inspection_id} not found")
    values = body.model_dump(exclude_unset=True, exclude={"measured_lon", "measured_lat"})
    moved = old.displacement_m
    if "measured_lon" in body.model_fields_set or "measured_lat" in body.model_fields_set:
        if (body.measured_lon is None) != (body.measured_lat is None):
            raise BoundaryInputError("give both measured_lon and measured_lat, or neither")
        geom, moved = _measured(conn, old.marker_id, body.measured_lon, body.measured_lat,
                                row.line_id)
        values.update(measured_geom=geom, displacement_m=moved)
    check_consistent(values.get("condition", old.condition), moved,
                     values.get("measured_accuracy_m", old.measured_accuracy_m),
                     values.get("note", old.note))
    new = touch(conn, inspection_findings, finding_id, **values)
    touch(conn, inspections, inspection_id)
    audit.record(conn, principal, "update", "inspection_findings", finding_id,
                 to_json(old), to_json(new))
    return get(conn, inspection_id)


def add_note(conn: Connection, principal: Principal, inspection_id: int, body: NoteIn,
             if_match: str | None = None) -> dict:
    """Add a note on a stretch of the line (with optional GeoJSON location and photos)."""
    _editable(conn, principal, inspection_id, if_match, required=False, what="notes")
    geom = (None if body.geometry is None
            else to_db(parse_geojson(body.geometry, "geometry", NOTE_GEOMETRIES)))
    note = conn.execute(inspection_segment_notes.insert().values(
        inspection_id=inspection_id, category=body.category, note=body.note, geom=geom,
        created_by=principal.username or "anonymous").returning(inspection_segment_notes)).one()
    photos.attach(conn, principal, body.photos, inspection_id=inspection_id,
                  caption=f"{body.category}: {body.note}"[:200])
    touch(conn, inspections, inspection_id)
    audit.record(conn, principal, "insert", "inspection_segment_notes", note.id, None,
                 to_json(note))
    return get(conn, inspection_id)


def check_photo_target(conn: Connection, principal: Principal, inspection_id: int) -> None:
    """Before storing an upload: the inspection exists, the caller is a party, it is a draft."""
    _editable(conn, principal, inspection_id, None, required=False, what="photos")


def add_photo(conn: Connection, principal: Principal, inspection_id: int, sha: str,
              finding_id: int | None, caption: str | None) -> dict:
    """Attach an uploaded photo to a draft inspection (or one of its findings)."""
    _editable(conn, principal, inspection_id, None, required=False, what="photos")
    if finding_id is not None:
        known = conn.execute(select(func.count()).select_from(inspection_findings).where(
            inspection_findings.c.id == finding_id,
            inspection_findings.c.inspection_id == inspection_id)).scalar_one()
        if not known:
            raise BoundaryInputError(
                f"finding_id: {finding_id} is not a finding of inspection {inspection_id}")
    ids = photos.attach(conn, principal, [sha], inspection_id=inspection_id,
                        finding_id=finding_id, caption=caption)
    touch(conn, inspections, inspection_id)
    audit.record(conn, principal, "insert", "photo_attachments", ids[0], None,
                 {"sha256": sha, "inspection_id": inspection_id, "finding_id": finding_id,
                  "caption": caption})
    return get(conn, inspection_id)


def _check_side(conn: Connection, me: str, side: str, code: str, line_id: int) -> None:
    """403 unless the signer is an officer of that side (users.area_code = the side's code)."""
    mine = area_of(conn, me)
    if mine == code:
        return
    line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).one()
    side_name = line.side_a_name if side == "a" else line.side_b_name
    yours = f"you ({me}) are registered for {mine}" if mine else f"you ({me}) have no area"
    raise NotYourSideError(
        f"side {side} of this line is {side_name} ({code}) and must be signed by one of its "
        f"officers; {yours}. An admin ties an officer to an area with "
        f"`geo-service user set-area {me} CODE`")


def sign(conn: Connection, principal: Principal, inspection_id: int, side: str,
         signed_hash: str, if_match: str | None = None) -> dict:
    """One side signs the content whose hash it was shown (412 if it changed meanwhile).

    The first signature freezes the content; the second (same hash) signs it off for good.
    """
    row = lock(conn, inspections, inspection_id, "inspection")
    if row.signed_off_at is not None:
        raise ConflictError(f"inspection {inspection_id} is signed off already")
    check_if_match(row, if_match, "inspection", required=False)
    me = principal.username or "anonymous"
    mine, other = (("side_a", "side_b") if side == "a" else ("side_b", "side_a"))
    if getattr(row, f"{mine}_signed_at") is not None:
        raise ConflictError(f"inspection {inspection_id}: side {side} has already signed "
                            f"({getattr(row, f'{mine}_signed_by')})")
    if (getattr(row, f"{other}_signed_by") or "").lower() == me.lower():
        raise ConflictError(f"inspection {inspection_id}: {me} signed the other side already; "
                            "each side signs with its own officer")
    _check_side(conn, me, side, getattr(row, f"{mine}_code"), row.line_id)
    before = _record(conn, row)
    current = row.content_hash or before["content_hash"]
    if signed_hash != current:
        raise PreconditionFailedError(
            f"inspection {inspection_id}: the content changed since you read it (you were "
            f"shown {signed_hash[:12]}…, it is now {current[:12]}…): read it again and check "
            "what you sign")
    values: dict[str, Any] = {
        f"{mine}_signed_by": me, f"{mine}_signed_at": func.clock_timestamp(),
        f"{mine}_signed_hash": current, f"{mine}_signer_name": full_name_of(conn, me)}
    if row.content_hash is None:
        values.update(signed_content=before["content"], content_hash=current)
    if getattr(row, f"{other}_signed_at") is not None:
        values["signed_off_at"] = func.clock_timestamp()
    row = touch(conn, inspections, inspection_id, **values)
    after = _record(conn, row)
    audit.record(conn, principal, "sign", "inspections", inspection_id, before, after,
                 note=f"side {side} signed {current}"
                 + (" — signed off" if row.signed_off_at else ""))
    return after


def send_back(conn: Connection, principal: Principal, inspection_id: int, reason: str,
              if_match: str | None) -> dict:
    """Withdraw the signature(s) of a partly signed record, with a reason: a draft again."""
    row = lock(conn, inspections, inspection_id, "inspection")
    require_party(conn, principal, row.line_id, f"signatures of inspection {inspection_id}")
    if row.signed_off_at is not None:
        raise ConflictError(f"inspection {inspection_id} is signed off: file a correction")
    if row.content_hash is None:
        raise ConflictError(f"inspection {inspection_id} has no signature to withdraw")
    check_if_match(row, if_match, "inspection", required=True)
    before = _record(conn, row)
    me = principal.username or "anonymous"
    row = touch(conn, inspections, inspection_id, signed_content=null(), content_hash=None,
                **{f"side_{s}_{k}": None for s in "ab"
                   for k in ("signed_by", "signed_at", "signed_hash", "signer_name")},
                returned_reason=reason, returned_by=me, returned_at=func.clock_timestamp())
    after = _record(conn, row)
    audit.record(conn, principal, "update", "inspections", inspection_id, before, after,
                 note=f"signature withdrawn / sent back: {reason}")
    return after


def markers_now(conn: Connection, inspection_id: int) -> dict:
    """Beside the record (never in it): each marker's version in the record and its state now."""
    record = get(conn, inspection_id)
    body = record["content"]
    recorded = {m["id"]: m for m in body["line_markers"]}
    recorded.update({f["marker_id"]: f["marker"] for f in body["findings"]})
    current = {m["id"]: m for m in content.line_markers(conn, body["line"]["id"])}
    latest = versions.latest_marker_versions(conn, sorted(set(recorded) - set(current)))
    rows = []
    for marker_id in sorted(set(recorded) | set(current)):
        was = recorded.get(marker_id)
        now = current.get(marker_id) or (versions.marker_at(conn, marker_id, latest[marker_id])
                                         if marker_id in latest else None)
        rows.append({"marker_id": marker_id, "in_record": was, "now": now,
                     "changed": (was or {}).get("version") != (now or {}).get("version")})
    return {"inspection_id": inspection_id, "state": record["state"], "markers": rows}


def full_name_of(conn: Connection, username: str) -> str | None:
    """A user's full name (None when not set)."""
    return conn.execute(select(users.c.full_name)
                        .where(func.lower(users.c.username) == username.lower())).scalar()


def verify(conn: Connection, inspection_id: int, presented: str) -> dict:
    """Does a presented hash match the stored record's signed content?"""
    row = conn.execute(select(inspections).where(inspections.c.id == inspection_id)).first()
    if row is None:
        raise NotFoundError(f"inspection {inspection_id} not found")
    stored = row.content_hash or _record(conn, row)["content_hash"]
    matches = presented.strip().lower() == stored
    return {"inspection_id": row.id, "document_number": document_number(row),
            "state": state(row), "matches": matches,
            "message": ("哈希值与系统存档一致: 该文件内容与存档记录相同" if matches
                        else "哈希值与系统存档不一致: 该文件不是存档记录的内容, 或记录已变更")
            + ("" if row.signed_off_at else " (注意: 该记录尚未双方签认)")}
