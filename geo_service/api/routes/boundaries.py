"""Boundary lines, topology, markers, joint inspections, photos and disputes (staff only).

Reads need a planner, boundary officer or admin; changes need a boundary officer or admin.
Anonymous callers get 401 on every endpoint here.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from sqlalchemy import Connection, Engine, select

from geo_service.access import Principal, Role
from geo_service.api.deps import get_engine_dep, require
from geo_service.boundaries import (
    disputes,
    history,
    idempotency,
    inspections,
    labels,
    lines,
    markers,
    photos,
    registry,
    report,
    topology,
    versions,
)
from geo_service.boundaries.errors import PayloadTooLargeError, UnsupportedMediaError
from geo_service.boundaries.geometry import as_geojson, from_db
from geo_service.boundaries.schemas import (
    DisputeIn,
    DisputePatch,
    DisputeStatusIn,
    EventIn,
    FindingIn,
    FindingPatch,
    InspectionIn,
    InspectionPatch,
    LinkIn,
    MarkerIn,
    MarkerPatch,
    NoteIn,
    ReturnIn,
    SignIn,
)
from geo_service.db.models import boundary_lines
from geo_service.errors import LoadRejectedError, NotFoundError
from geo_service.resources import package_path

router = APIRouter(prefix="/boundaries", tags=["boundaries 界线联检"])
FIELD_DIR = package_path("web_map", "field")

Reader = Annotated[Principal, Depends(require(Role.planner, Role.boundary_officer))]
Officer = Annotated[Principal, Depends(require(Role.boundary_officer))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]


def media_dir(request: Request) -> Path:
    """The folder uploads are kept in (settings.data.media_dir)."""
    folder: Path = request.app.state.settings.data.media_dir
    return folder


MediaDir = Annotated[Path, Depends(media_dir)]
IfMatch = Annotated[str | None, Header(description="ETag of the version you edit")]
IdemKey = Annotated[str | None, Header(alias="Idempotency-Key",
                                       description="repeat a POST safely: one record per key")]


def _json(body: Any, status: int = 200) -> JSONResponse:
    """JSON with the record's ETag as a header when it has one."""
    headers = {"ETag": body["etag"]} if isinstance(body, dict) and "etag" in body else {}
    return JSONResponse(body, status_code=status, headers=headers)


@contextmanager
def _writing(engine: Engine, principal: Principal) -> Iterator[Connection]:
    """A write transaction whose database history rows name the logged-in user."""
    with engine.begin() as conn:
        history.set_actor(conn, principal)
        yield conn


def _create(engine: Engine, principal: Principal, request: Request, key: str | None,
            payload: Any, work: Callable[[Connection], dict]) -> JSONResponse:
    """Run a creating POST once per Idempotency-Key (a replay returns the first answer)."""
    actor = principal.username or "anonymous"
    with _writing(engine, principal) as conn:
        if key is not None:
            fingerprint = idempotency.request_hash("POST", request.url.path, payload)
            stored = idempotency.claim(conn, actor, key, fingerprint)
            if stored is not None:
                response = _json(stored[1], stored[0])
                response.headers["Idempotency-Replayed"] = "true"
                return response
        body = work(conn)
        if key is not None:
            idempotency.complete(conn, actor, key, 201, body)
    return _json(body, 201)


# --- lines and topology ---------------------------------------------------------------

@router.get("/lines", summary="Boundary lines as GeoJSON (planner, officer, admin)")
def list_lines(engine: EngineDep, _: Reader,
               level: Annotated[str | None, Query(pattern="^(township|county|provincial)$")]
               = None,
               include_retired: bool = False) -> dict:
    """Every current line with both sides, level and length in metres."""
    query = select(boundary_lines).order_by(boundary_lines.c.id)
    if level:
        query = query.where(boundary_lines.c.level == level)
    if not include_retired:
        query = query.where(boundary_lines.c.status == "current")
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    features = []
    for r in rows:
        props = {k: v for k, v in r._mapping.items() if k != "geom"}
        props = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in props.items()}
        features.append({"type": "Feature", "id": r.id, "properties": props,
                         "geometry": as_geojson(from_db(r.geom), 6)})
    return {"type": "FeatureCollection", "features": features,
            "note": "township lines follow the illustrative township polygons (示意); the "
                    "district's outer lines follow the published outline"}


@router.get("/lines/{line_id}", summary="One boundary line (planner, officer, admin)")
def get_line(line_id: int, engine: EngineDep, _: Reader) -> dict:
    """A line with its geometry."""
    with engine.connect() as conn:
        row = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
    if row is None:
        raise NotFoundError(f"boundary line {line_id} not found")
    return lines.line_record(row) | {"created_at": row.created_at.isoformat(),
                                     "updated_at": row.updated_at.isoformat()}


@router.post("/lines/derive", summary="Re-derive the lines from the areas (admin)")
def derive_lines(request: Request, engine: EngineDep, who: Admin,
                 tolerance_m: Annotated[float, Query(gt=0, le=5000)]
                 = lines.DEFAULT_TOLERANCE_M) -> dict:
    """Unchanged lines keep their ids; leftovers (unmatched outer edge) are listed."""
    result = lines.derive_and_save(engine, who, tolerance_m,
                                   request.app.state.settings.data.district_code)
    return {"summary": result.summary(), "leftovers": result.leftovers}


@router.get("/topology", summary="Topology report of the administrative areas "
            "(planner, officer, admin)")
def topology_report(engine: EngineDep, _: Reader) -> dict:
    """Gaps, overlaps, slivers, invalid rings, children outside parents, located (GeoJSON)."""
    with engine.connect() as conn:
        return topology.check(conn)


# --- markers --------------------------------------------------------------------------

@router.get("/markers", summary="Markers 界桩 (planner, officer, admin)")
def list_markers(engine: EngineDep, _: Reader, line_id: int | None = None,
                 number: Annotated[str | None, Query(
                     max_length=100, description="part of the number, e.g. 大荣-00")] = None
                 ) -> dict:
    """Markers with references, photos, status and latest condition; by line or number."""
    with engine.connect() as conn:
        return {"markers": markers.list_markers(conn, line_id, number)}


_EXPORT_TYPES = {"xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                          ".xlsx"),
                 "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
                 "geojson": ("application/geo+json", ".geojson")}


@router.get("/markers/export", summary="The marker registry 界桩成果表 as XLSX, GPKG or "
            "GeoJSON (planner, officer, admin)")
def export_markers(engine: EngineDep, _: Reader,
                   format: Annotated[str, Query(pattern="^(xlsx|gpkg|geojson)$")] = "xlsx",
                   line_id: int | None = None) -> Response:
    """Chinese headers, GK X (northing) / Y and lon/lat, references, latest condition."""
    media, suffix = _EXPORT_TYPES[format]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"markers{suffix}"
        with engine.connect() as conn:
            registry.export(conn, path, line_id)
        data = path.read_bytes()
    name = quote(f"界桩成果表{suffix}")
    return Response(data, media_type=media, headers={
        "Content-Disposition": f"attachment; filename=\"markers{suffix}\"; "
                               f"filename*=UTF-8''{name}", "Cache-Control": "private, no-store"})


@router.get("/markers/{marker_id}", summary="One marker (planner, officer, admin)")
def get_marker(marker_id: int, engine: EngineDep, _: Reader) -> JSONResponse:
    """A marker with its ETag."""
    with engine.connect() as conn:
        return _json(markers.get(conn, marker_id))


@router.post("/markers", status_code=201, summary="Register a marker (officer, admin)")
def create_marker(body: MarkerIn, request: Request, engine: EngineDep, who: Officer,
                  key: IdemKey = None) -> JSONResponse:
    """A marker within 200 m of its line, with at least three reference objects."""
    return _create(engine, who, request, key, body.model_dump(mode="json"),
                   lambda conn: markers.create(conn, who, body))


@router.patch("/markers/{marker_id}", summary="Change a marker (officer, admin; If-Match)")
def patch_marker(marker_id: int, body: MarkerPatch, engine: EngineDep, who: Officer,
                 if_match: IfMatch = None) -> JSONResponse:
    """412 if someone changed it since you read it; 428 without If-Match."""
    with _writing(engine, who) as conn:
        return _json(markers.update(conn, who, marker_id, body, if_match))


@router.post("/markers/{marker_id}/photos", status_code=201,
             summary="Upload a photo of a marker (officer, admin)")
def marker_photo(marker_id: int, engine: EngineDep, media: MediaDir, who: Officer,
                 file: Annotated[UploadFile, File()],
                 caption: Annotated[str | None, Form(max_length=200)] = None) -> JSONResponse:
    """JPEG/PNG/WebP/HEIC up to 15 MB, decoded before it is accepted."""
    with engine.connect() as conn:  # 403/404 before reading the upload
        markers.check_photo_target(conn, who, marker_id)
    data = photos.read_limited(file.file)
    with _writing(engine, who) as conn:
        stored = photos.store(conn, who, data, file.filename or "", media_dir=media)
        return _json(markers.add_photo(conn, who, marker_id, stored["sha256"], caption), 201)


# --- photos ---------------------------------------------------------------------------

def _check_length(request: Request) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > photos.MAX_PHOTO_BYTES + 64 * 1024:
        raise PayloadTooLargeError(f"upload larger than {photos.MAX_PHOTO_MB} MB: refused")


@router.post("/markers/import", summary="Import a marker list 界桩成果表 (admin): all rows or "
             "none; 422 lists every bad row and column",
             dependencies=[Depends(_check_length)])
def import_markers(engine: EngineDep, who: Admin, file: Annotated[UploadFile, File()],
                   dry_run: bool = False) -> dict:
    """XLSX, CSV, GPKG or GeoJSON up to 15 MB; X is the northing (EPSG:4544) or 经度/纬度."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in registry.SUFFIXES:
        raise UnsupportedMediaError(f"file {file.filename!r}: use one of "
                                    f"{', '.join(registry.SUFFIXES)}")
    try:
        data = photos.read_limited(file.file)
    except PayloadTooLargeError:
        raise PayloadTooLargeError(f"marker list larger than {photos.MAX_PHOTO_MB} MB: "
                                   "refused") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        try:
            with _writing(engine, who) as conn:
                result = registry.import_file(conn, who, path, dry_run=dry_run,
                                              name=file.filename)
        except LoadRejectedError as exc:
            raise HTTPException(422, detail={"message": str(exc),
                                             "problems": exc.problems}) from None
    return {"dry_run": dry_run, **result.summary(), "created_numbers": result.created,
            "updated_numbers": result.updated}


@router.post("/photos", status_code=201, summary="Upload a photo (officer, admin)",
             dependencies=[Depends(_check_length)])
def upload_photo(engine: EngineDep, media: MediaDir, who: Officer,
                 file: Annotated[UploadFile, File()]) -> JSONResponse:
    """Stored once per content (sha256); attach it by its sha256 to findings or notes."""
    data = photos.read_limited(file.file)
    with _writing(engine, who) as conn:
        return _json(photos.store(conn, who, data, file.filename or "", media_dir=media), 201)


@router.get("/photos/{sha256}", summary="A photo (planner, officer, admin)")
def get_photo(sha256: str, engine: EngineDep, media: MediaDir, _: Reader) -> FileResponse:
    """The stored bytes with their checked content type (never cached by shared caches)."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFoundError(f"photo {sha256!r} not found")
    with engine.connect() as conn:
        path, content_type = photos.lookup(conn, sha256, media)
    return FileResponse(path, media_type=content_type, headers={
        "Cache-Control": "private, max-age=86400, immutable", "ETag": f'"{sha256}"',
        "X-Content-Type-Options": "nosniff"})


# --- inspections ----------------------------------------------------------------------

@router.get("/inspections", summary="Inspections 联检 (planner, officer, admin)")
def list_inspections(engine: EngineDep, _: Reader, line_id: int | None = None,
                     round: str | None = None) -> dict:
    """Inspections, newest first, optionally of one line and round."""
    with engine.connect() as conn:
        return {"inspections": inspections.list_inspections(conn, line_id, round)}


@router.get("/inspections/{inspection_id}", summary="One inspection (planner, officer, admin)")
def get_inspection(inspection_id: int, engine: EngineDep, _: Reader) -> JSONResponse:
    """With findings, displacements, notes, photos, sign-offs and its ETag."""
    with engine.connect() as conn:
        return _json(inspections.get(conn, inspection_id))


@router.post("/inspections", status_code=201,
             summary="Open an inspection, or a correction of a signed-off one (officer, admin)")
def create_inspection(body: InspectionIn, request: Request, engine: EngineDep, who: Officer,
                      key: IdemKey = None) -> JSONResponse:
    """Idempotency-Key makes a retried submission create one record."""
    return _create(engine, who, request, key, body.model_dump(mode="json"),
                   lambda conn: inspections.create(conn, who, body))


@router.patch("/inspections/{inspection_id}",
              summary="Change a draft inspection (officer, admin; If-Match)")
def patch_inspection(inspection_id: int, body: InspectionPatch, engine: EngineDep,
                     who: Officer, if_match: IfMatch = None) -> JSONResponse:
    """412 if someone saved since you read it; 409 once signed off."""
    with _writing(engine, who) as conn:
        return _json(inspections.update(conn, who, inspection_id, body, if_match))


@router.post("/inspections/{inspection_id}/findings", status_code=201,
             summary="Record a marker's finding (officer, admin)")
def add_finding(inspection_id: int, body: FindingIn, request: Request, engine: EngineDep,
                who: Officer, key: IdemKey = None, if_match: IfMatch = None) -> JSONResponse:
    """The displacement from the registered position is computed here (geodesic metres)."""
    return _create(engine, who, request, key, body.model_dump(mode="json"),
                   lambda conn: inspections.add_finding(conn, who, inspection_id, body,
                                                        if_match))


@router.patch("/inspections/{inspection_id}/findings/{finding_id}",
              summary="Change a finding (officer, admin; If-Match of the inspection)")
def patch_finding(inspection_id: int, finding_id: int, body: FindingPatch, engine: EngineDep,
                  who: Officer, if_match: IfMatch = None) -> JSONResponse:
    """412 / 409 as for the inspection."""
    with _writing(engine, who) as conn:
        return _json(inspections.update_finding(conn, who, inspection_id, finding_id, body,
                                                if_match))


@router.post("/inspections/{inspection_id}/notes", status_code=201,
             summary="Add a segment note (officer, admin)")
def add_note(inspection_id: int, body: NoteIn, request: Request, engine: EngineDep,
             who: Officer, key: IdemKey = None, if_match: IfMatch = None) -> JSONResponse:
    """New road, building, cultivation across the line, river shift, or other."""
    return _create(engine, who, request, key, body.model_dump(mode="json"),
                   lambda conn: inspections.add_note(conn, who, inspection_id, body, if_match))


@router.post("/inspections/{inspection_id}/photos", status_code=201,
             summary="Upload and attach a photo (officer, admin)",
             dependencies=[Depends(_check_length)])
def inspection_photo(inspection_id: int, engine: EngineDep, media: MediaDir, who: Officer,
                     file: Annotated[UploadFile, File()],
                     finding_id: Annotated[int | None, Form()] = None,
                     caption: Annotated[str | None, Form(max_length=200)] = None
                     ) -> JSONResponse:
    """JPEG/PNG/WebP/HEIC up to 15 MB (decoded), optionally to one finding."""
    with engine.connect() as conn:  # 403/404/409 before reading the upload
        inspections.check_photo_target(conn, who, inspection_id)
    data = photos.read_limited(file.file)
    with _writing(engine, who) as conn:
        stored = photos.store(conn, who, data, file.filename or "", media_dir=media)
        return _json(inspections.add_photo(conn, who, inspection_id, stored["sha256"],
                                           finding_id, caption), 201)


@router.post("/inspections/{inspection_id}/sign",
             summary="Sign one side: send the content_hash you were shown (officer of that "
                     "side; 412 if the content changed)")
def sign_inspection(inspection_id: int, body: SignIn, engine: EngineDep, who: Officer,
                    if_match: IfMatch = None) -> JSONResponse:
    """The first signature freezes the content; when both sides signed it is immutable."""
    with _writing(engine, who) as conn:
        return _json(inspections.sign(conn, who, inspection_id, body.side, body.content_hash,
                                      if_match))


@router.post("/inspections/{inspection_id}/return",
             summary="Withdraw a signature / send a signed record back, with a reason "
                     "(officer of either side, admin; If-Match)")
def return_inspection(inspection_id: int, body: ReturnIn, engine: EngineDep, who: Officer,
                      if_match: IfMatch = None) -> JSONResponse:
    """The record becomes a draft again; the reason is kept on it and in the history."""
    with _writing(engine, who) as conn:
        return _json(inspections.send_back(conn, who, inspection_id, body.reason, if_match))


@router.get("/inspections/{inspection_id}/report", response_class=HTMLResponse,
            summary="联检报告 of one record (planner, officer, admin)")
def inspection_report(inspection_id: int, request: Request, engine: EngineDep,
                      _: Reader) -> HTMLResponse:
    """The formal report of this record (a signed-off record's report never changes)."""
    with engine.connect() as conn:
        return HTMLResponse(report.render_inspection(conn, inspection_id,
                                                     base_url=_base(request)))


@router.get("/inspections/{inspection_id}/verify",
            summary="Does a presented content hash match the stored record? "
                    "(planner, officer, admin)")
def verify_inspection(inspection_id: int, request: Request, engine: EngineDep, _: Reader,
                      hash: Annotated[str, Query(min_length=1, max_length=200)]) -> Response:
    """JSON, or a Chinese page when opened in a browser (the report's QR code links here)."""
    with engine.connect() as conn:
        result = inspections.verify(conn, inspection_id, hash)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(report.verify_page(result))
    return JSONResponse(result)


@router.get("/inspections/{inspection_id}/markers-now",
            summary="The record's markers as recorded and as they are now "
                    "(planner, officer, admin)")
def inspection_markers_now(inspection_id: int, engine: EngineDep, _: Reader) -> dict:
    """Shown beside the record, never instead of it: new versions and new markers flagged."""
    with engine.connect() as conn:
        return inspections.markers_now(conn, inspection_id)


@router.get("/history", summary="History the database wrote for a boundary table or record "
                                "(planner, officer, admin)")
def boundary_history(engine: EngineDep, _: Reader,
                     table: Annotated[str, Query(description="e.g. boundary_markers")],
                     record_id: str | None = None,
                     limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict:
    """Every INSERT/UPDATE/DELETE with before/after, database role and logged-in user."""
    with engine.connect() as conn:
        return {"history": history.entries(conn, table, record_id, limit, offset)}


@router.get("/markers/{marker_id}/versions", summary="Every version of a marker "
                                                    "(planner, officer, admin)")
def marker_versions(marker_id: int, engine: EngineDep, _: Reader) -> dict:
    """Versions as findings refer to them (number, type, position, references)."""
    with engine.connect() as conn:
        return {"versions": versions.marker_history(conn, marker_id)}


# --- disputes -------------------------------------------------------------------------

@router.get("/disputes", summary="Boundary disputes 边界争议 (planner, officer, admin)")
def list_disputes(engine: EngineDep, _: Reader, status: str | None = None) -> dict:
    """With timeline and linked inspections."""
    with engine.connect() as conn:
        return {"disputes": disputes.list_disputes(conn, status)}


@router.get("/disputes/{dispute_id}", summary="One dispute (planner, officer, admin)")
def get_dispute(dispute_id: int, engine: EngineDep, _: Reader) -> JSONResponse:
    """With its ETag."""
    with engine.connect() as conn:
        return _json(disputes.get(conn, dispute_id))


@router.post("/disputes", status_code=201, summary="Report a dispute (officer, admin)")
def create_dispute(body: DisputeIn, request: Request, engine: EngineDep, who: Officer,
                   key: IdemKey = None) -> JSONResponse:
    """Location is a GeoJSON point or (multi)polygon in EPSG:4490."""
    return _create(engine, who, request, key, body.model_dump(mode="json"),
                   lambda conn: disputes.create(conn, who, body))


@router.patch("/disputes/{dispute_id}", summary="Change a dispute (officer, admin; If-Match)")
def patch_dispute(dispute_id: int, body: DisputePatch, engine: EngineDep, who: Officer,
                  if_match: IfMatch = None) -> JSONResponse:
    """412 if someone changed it since you read it."""
    with _writing(engine, who) as conn:
        return _json(disputes.update(conn, who, dispute_id, body, if_match))


@router.post("/disputes/{dispute_id}/status",
             summary="Move a dispute forward (reported → mediating → resolved: both sides "
                     "confirm, or an admin records the decision), or reopen it with a reason "
                     "(officer, admin; If-Match)")
def dispute_status(dispute_id: int, body: DisputeStatusIn, engine: EngineDep, who: Officer,
                   if_match: IfMatch = None) -> JSONResponse:
    """Adds a timeline entry; going backwards is a 409."""
    with _writing(engine, who) as conn:
        return _json(disputes.set_status(conn, who, dispute_id, body, if_match))


@router.post("/disputes/{dispute_id}/events", status_code=201,
             summary="Add a mediation event (officer of the line's sides, admin)")
def dispute_event(dispute_id: int, body: EventIn, engine: EngineDep, who: Officer,
                  if_match: IfMatch = None) -> JSONResponse:
    """Any number of mediation events; the status stays; refused once resolved."""
    with _writing(engine, who) as conn:
        return _json(disputes.add_event(conn, who, dispute_id, body.note, if_match), 201)


@router.post("/disputes/{dispute_id}/attachments", status_code=201,
             summary="Attach a photo or a PDF document (officer of the line's sides, admin)",
             dependencies=[Depends(_check_length)])
def dispute_attachment(dispute_id: int, engine: EngineDep, media: MediaDir, who: Officer,
                       file: Annotated[UploadFile, File()],
                       caption: Annotated[str | None, Form(max_length=200)] = None
                       ) -> JSONResponse:
    """Photos are decoded like all photos; documents must be PDFs (by content), ≤ 15 MB."""
    with engine.connect() as conn:
        disputes.check_attach(conn, who, dispute_id)
    data = photos.read_limited(file.file)
    with _writing(engine, who) as conn:
        return _json(disputes.attach(conn, who, dispute_id, data, file.filename or "",
                                     caption, media_dir=media), 201)


@router.get("/disputes/{dispute_id}/attachments/{attachment_id}",
            summary="A dispute's document or photo (planner, officer, admin)")
def get_dispute_attachment(media: MediaDir, dispute_id: int, attachment_id: int, engine: EngineDep,
                           _: Reader) -> FileResponse:
    """The stored bytes with their checked content type."""
    with engine.connect() as conn:
        path, content_type, name = disputes.attachment_file(conn, dispute_id, attachment_id,
                                                           media)
    return FileResponse(path, media_type=content_type, filename=name, headers={
        "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.post("/disputes/{dispute_id}/inspections",
             summary="Link an inspection to a dispute (officer, admin)")
def link_inspection(dispute_id: int, body: LinkIn, engine: EngineDep,
                    who: Officer) -> JSONResponse:
    """Idempotent: linking twice keeps one link."""
    with _writing(engine, who) as conn:
        return _json(disputes.link(conn, who, dispute_id, body.inspection_id))


# --- report and field form ------------------------------------------------------------

@router.get("/lines/{line_id}/report", response_class=HTMLResponse,
            summary="联检报告 of a line and round: its latest signed-off record "
                    "(planner, officer, admin)")
def line_report(line_id: int, request: Request, engine: EngineDep, _: Reader,
                round: Annotated[str | None, Query(description="round; default newest")]
                = None) -> HTMLResponse:
    """Never a draft: drafts have their own report at /inspections/{id}/report."""
    with engine.connect() as conn:
        return HTMLResponse(report.render(conn, line_id, round, base_url=_base(request)))


@router.get("/lines/{line_id}/labels", response_class=HTMLResponse,
            summary="A4 sheet of QR labels for the line's markers (planner, officer, admin)")
def marker_labels(line_id: int, request: Request, engine: EngineDep, _: Reader) -> HTMLResponse:
    """Each QR code opens that marker in the field form; print at 100 % on A4."""
    with engine.connect() as conn:
        return HTMLResponse(labels.render(conn, line_id, _base(request)))


def _base(request: Request) -> str:
    """The service's public base URL as the caller reached it (proxy prefix included)."""
    return str(request.base_url).rstrip("/")


@router.get("/field", include_in_schema=False)
def field_redirect() -> RedirectResponse:
    """The field form lives at /boundaries/field/ (relative: works under a proxy prefix)."""
    return RedirectResponse("field/")


@router.get("/field/{asset:path}", summary="The field form for phones (public page shell; its "
            "data needs a boundary officer login)")
def field_form(asset: str) -> FileResponse:
    """index.html, field.js, field.css, sw.js (offline), manifest — the page holds no data."""
    name = asset or "index.html"
    path = (FIELD_DIR / name).resolve()
    if path.parent != FIELD_DIR.resolve() or not path.is_file():
        raise NotFoundError(f"{asset!r} is not part of the field form")
    media = _FIELD_TYPES.get(path.suffix)
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


_FIELD_TYPES = {".webmanifest": "application/manifest+json", ".js": "text/javascript",
                ".svg": "image/svg+xml"}
