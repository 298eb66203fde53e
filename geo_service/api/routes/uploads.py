"""Web upload for data editors: upload a file, see the dry-run preview and errors, confirm."""

from __future__ import annotations

import json
import re
import secrets
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from sqlalchemy import Engine

from geo_service.access import Principal, Role
from geo_service.api.deps import get_engine_dep, require
from geo_service.catalog import catalogue
from geo_service.errors import GeoServiceError, LoadRejectedError, NotFoundError
from geo_service.ingest.cli_report import change_lines, parse_scope
from geo_service.ingest.loader import LoadOptions, LoadReport, load_file
from geo_service.ingest.readers import SUPPORTED
from geo_service.resources import package_path
from geo_service.settings import Settings

router = APIRouter(tags=["uploads"])
Editor = Annotated[Principal, Depends(require(Role.data_editor))]
EngineDep = Annotated[Engine, Depends(get_engine_dep)]
Token = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{20,64}$", description="upload id")]
PAGE_DIR = package_path("web_map", "upload")
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
ERRORS_NAME = "错误.xlsx"
_ZIP_TYPES = {".zip", ".xlsx", ".xlsm", ".kmz"}
_OPTIONS = ("input_crs", "kind", "sheet", "layer_name", "source", "clear_empty", "skip_bad",
            "replace_township", "allow_near_duplicates")


class UploadError(GeoServiceError):
    """An upload that is too large, of the wrong type, or no longer there."""

    status_code = 400


def uploads_dir(request: Request) -> Path:
    """Where previews wait for confirmation: <media_dir>/uploads."""
    settings: Settings = request.app.state.settings
    return settings.data.media_dir / "uploads"


UploadsDir = Annotated[Path, Depends(uploads_dir)]


def _folder(root: Path, token: str) -> Path:
    return root / token


def _drop_stale(root: Path, max_age_s: float = 24 * 3600) -> None:
    """Remove previews nobody confirmed within a day."""
    if not root.is_dir():
        return
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _check_type(name: str, head: bytes) -> str:
    """The file's suffix, if it is a type the loader reads and its first bytes agree."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise UploadError(f"不支持的文件类型 {suffix or '（无扩展名）'}；"
                          f"可上传：{'、'.join(SUPPORTED)}")
    if suffix in _ZIP_TYPES and not head.startswith(b"PK"):
        raise UploadError(f"{name} 不是有效的 {suffix} 文件（内容不是 zip 格式）")
    if suffix == ".gpkg" and not head.startswith(b"SQLite format 3"):
        raise UploadError(f"{name} 不是有效的 GeoPackage 文件")
    return suffix


async def _save(file: UploadFile, folder: Path) -> Path:
    """Write the upload to its folder, refusing more than MAX_UPLOAD_BYTES."""
    name = Path(file.filename or "upload").name
    safe = re.sub(r"[^\w.\-（）()]+", "_", name)[-120:] or "upload"
    head = await file.read(64)
    _check_type(safe, head)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    size = len(head)
    with path.open("wb") as out:
        out.write(head)
        while chunk := await file.read(1 << 20):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise UploadError(f"文件太大：上限 {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
            out.write(chunk)
    return path


def _meta(root: Path, token: str, who: Principal) -> dict[str, Any]:
    """The stored upload of this user (404 for another user's or a finished one)."""
    meta_path = _folder(root, token) / "meta.json"
    if not meta_path.is_file():
        raise NotFoundError("这个上传不存在或已经导入/过期，请重新上传")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta["user"] != who.username:
        raise NotFoundError("这个上传不存在或已经导入/过期，请重新上传")
    return meta


def _district(request: Request) -> dict[str, Any]:
    """The district rows are checked against (the service's settings)."""
    data = request.app.state.settings.data
    return {"district_code": data.district_code,
            "district_tolerance_m": data.district_tolerance_m}


def _report_json(report: LoadReport, token: str | None) -> dict[str, Any]:
    """A report as the page shows it."""
    return {
        "token": token,
        "summary": report.summary(),
        "dry_run": report.dry_run,
        "run_id": report.run_id,
        "counts": {"inserted": report.inserted, "updated": report.updated,
                   "unchanged": report.unchanged, "retired": len(report.retired),
                   "skipped": len(report.skipped)},
        "changes": change_lines(report),
        "notes": report.notes,
        "unclaimed": report.unclaimed,
        "problems": [p.as_dict() | {"text": str(p)} for p in report.skipped],
        "near_duplicates": report.near_duplicates,
        "retired": report.retired,
    }


@router.get("/uploads", include_in_schema=False)
def upload_redirect() -> RedirectResponse:
    """The page lives at /uploads/ (relative: works under a proxy prefix)."""
    return RedirectResponse("uploads/")


@router.get("/uploads/{token}/errors.xlsx", summary="The rejected rows with 错误原因 "
            "(data_editor)")
def upload_errors(token: Token, who: Editor, root: UploadsDir) -> FileResponse:
    """The workbook of rows to fix and upload again."""
    _meta(root, token, who)
    path = _folder(root, token) / ERRORS_NAME
    if not path.is_file():
        raise NotFoundError("这个上传没有有问题的行")
    return FileResponse(path, filename=ERRORS_NAME, media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))


@router.get("/uploads/{asset:path}", summary="The upload page for data editors (page shell; "
            "its actions need a data_editor login)")
def upload_page(asset: str) -> FileResponse:
    """index.html, upload.js, upload.css — the page itself holds no data."""
    name = asset or "index.html"
    path = (PAGE_DIR / name).resolve()
    if path.parent != PAGE_DIR.resolve() or not path.is_file():
        raise NotFoundError(f"{asset!r} 不是上传页面的一部分")
    return FileResponse(path, headers={"Cache-Control": "no-cache"})


@router.post("/uploads", summary="Upload a file and get its dry-run preview (data_editor)")
async def preview_upload(
    who: Editor,
    engine: EngineDep,
    root: UploadsDir,
    request: Request,
    layer: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
    crs: Annotated[str | None, Form(max_length=64)] = None,
    kind: Annotated[str | None, Form(max_length=64)] = None,
    sheet: Annotated[str | None, Form(max_length=64)] = None,
    gpkg_layer: Annotated[str | None, Form(max_length=128)] = None,
    source: Annotated[str | None, Form(max_length=200)] = None,
    clear_empty: Annotated[bool, Form()] = False,
    skip_bad: Annotated[bool, Form()] = False,
    allow_near_duplicates: Annotated[bool, Form()] = False,
    replace_scope: Annotated[str | None, Form(max_length=64)] = None,
) -> JSONResponse:
    """Nothing is written to the layers: the reply says what the load would do."""
    catalogue().layer(layer)
    _drop_stale(root)
    token = secrets.token_urlsafe(24)
    folder = _folder(root, token)
    path = await _save(file, folder)
    options = LoadOptions(
        input_crs=crs or None, kind=kind or None, sheet=sheet or None,
        layer_name=gpkg_layer or None, source=source or None, clear_empty=clear_empty,
        skip_bad=skip_bad, allow_near_duplicates=allow_near_duplicates,
        replace_township=parse_scope(replace_scope or None), dry_run=True,
        errors_out=folder / ERRORS_NAME, loaded_by=who.username,
        **_district(request))
    try:
        report = load_file(engine, layer, path, options=options)
    except GeoServiceError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    kept = {k: v for k, v in asdict(options).items() if k in _OPTIONS}
    (folder / "meta.json").write_text(json.dumps(
        {"user": who.username, "layer": layer, "file": path.name, "options": kept},
        ensure_ascii=False), encoding="utf-8")
    body = _report_json(report, token)
    blocked = (bool(report.skipped) and not skip_bad) or (
        bool(report.near_duplicates) and not allow_near_duplicates)
    body["can_confirm"] = not blocked
    body["errors_xlsx"] = f"{token}/errors.xlsx" if report.errors_file else None
    return JSONResponse(body)


@router.post("/uploads/{token}/confirm", summary="Load a previewed upload (data_editor)")
def confirm_upload(token: Token, who: Editor, engine: EngineDep, root: UploadsDir,
                   request: Request) -> JSONResponse:
    """Loads the previewed file with the same options, all-or-nothing; the upload is removed."""
    meta = _meta(root, token, who)
    folder = _folder(root, token)
    options = LoadOptions(**meta["options"], loaded_by=who.username, **_district(request))
    try:
        report = load_file(engine, meta["layer"], folder / meta["file"], options=options)
    except LoadRejectedError as exc:
        return JSONResponse({"detail": str(exc),
                             "problems": [p.as_dict() for p in exc.problems]}, status_code=422)
    shutil.rmtree(folder, ignore_errors=True)
    body = _report_json(report, None)
    body["request_id"] = getattr(request.state, "request_id", None)
    return JSONResponse(body)
