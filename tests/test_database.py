"""The embedded cluster, the external-URL mode, and migrations up and down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from geo_service.db import migrate
from geo_service.db.cluster import MAX_CONNECTIONS, LocalCluster
from geo_service.db.engine import make_engine
from geo_service.db.models import metadata
from geo_service.devserver import free_port
from geo_service.settings import DatabaseSettings

CLI = [sys.executable, "-m", "geo_service.cli"]
TABLES = {"admin_areas", "eldercare_sites", "funeral_sites", "child_sites", "place_names",
          "neighbour_areas", "ingest_runs", "audit_log"}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def cluster_dir() -> Iterator[Path]:
    """A folder outside pytest's private (mode 0700, pruned) temp tree for a whole cluster."""
    folder = Path(tempfile.mkdtemp(prefix="geo-service-cluster-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_local_cluster_start_status_stop(cluster_dir):
    tmp_path = cluster_dir
    env = {k: v for k, v in os.environ.items() if k != "GEO_SERVICE_DATABASE_URL"}
    env["GEO_SERVICE_LOCAL_DIR"] = str(tmp_path / "pg")
    env["GEO_SERVICE_LOCAL_PORT"] = str(free_port())
    stopped = run_cli("db", "status", env=env)
    assert stopped.returncode == 3 and "running: no" in stopped.stdout
    try:
        started = run_cli("db", "start", env=env)
        assert started.returncode == 0, started.stderr
        assert (tmp_path / "pg" / "data" / "PG_VERSION").exists()
        if os.geteuid() == 0:  # the server never runs as root
            assert (tmp_path / "pg" / "data").stat().st_uid != 0
        upgraded = run_cli("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        status = run_cli("db", "status", env=env)
        assert status.returncode == 0, status.stderr
        assert "running: yes" in status.stdout and "schema: empty" not in status.stdout
        assert "run geo-service db upgrade" not in status.stdout
        password = (tmp_path / "pg" / "password").read_text().strip()
        assert password not in status.stdout
        # room for several workers' pools: N × (pool_size + 10 overflow) connections
        local = make_engine(LocalCluster.from_settings(DatabaseSettings(
            local_dir=tmp_path / "pg", local_port=int(env["GEO_SERVICE_LOCAL_PORT"]))).url())
        with local.connect() as conn:
            limit = conn.execute(text("SHOW max_connections")).scalar_one()
        local.dispose()
        assert int(limit) == MAX_CONNECTIONS
    finally:
        result = run_cli("db", "stop", env=env)
    assert result.returncode == 0 and "stopped" in result.stdout
    assert "running: no" in run_cli("db", "status", env=env).stdout


def test_external_url_is_used_and_local_cluster_left_alone(database_factory, tmp_path):
    url = database_factory("external")
    env = dict(os.environ)
    env["GEO_SERVICE_DATABASE_URL"] = url.replace("postgresql+psycopg", "postgresql")
    env["GEO_SERVICE_LOCAL_DIR"] = str(tmp_path / "never")
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "never").exists()
    assert set(inspect(make_engine(url)).get_table_names()) >= TABLES
    assert "left alone" in run_cli("db", "start", env=env).stdout


def test_bad_database_url_is_a_clear_error(tmp_path):
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL="mysql://x@localhost/db")
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 1
    assert "must be a postgresql:// URL" in result.stderr and "Traceback" not in result.stderr


def test_migrations_up_down_up(database_factory):
    engine = make_engine(database_factory("migrations"))
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        extensions = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
    assert {"postgis", "pg_trgm"} <= extensions
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_models_match_the_migrated_schema(engine):
    """The Core tables the code queries describe the tables the migrations create."""
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, metadata)
    relevant = [d for d in diffs if not (isinstance(d, tuple) and d[0] in {"add_index",
                                                                          "remove_index"})]
    missing_tables = [d for d in relevant if isinstance(d, tuple) and d[0] == "remove_table"
                      and d[1].name not in {"spatial_ref_sys"}]
    columns = [d for d in relevant if isinstance(d, list) or (isinstance(d, tuple) and d[0] in {
        "add_column", "remove_column", "add_table"})]
    assert not missing_tables and not columns, diffs


@pytest.mark.parametrize("layer", ["eldercare_sites", "funeral_sites", "child_sites",
                                   "admin_areas", "place_names"])
def test_every_layer_has_stable_id_timestamps_and_source(engine, layer):
    columns = {c["name"] for c in inspect(engine).get_columns(layer)}
    assert {"id", "external_id", "created_at", "updated_at", "source", "geometry_accuracy",
            "is_public", "geom"} <= columns


def test_audit_log_is_append_only(engine):
    from geo_service import audit
    from geo_service.access import Principal, Role

    with engine.begin() as conn:
        entry = audit.record(conn, Principal("alice", Role.data_editor), "update",
                             "eldercare_sites", 1, {"beds": 1}, {"beds": 2})
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE id = :id",
                      "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"id": entry})
    with engine.connect() as conn:
        row = conn.execute(text("SELECT actor, before, after FROM audit_log WHERE id = :id"),
                           {"id": entry}).one()
    assert tuple(row) == ("alice", {"beds": 1}, {"beds": 2})


def test_the_app_role_refreshes_the_index_where_public_has_no_temp_right(database_factory):
    # a hardened server revokes TEMPORARY from PUBLIC; the refresh's staging table needs it
    from geo_service.gazetteer.index import refresh_search_index

    engine = make_engine(database_factory("temp_right"))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC'))
        conn.execute(text(
            "INSERT INTO place_names (external_id, name, geom, source, geometry_accuracy) "
            "VALUES ('t-1', '宝顶山', ST_SetSRID(ST_MakePoint(105.8, 29.75), 4490), 'test', "
            "'illustrative')"))
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL ROLE geo_service_app"))
        assert refresh_search_index(conn) == 1
        terms = conn.execute(text("SELECT pinyin_full FROM place_search")).scalars().all()
    assert terms == ["baodingshan"]
    engine.dispose()
