"""Backups: the database (pg_dump custom format) and the media folder, in one tar file."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from geo_service.db.cluster import pg_bindir
from geo_service.errors import GeoServiceError

FORMAT = "geo_service-backup/1"
DUMP_NAME = "database.dump"
MANIFEST = "manifest.json"
MEDIA_PREFIX = "media/"


class BackupError(GeoServiceError):
    """A backup or restore that cannot be done; says why."""


@dataclass
class BackupReport:
    """What a backup holds, or what a restore put back."""

    path: Path
    tables: dict[str, int] = field(default_factory=dict)
    media_files: int = 0
    media_bytes: int = 0

    def summary(self) -> str:
        """One line for people."""
        rows = sum(self.tables.values())
        return (f"{self.path}: {len(self.tables)} tables, {rows} rows, {self.media_files} "
                f"media files ({self.media_bytes / 1e6:.1f} MB)")


def _pg_env(url: str) -> tuple[list[str], dict[str, str]]:
    """Connection options for pg_dump / pg_restore (the password via the environment)."""
    parsed = make_url(url)
    args = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432),
            "--username", parsed.username or "postgres", "--dbname", parsed.database or ""]
    env = dict(os.environ, PGCONNECT_TIMEOUT="10")
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{what} failed:\n{(result.stderr or result.stdout).strip()[-2000:]}")


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table in the public schema (PostGIS's own excluded)."""
    with engine.connect() as conn:
        names = conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys' ORDER BY tablename")).scalars().all()
        return {name: conn.execute(text(f'SELECT count(*) FROM public."{name}"')).scalar_one()
                for name in names}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def media_files(media_dir: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every file under the media folder."""
    if not media_dir.is_dir():
        return {}
    return {p.relative_to(media_dir).as_posix(): _sha256(p)
            for p in sorted(media_dir.rglob("*")) if p.is_file()}


def backup(engine: Engine, media_dir: Path, target: Path) -> BackupReport:
    """Write database + media to `target` (a tar, mode 0600); written whole or not at all."""
    from geo_service.db import migrate

    url = engine.url.render_as_string(hide_password=False)
    args, env = _pg_env(url)
    report = BackupReport(target, table_counts(engine))
    media = media_files(media_dir)
    manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "revision": migrate.current_revision(engine), "tables": report.tables,
                "media": media}
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="geo_backup_") as tmp:
        dump = Path(tmp) / DUMP_NAME
        _run([str(pg_bindir() / "pg_dump"), *args, "--format=custom", "--no-password",
              "--file", str(dump)], env, "pg_dump")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # password hashes and non-public rows: owner only, always
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            info.mtime = int(datetime.now(UTC).timestamp())
            tar.addfile(info, io.BytesIO(data))
            tar.add(dump, DUMP_NAME)
            for rel in media:
                tar.add(media_dir / rel, MEDIA_PREFIX + rel)
                report.media_bytes += (media_dir / rel).stat().st_size
    os.replace(partial, target)
    report.media_files = len(media)
    return report


def _safe_member(name: str) -> str:
    """A media path inside the archive that cannot escape the media folder."""
    path = PurePosixPath(name.removeprefix(MEDIA_PREFIX))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise BackupError(f"the backup holds an unsafe path {name!r}; refusing to restore")
    return path.as_posix()


def restore(engine: Engine, media_dir: Path, source: Path) -> BackupReport:
    """Restore a backup into an empty database and put the media files back."""
    if not source.is_file():
        raise BackupError(f"{source}: no such backup file")
    present = table_counts(engine)
    if present:
        raise BackupError(
            f"the database {engine.url.database} is not empty ({len(present)} tables); restore "
            "needs a fresh database (create one and point GEO_SERVICE_DATABASE_URL to it)")
    try:
        tar = tarfile.open(source, "r")  # noqa: SIM115 (closed by the with below)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{source}: not a geo_service backup ({exc})") from exc
    with tar, tempfile.TemporaryDirectory(prefix="geo_restore_") as tmp:
        manifest = _manifest(tar, source)
        wanted = {MEDIA_PREFIX + rel: rel for rel in manifest["media"]}
        for rel, digest in manifest["media"].items():
            existing = media_dir / _safe_member(MEDIA_PREFIX + rel)
            if existing.exists() and _sha256(existing) != digest:
                raise BackupError(f"{existing} exists with other content; restore needs an "
                                  "empty media folder")
        dump_member = tar.getmember(DUMP_NAME)
        dump = Path(tmp) / DUMP_NAME
        with tar.extractfile(dump_member) as handle, dump.open("wb") as out:  # type: ignore[union-attr]
            for block in iter(lambda: handle.read(1 << 20), b""):
                out.write(block)
        args, env = _pg_env(engine.url.render_as_string(hide_password=False))
        _run([str(pg_bindir() / "pg_restore"), *args, "--no-owner", "--no-acl",
              "--exit-on-error", "--single-transaction", "--no-password", str(dump)],
             env, "pg_restore")
        with engine.begin() as conn:
            has_grants = conn.execute(text(
                "SELECT 1 FROM pg_proc WHERE proname = 'geo_service_grant_app_role'")).first()
            if has_grants:
                conn.execute(text("SELECT geo_service_grant_app_role()"))
        report = BackupReport(source, table_counts(engine))
        _restore_media(tar, wanted, manifest["media"], media_dir, report)
    if report.tables != manifest["tables"]:
        raise BackupError(f"row counts after restore differ from the backup: "
                          f"{report.tables} != {manifest['tables']}")
    return report


def _manifest(tar: tarfile.TarFile, source: Path) -> dict:
    try:
        manifest = json.load(tar.extractfile(MANIFEST))  # type: ignore[arg-type]
        tar.getmember(DUMP_NAME)
    except (KeyError, ValueError, tarfile.TarError) as exc:
        raise BackupError(f"{source}: not a geo_service backup (no manifest or dump)") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source}: unknown backup format {manifest.get('format')!r}")
    return manifest


def _restore_media(tar: tarfile.TarFile, wanted: dict[str, str], digests: dict[str, str],
                   media_dir: Path, report: BackupReport) -> None:
    """Write the media files, checking each against the manifest's hash."""
    for member in tar.getmembers():
        if member.name not in wanted:
            continue
        if not member.isfile():
            raise BackupError(f"the backup entry {member.name!r} is not a regular file")
        rel = _safe_member(member.name)
        target = media_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with tar.extractfile(member) as handle, partial.open("wb") as out:  # type: ignore[union-attr]
            for block in iter(lambda: handle.read(1 << 20), b""):
                out.write(block)
        if _sha256(partial) != digests[wanted[member.name]]:
            partial.unlink()
            raise BackupError(f"media file {rel} in the backup is damaged (hash differs)")
        os.replace(partial, target)
        report.media_files += 1
        report.media_bytes += member.size
