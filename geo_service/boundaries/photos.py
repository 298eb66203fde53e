"""Photos: type checked by magic bytes, size-limited, stored once per sha256 under media_dir."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from geo_service.access import Principal
from geo_service.boundaries.errors import (
    BoundaryInputError,
    PayloadTooLargeError,
    UnsupportedMediaError,
)
from geo_service.db.models import photo_attachments, photos
from geo_service.errors import NotFoundError
from geo_service.settings import data_settings

MAX_PHOTO_BYTES = 15 * 1024 * 1024
_CHUNK = 1024 * 1024
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs",
                b"mif1", b"msf1", b"avif"}


def sniff(head: bytes) -> str | None:
    """The image type from the first bytes (JPEG, PNG, WebP, HEIC/HEIF), else None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def media_path(sha256: str) -> Path:
    """Where a photo's bytes live: media_dir/photos/ab/abcdef…"""
    return data_settings().media_dir / "photos" / sha256[:2] / sha256


def read_limited(stream: BinaryIO, limit: int = MAX_PHOTO_BYTES) -> bytes:
    """Read an upload, refusing it (413) as soon as it passes the limit."""
    chunks, size = [], 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"photo larger than {limit // (1024 * 1024)} MB: refused")
        chunks.append(chunk)
    return b"".join(chunks)


def store(conn: Connection, principal: Principal, data: bytes, filename: str = "") -> dict:
    """Check and store a photo (idempotent by content); returns sha256, type and size."""
    if not data:
        raise BoundaryInputError(f"photo {filename!r}: empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLargeError(f"photo {filename!r} larger than 15 MB: refused")
    content_type = sniff(data[:32])
    if content_type is None:
        raise UnsupportedMediaError(
            f"photo {filename!r}: not a JPEG, PNG, WebP or HEIC image (checked by content)")
    digest = hashlib.sha256(data).hexdigest()
    path = media_path(digest)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    conn.execute(insert(photos).values(sha256=digest, content_type=content_type,
                                       size_bytes=len(data),
                                       uploaded_by=principal.username or "anonymous")
                 .on_conflict_do_nothing())
    return {"sha256": digest, "content_type": content_type, "size_bytes": len(data),
            "url": f"/boundaries/photos/{digest}"}


def lookup(conn: Connection, sha256: str) -> tuple[Path, str]:
    """The file and content type of a stored photo, or 404."""
    row = conn.execute(select(photos.c.content_type).where(photos.c.sha256 == sha256)).first()
    path = media_path(sha256)
    if row is None or not path.exists():
        raise NotFoundError(f"photo {sha256} not found")
    return path, row.content_type


def attach(conn: Connection, principal: Principal, shas: list[str], *,
           marker_id: int | None = None, inspection_id: int | None = None,
           finding_id: int | None = None, caption: str | None = None) -> list[int]:
    """Attach already-uploaded photos to a marker, an inspection or one of its findings."""
    ids = []
    for sha in dict.fromkeys(shas):
        known = conn.execute(select(photos.c.sha256).where(photos.c.sha256 == sha)).first()
        if known is None:
            raise BoundaryInputError(
                f"photos: {sha!r} is not an uploaded photo (POST /boundaries/photos first)")
        ids.append(conn.execute(photo_attachments.insert().values(
            sha256=sha, marker_id=marker_id, inspection_id=inspection_id,
            finding_id=finding_id, caption=caption,
            attached_by=principal.username or "anonymous",
        ).returning(photo_attachments.c.id)).scalar_one())
    return ids


def attached(conn: Connection, **where: int) -> list[dict]:
    """Photos attached to a marker / inspection (column=value), oldest first."""
    conds = [photo_attachments.c[k] == v for k, v in where.items()]
    rows = conn.execute(select(photo_attachments, photos.c.content_type, photos.c.size_bytes)
                        .join(photos).where(*conds).order_by(photo_attachments.c.id)).all()
    return [{"id": r.id, "sha256": r.sha256, "finding_id": r.finding_id, "caption": r.caption,
             "content_type": r.content_type, "size_bytes": r.size_bytes,
             "url": f"/boundaries/photos/{r.sha256}", "attached_by": r.attached_by,
             "attached_at": r.attached_at.isoformat()} for r in rows]
