"""Photos: type by magic bytes, decoded (Pillow) before acceptance, size-limited, stored once
per sha256 under media_dir; EXIF time and position are kept."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

import pillow_heif
from PIL import Image, UnidentifiedImageError
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

MAX_PHOTO_MB = 15  # the one limit: server, README and field form (web_map/field/field.js)
MAX_PHOTO_BYTES = MAX_PHOTO_MB * 1024 * 1024
MAX_PIXELS = 80_000_000
BEIJING = ZoneInfo("Asia/Shanghai")
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP",
                "image/heic": "HEIF"}
pillow_heif.register_heif_opener()
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


def _trailing_garbage(data: bytes, content_type: str) -> bool:
    """True when bytes follow the image's own end (an image glued to HTML or a script)."""
    if content_type == "image/png":
        return not data.endswith(b"IEND\xaeB`\x82")
    if content_type == "image/jpeg":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if content_type == "image/webp":
        return int.from_bytes(data[4:8], "little") + 8 != len(data)
    return False


def _exif(image: Image.Image) -> dict[str, Any]:
    """EXIF capture time (camera clock, read as Beijing time) and GPS position, if present."""
    found: dict[str, Any] = {"taken_at": None, "taken_lon": None, "taken_lat": None}
    try:
        exif = image.getexif()
        stamp = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
        if stamp:
            found["taken_at"] = datetime.strptime(str(stamp).strip("\x00 "),
                                                  "%Y:%m:%d %H:%M:%S").replace(tzinfo=BEIJING)
        gps = exif.get_ifd(0x8825)
        if gps.get(2) and gps.get(4):
            def degrees(dms: Any, ref: Any) -> float:
                value = float(dms[0]) + float(dms[1]) / 60 + float(dms[2]) / 3600
                return -value if str(ref).upper() in ("S", "W") else value
            found["taken_lat"] = round(degrees(gps[2], gps.get(1, "N")), 8)
            found["taken_lon"] = round(degrees(gps[4], gps.get(3, "E")), 8)
    except (ValueError, TypeError, KeyError, ZeroDivisionError, IndexError):
        pass  # unreadable EXIF is no reason to refuse the photo
    return found


def decode(data: bytes, filename: str = "") -> dict[str, Any]:
    """Decode the whole image (415 unless it is one clean JPEG/PNG/WebP/HEIC): type, size, EXIF."""
    content_type = sniff(data[:32])
    refused = UnsupportedMediaError(
        f"photo {filename!r}: not a JPEG, PNG, WebP or HEIC image (checked by decoding it)")
    if content_type is None:
        raise refused
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[content_type]]) as image:
            if image.width * image.height > MAX_PIXELS:
                raise UnsupportedMediaError(f"photo {filename!r}: more than "
                                            f"{MAX_PIXELS // 1_000_000} megapixels")
            image.load()
            found = {"content_type": content_type, "width_px": image.width,
                     "height_px": image.height, **_exif(image)}
    except UnsupportedMediaError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as exc:
        raise refused from exc
    if _trailing_garbage(data, content_type):
        raise UnsupportedMediaError(f"photo {filename!r}: other data follows the image "
                                    "(refused: a photo must be only a photo)")
    return found


def media_path(media_dir: Path, sha256: str, folder: str = "photos") -> Path:
    """Where an upload's bytes live: media_dir/photos/ab/abcdef… (or documents/…)."""
    return media_dir / folder / sha256[:2] / sha256


def save_bytes(media_dir: Path, data: bytes, folder: str = "photos") -> str:
    """Write an upload once under its sha256 (atomically); returns the sha256."""
    digest = hashlib.sha256(data).hexdigest()
    path = media_path(media_dir, digest, folder)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return digest


def check_document(data: bytes, filename: str = "") -> str:
    """A PDF document (by its bytes: %PDF- … %%EOF), size-limited; returns its type."""
    if not data:
        raise BoundaryInputError(f"document {filename!r}: empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLargeError(f"document {filename!r} larger than {MAX_PHOTO_MB} MB")
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-1024:]:
        raise UnsupportedMediaError(f"document {filename!r}: not a PDF (checked by content)")
    return "application/pdf"


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


def store(conn: Connection, principal: Principal, data: bytes, filename: str = "", *,
          media_dir: Path) -> dict:
    """Check and store a photo (idempotent by content); returns sha256, type and size."""
    if not data:
        raise BoundaryInputError(f"photo {filename!r}: empty file")
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLargeError(f"photo {filename!r} larger than {MAX_PHOTO_MB} MB: refused")
    found = decode(data, filename)
    digest = save_bytes(media_dir, data)
    conn.execute(insert(photos).values(sha256=digest, size_bytes=len(data),
                                       uploaded_by=principal.username or "anonymous", **found)
                 .on_conflict_do_nothing())
    return {"sha256": digest, "size_bytes": len(data), "url": f"/boundaries/photos/{digest}",
            **found, "taken_at": found["taken_at"].isoformat() if found["taken_at"] else None}


def lookup(conn: Connection, sha256: str, media_dir: Path) -> tuple[Path, str]:
    """The file and content type of a stored photo, or 404."""
    row = conn.execute(select(photos.c.content_type).where(photos.c.sha256 == sha256)).first()
    path = media_path(media_dir, sha256)
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
    rows = conn.execute(select(photo_attachments, photos.c.content_type, photos.c.size_bytes,
                               photos.c.taken_at, photos.c.taken_lon, photos.c.taken_lat)
                        .join(photos).where(*conds).order_by(photo_attachments.c.id)).all()
    return [{"id": r.id, "sha256": r.sha256, "finding_id": r.finding_id, "caption": r.caption,
             "content_type": r.content_type, "size_bytes": r.size_bytes,
             "url": f"/boundaries/photos/{r.sha256}", "attached_by": r.attached_by,
             "attached_at": r.attached_at.isoformat(),
             "taken_at": r.taken_at.isoformat() if r.taken_at else None,
             "taken_lon": r.taken_lon, "taken_lat": r.taken_lat} for r in rows]
