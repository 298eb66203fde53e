"""Joint inspections (联检) of one line: findings per marker, segment notes, photos, sign-off.

A signed-off inspection is immutable (here: 409; in the database: a trigger). A correction
is a new draft that references the signed-off record and starts from a copy of its content.
"""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from geo_service import audit
from geo_service.access import Principal
from geo_service.auth.users import area_of
from geo_service.boundaries import photos
from geo_service.boundaries.errors import BoundaryInputError, ConflictError, NotYourSideError
from geo_service.boundaries.geometry import (
    displacement_m,
    from_db,
    parse_geojson,
    point_from,
    to_db,
)
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
)
from geo_service.errors import NotFoundError

NOTE_GEOMETRIES = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def state(row) -> str:
    """draft, signed by one side, or signed off (immutable)."""
    if row.signed_off_at is not None:
        return "signed_off"
    if row.side_a_signed_at or row.side_b_signed_at:
        return "partly_signed"
    return "draft"


def _findings(conn: Connection, inspection_id: int) -> list[dict]:
    rows = conn.execute(
        select(inspection_findings, boundary_markers.c.number.label("marker_number"),
               boundary_markers.c.geom.label("registered"))
        .join(boundary_markers, boundary_markers.c.id == inspection_findings.c.marker_id)
        .where(inspection_findings.c.inspection_id == inspection_id)
        .order_by(boundary_markers.c.number)).all()
    out = []
    for r in rows:
        data = to_json(r)
        reg = from_db(r.registered)
        data["registered"] = {"lon": round(reg.x, 8), "lat": round(reg.y, 8)}
        measured = from_db(r.measured_geom)
        data["measured"] = (None if measured is None
                            else {"lon": round(measured.x, 8), "lat": round(measured.y, 8)})
        data.pop("measured_geom")
        data["displacement_m"] = (None if r.displacement_m is None
                                  else round(r.displacement_m, 3))
        out.append(data)
    return out


def _record(conn: Connection, row) -> dict:
    data = to_json(row)
    line = conn.execute(select(boundary_lines.c.side_a_name, boundary_lines.c.side_b_name,
                               boundary_lines.c.level)
                        .where(boundary_lines.c.id == row.line_id)).one()
    data.update(side_a_name=line.side_a_name, side_b_name=line.side_b_name,
                line_level=line.level, state=state(row), etag=etag_of(row))
    data["findings"] = _findings(conn, row.id)
    notes = conn.execute(select(inspection_segment_notes)
                         .where(inspection_segment_notes.c.inspection_id == row.id)
                         .order_by(inspection_segment_notes.c.id)).all()
    data["segment_notes"] = [to_json(n) for n in notes]
    data["photos"] = photos.attached(conn, inspection_id=row.id)
    data["corrected_by"] = list(conn.execute(
        select(inspections.c.id).where(inspections.c.corrects_id == row.id)
        .order_by(inspections.c.id)).scalars())
    return data


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


def _editable(conn: Connection, inspection_id: int, if_match: str | None,
              required: bool) -> object:
    """Lock a draft inspection for a change: 404, 409 when signed off, 428/412 on If-Match."""
    row = lock(conn, inspections, inspection_id, "inspection")
    if row.signed_off_at is not None:
        raise ConflictError(
            f"inspection {inspection_id} is signed off and cannot be changed: file a "
            f"correction (POST /boundaries/inspections with corrects_id={inspection_id})")
    check_if_match(row, if_match, "inspection", required=required)
    return row


def create(conn: Connection, principal: Principal, body: InspectionIn) -> dict:
    """Open a draft inspection of a line (a correction copies the corrected record)."""
    line = conn.execute(select(boundary_lines)
                        .where(boundary_lines.c.id == body.line_id)).first()
    if line is None:
        raise BoundaryInputError(f"line_id: boundary line {body.line_id} does not exist")
    old = None
    if body.corrects_id is not None:
        old = conn.execute(select(inspections)
                           .where(inspections.c.id == body.corrects_id)).first()
        if old is None:
            raise BoundaryInputError(f"corrects_id: inspection {body.corrects_id} not found")
        if old.signed_off_at is None:
            raise ConflictError(f"inspection {old.id} is not signed off: edit it instead of "
                                "filing a correction")
        if old.line_id != body.line_id:
            raise BoundaryInputError(f"corrects_id: inspection {old.id} is of line "
                                     f"{old.line_id}, not {body.line_id}")
    row = conn.execute(inspections.insert().values(
        **body.model_dump(), side_a_code=line.side_a_code, side_b_code=line.side_b_code,
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
    row = _editable(conn, inspection_id, if_match, required=True)
    before = _record(conn, row)
    row = touch(conn, inspections, inspection_id, **body.model_dump(exclude_unset=True))
    after = _record(conn, row)
    audit.record(conn, principal, "update", "inspections", inspection_id, before, after)
    return after


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
    return to_db(point), displacement_m(from_db(marker.geom), point)


def add_finding(conn: Connection, principal: Principal, inspection_id: int, body: FindingIn,
                if_match: str | None = None) -> dict:
    """Record a marker's finding; the displacement is computed from the registered position."""
    row = _editable(conn, inspection_id, if_match, required=False)
    geom, moved = _measured(conn, body.marker_id, body.measured_lon, body.measured_lat,
                            row.line_id)
    try:
        with conn.begin_nested():
            finding = conn.execute(inspection_findings.insert().values(
                inspection_id=inspection_id, marker_id=body.marker_id,
                condition=body.condition, measured_geom=geom, displacement_m=moved,
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
    row = _editable(conn, inspection_id, if_match, required=True)
    old = conn.execute(select(inspection_findings).where(
        inspection_findings.c.id == finding_id,
        inspection_findings.c.inspection_id == inspection_id)).first()
    if old is None:
        raise NotFoundError(f"finding {finding_id} of inspection {inspection_id} not found")
    values = body.model_dump(exclude_unset=True, exclude={"measured_lon", "measured_lat"})
    if "measured_lon" in body.model_fields_set or "measured_lat" in body.model_fields_set:
        if (body.measured_lon is None) != (body.measured_lat is None):
            raise BoundaryInputError("give both measured_lon and measured_lat, or neither")
        geom, moved = _measured(conn, old.marker_id, body.measured_lon, body.measured_lat,
                                row.line_id)
        values.update(measured_geom=geom, displacement_m=moved)
    new = touch(conn, inspection_findings, finding_id, **values)
    touch(conn, inspections, inspection_id)
    audit.record(conn, principal, "update", "inspection_findings", finding_id,
                 to_json(old), to_json(new))
    return get(conn, inspection_id)


def add_note(conn: Connection, principal: Principal, inspection_id: int, body: NoteIn,
             if_match: str | None = None) -> dict:
    """Add a note on a stretch of the line (with optional GeoJSON location and photos)."""
    _editable(conn, inspection_id, if_match, required=False)
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


def add_photo(conn: Connection, principal: Principal, inspection_id: int, sha: str,
              finding_id: int | None, caption: str | None) -> dict:
    """Attach an uploaded photo to a draft inspection (or one of its findings)."""
    _editable(conn, inspection_id, None, required=False)
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
         if_match: str | None) -> dict:
    """One side signs the version it read (If-Match); both signed → signed off, immutable."""
    row = _editable(conn, inspection_id, if_match, required=True)
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
    values = {f"{mine}_signed_by": me, f"{mine}_signed_at": func.clock_timestamp()}
    if getattr(row, f"{other}_signed_at") is not None:
        values["signed_off_at"] = func.clock_timestamp()
    row = touch(conn, inspections, inspection_id, **values)
    after = _record(conn, row)
    audit.record(conn, principal, "sign", "inspections", inspection_id, before, after,
                 note=f"side {side} signed" + (" — signed off" if row.signed_off_at else ""))
    return after
