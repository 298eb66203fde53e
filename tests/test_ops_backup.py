"""Backup → restore into a fresh database round-trips every row and every photo."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys

import pytest
from sqlalchemy import text

from geo_service.db.engine import make_engine
from geo_service.ops.backup import BackupError, backup, restore, table_counts


def checksums(engine) -> dict[str, str]:
    """md5 over every row's text form, per table (independent of the backup code)."""
    out = {}
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                   "ORDER BY tablename")).scalars().all()
        for name in tables:
            out[name] = conn.execute(text(
                f'SELECT md5(coalesce(string_agg(t::text, E\'\\n\' ORDER BY t::text), \'\')) '
                f'FROM public."{name}" t')).scalar_one()
    return out


def files(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def test_backup_restore_round_trip(sample_url, database_factory, tmp_path):
    source = make_engine(sample_url)
    media = tmp_path / "media"
    for i, payload in enumerate([b"\xff\xd8jpeg-1", os.urandom(300_000), b"photo 3"]):
        target = media / f"{i:02x}" / hashlib.sha256(payload).hexdigest()
        target.parent.mkdir(parents=True)
        target.write_bytes(payload)
    archive = tmp_path / "backup.tar"
    made = backup(source, media, archive)
    assert made.media_files == 3 and made.tables["eldercare_sites"] == 427
    assert not (tmp_path / "backup.tar.partial").exists()

    fresh = make_engine(database_factory("restored"))
    restored_media = tmp_path / "restored_media"
    report = restore(fresh, restored_media, archive)
    assert report.tables == table_counts(source)
    assert checksums(fresh) == checksums(source)
    assert files(restored_media) == files(media)
    with fresh.connect() as conn:  # PostGIS works on the restored data
        area = conn.execute(text("SELECT ST_Area(geom::geography) FROM admin_areas "
                                 "WHERE level = 'district'")).scalar()
    assert 1.3e9 < area < 1.6e9

    with pytest.raises(BackupError, match="not empty"):
        restore(fresh, tmp_path / "again", archive)
    broken = tmp_path / "broken.tar"
    broken.write_bytes(b"not a tar at all")
    with pytest.raises(BackupError, match="not a geo_service backup"):
        restore(make_engine(database_factory("restored2")), tmp_path / "m2", broken)
    source.dispose()
    fresh.dispose()


def test_backup_cli(sample_url, tmp_path):
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=sample_url.replace("postgresql+psycopg",
                                                                       "postgresql"),
               GEO_SERVICE_MEDIA_DIR=str(tmp_path / "none"))
    result = subprocess.run([sys.executable, "-m", "geo_service.cli", "backup",
                             str(tmp_path / "b.tar")], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "backup written" in result.stdout and (tmp_path / "b.tar").stat().st_size > 100_000
    assert stat.S_IMODE((tmp_path / "b.tar").stat().st_mode) == 0o600  # hashes inside
    (tmp_path / "b.tar").chmod(0o644)  # a second backup over a readable file: 0600 again
    again = subprocess.run([sys.executable, "-m", "geo_service.cli", "backup",
                            str(tmp_path / "b.tar")], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0 and stat.S_IMODE((tmp_path / "b.tar").stat().st_mode) == 0o600
    refused = subprocess.run([sys.executable, "-m", "geo_service.cli", "restore",
                              str(tmp_path / "b.tar")], env=env, capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1 and "not empty" in refused.stderr
