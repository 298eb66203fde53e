"""Boundary markers (界桩) with their reference objects (方位物) and photos."""

from __future__ import annotations

import shapely
from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError

from geo_service import audit
from geo_service.access import Principal
from geo_service.boundaries import photos, versions
from geo_service.boundaries.errors import BoundaryInputError, ConflictError
from geo_service.boundaries.geometry import from_db, point_from, point_of, to_db
from geo_service.boundaries.parties import require_party
from geo_service.boundaries.records import check_if_match, etag_of, lock, to_json, touch
from geo_service.boundaries.schemas import MarkerIn, MarkerPatch, ReferenceIn
from geo_service.crs import from_metric, to_metric
from geo_service.db.models import (
    boundary_lines,
    boundary_markers,
    inspection_findings,
    inspections,
    marker_references,
)
from geo_service.errors import NotFoundError

MAX_OFF_LINE_M = 200.0
SAMPLE_PREFIX = "示意"


def _line(conn: Connection, line_id: int):
    row = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
    if row is None:
        raise BoundaryInputError(f"line_id: boundary line {line_id} does not exist")
    if row.status != "current":
        raise BoundaryInputError(f"line_id: boundary line {line_id} is retired")
    return row


def _check_on_line(line, point: shapely.Point, number: str) -> None:
    off = float(to_metric(point).distance(to_metric(from_db(line.geom))))
    if off > MAX_OFF_LINE_M:
        raise BoundaryInputError(
            f"marker {number}: position is {off:.0f} m from line {line.id} "
            f"({line.side_a_name}—{line.side_b_name}); at most {MAX_OFF_LINE_M:.0f} m allowed")


def _write_references(conn: Connection, marker_id: int, refs: list[ReferenceIn]) -> None:
    conn.execute(marker_references.delete().where(marker_references.c.marker_id == marker_id))
    conn.execute(marker_references.insert(), [
        {"marker_id": marker_id, **r.model_dump()} for r in refs])


def _refused(exc: IntegrityError, number: str | None) -> Exception:
    """409 for a number taken; 422 for any other rule of the table (named)."""
    if getattr(exc.orig, "sqlstate", None) == "23505":
        return ConflictError(f"marker number {number!r} already exists")
    return BoundaryInputError(f"marker {number}: refused by the database ({exc.orig})")


def get(conn: Connection, marker_id: int) -> dict:
    """A marker with its references, photos and ETag."""
    row = conn.execute(select(boundary_markers)
                       .where(boundary_markers.c.id == marker_id)).first()
    if row is None:
        raise NotFoundError(f"marker {marker_id} not found")
    return _record(conn, row)


def _record(conn: Connection, row) -> dict:
    data = to_json(row)
    point = point_of(row.geom)
    data["lon"], data["lat"] = round(point.x, 8), round(point.y, 8)
    refs = conn.execute(select(marker_references).where(
        marker_references.c.marker_id == row.id).order_by(marker_references.c.id)).all()
    data["references"] = [{k: v for k, v in r._mapping.items() if k != "marker_id"}
                          for r in refs]
    data["photos"] = photos.attached(conn, marker_id=row.id)
    data["version"] = versions.latest_marker_versions(conn, [row.id]).get(row.id)
    latest = latest_conditions(conn, [row.id]).get(row.id)
    data["latest_condition"] = latest["condition"] if latest else None
    data["latest_inspected_on"] = latest["inspected_on"] if latest else None
    data["etag"] = etag_of(row)
    return data


def latest_conditions(conn: Connection, marker_ids: list[int]) -> dict[int, dict]:
    """Each marker's condition in its last signed-off inspection (and that date)."""
    if not marker_ids:
        return {}
    f, i = inspection_findings, inspections
    rows = conn.execute(
        select(f.c.marker_id, f.c.condition, i.c.inspected_on, i.c.id)
        .join(i, i.c.id == f.c.inspection_id)
        .where(f.c.marker_id.in_(marker_ids), i.c.signed_off_at.is_not(None))
        .order_by(f.c.marker_id, i.c.inspected_on.desc(), i.c.signed_off_at.desc())
        .ext(distinct_on(f.c.marker_id))).all()
    return {r.marker_id: {"condition": r.condition, "inspected_on": r.inspected_on.isoformat(),
                          "inspection_id": r.id} for r in rows}


def list_markers(conn: Connection, line_id: int | None = None,
                 number: str | None = None) -> list[dict]:
    """Markers (of one line; whose number contains `number`), ordered by line and number."""
    query = select(boundary_markers).order_by(boundary_markers.c.line_id,
                                              boundary_markers.c.number)
    if line_id is not None:
        query = query.where(boundary_markers.c.line_id == line_id)
    if number:
        query = query.where(boundary_markers.c.number.icontains(number.strip(),
                                                                autoescape=True))
    return [_record(conn, r) for r in conn.execute(query).all()]


def create(conn: Connection, principal: Principal, body: MarkerIn,
           accuracy: str = "surveyed") -> dict:
    """Register a marker on a line (within 200 m of it), with ≥ 3 reference objects."""
    line = _line(conn, body.line_id)
    require_party(conn, principal, line.id, f"markers of line {line.id}")
    point = point_from(body.lon, body.lat, f"marker {body.number}")
    _check_on_line(line, point, body.number)
    values = body.model_dump(exclude={"lon", "lat", "references"})
    try:
        with conn.begin_nested():
            row = conn.execute(boundary_markers.insert().values(
                **values, geom=to_db(point), geometry_accuracy=accuracy)
                .returning(boundary_markers)).one()
    except IntegrityError as exc:
        raise _refused(exc, body.number) from exc
    _write_references(conn, row.id, body.references)
    versions.record_marker(conn, row.id)
    record = _record(conn, row)
    audit.record(conn, principal, "insert", "boundary_markers", row.id, None, record)
    return record


def update(conn: Connection, principal: Principal, marker_id: int, body: MarkerPatch,
           if_match: str | None) -> dict:
    """Change a marker (If-Match required); the old and new record go to the audit log."""
    row = lock(conn, boundary_markers, marker_id, "marker")
    require_party(conn, principal, row.line_id, f"marker {row.number}")
    check_if_match(row, if_match, "marker")
    before = _record(conn, row)
    values = body.model_dump(exclude_unset=True, exclude={"lon", "lat", "references"})
    if values.get("status", "") is None:
        raise BoundaryInputError("status: one of 在用, 损毁待修, 已重建, 已废止")
    if body.lon is not None:
        point = point_from(body.lon, body.lat, f"marker {row.number}")
        _check_on_line(_line(conn, row.line_id), point, row.number)
        values["geom"] = to_db(point)
    try:
        with conn.begin_nested():
            row = touch(conn, boundary_markers, marker_id, **values)
    except IntegrityError as exc:
        raise _refused(exc, body.number) from exc
    if body.references is not None:
        _write_references(conn, marker_id, body.references)
    versions.record_marker(conn, marker_id)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "boundary_markers", marker_id, before, after)
    return after


def check_photo_target(conn: Connection, principal: Principal, marker_id: int) -> None:
    """Before storing an upload: the marker exists and the caller is a party of its line."""
    row = lock(conn, boundary_markers, marker_id, "marker")
    require_party(conn, principal, row.line_id, f"photos of marker {row.number}")


def add_photo(conn: Connection, principal: Principal, marker_id: int, sha: str,
              caption: str | None) -> dict:
    """Attach an uploaded photo to a marker (audited)."""
    row = lock(conn, boundary_markers, marker_id, "marker")
    require_party(conn, principal, row.line_id, f"photos of marker {row.number}")
    before = _record(conn, row)
    photos.attach(conn, principal, [sha], marker_id=marker_id, caption=caption)
    row = touch(conn, boundary_markers, marker_id)
    after = _record(conn, row)
    audit.record(conn, principal, "update", "boundary_markers", marker_id, before, after,
                 note="photo attached")
    return after


def sample_markers(conn: Connection, principal: Principal, lines: int = 6,
                   per_line: int = 3) -> list[dict]:
    """Illustrative markers along the first lines (numbered 示意-<line>-<n>); idempotent."""
    created = []
    rows = conn.execute(select(boundary_lines).where(boundary_lines.c.status == "current")
                        .order_by(boundary_lines.c.level.desc(), boundary_lines.c.id)
                        .limit(lines)).all()
    if not rows:
        raise BoundaryInputError("no boundary lines: run `geo-service boundary derive` first")
    for line in rows:
        geom_m = to_metric(from_db(line.geom))
        longest = max(shapely.get_parts(geom_m), key=lambda g: g.length)
        for n in range(1, per_line + 1):
            number = f"{SAMPLE_PREFIX}-{line.id}-{n:02d}"
            exists = conn.execute(select(func.count()).select_from(boundary_markers)
                                  .where(boundary_markers.c.number == number)).scalar_one()
            if exists:
                continue
            point = from_metric(longest.interpolate(n / (per_line + 1), normalized=True))
            refs = [ReferenceIn(name=name, bearing_deg=(37.0 * n + 120.0 * k) % 360,
                                distance_m=15.0 + 10 * k + n, note="示意")
                    for k, name in enumerate(("电杆", "大树", "房角"))]
            body = MarkerIn(number=number, marker_type=("单面", "双面", "三面")[n % 3],
                            material="花岗岩", lon=point.x, lat=point.y, line_id=line.id,
                            note="示意界桩(illustrative, not a surveyed marker)",
                            references=refs)
            created.append(create(conn, principal, body, accuracy="illustrative"))
    return created
