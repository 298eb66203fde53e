"""Faults on a throwaway PostGIS cluster of its own (never the shared one at :54329).

    .venv/bin/python bench/faults.py

1. the database restarted during load → requests fail fast with 503 (none hangs), and the
   service recovers on its own; prints the outage and recovery times;
2. a load (`geo-service load`) killed half-way → no partial rows;
3. read-only database (default_transaction_read_only) → writes answer 503, reads go on,
   nothing changes;
4. disk full, SIMULATED by a trigger raising SQLSTATE 53100 (disk_full) on insert → 503,
   no row written. (A real full disk needs a tiny filesystem mounted for the tablespace.)
Exit status 1 if any check fails.
"""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from load import free_port, report, run_load, serve

PASSWORD = "fault-password-1"
problems: list[str] = []


def check(ok: bool, what: str) -> None:
    """Print and remember one check."""
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        problems.append(what)


def editor_token(base: str) -> dict[str, str]:
    """Bearer header of the data editor made by setup."""
    response = httpx.post(f"{base}/auth/token", data={"username": "faults_editor",
                                                      "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def restart_during_load(cluster, base: str) -> None:
    """Stop and start PostGIS while 8 clients read; measure outage, recovery and hangs."""
    print("1. database restart during load")
    first_ok_after: list[float] = []

    def bounce() -> None:
        time.sleep(3)
        cluster.stop()
        stopped = time.monotonic()
        time.sleep(2)
        cluster.start()
        restarted = time.monotonic()
        while time.monotonic() - restarted < 30:
            try:
                if httpx.get(f"{base}/ready", timeout=5).status_code == 200:
                    first_ok_after.extend([restarted - stopped, time.monotonic() - restarted])
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=bounce)
    thread.start()
    result = asyncio.run(run_load(base, 14, 8, timeout=20))
    thread.join()
    report(result)
    slowest = max(v for vs in result["latencies"].values() for v in vs)
    check(bool(first_ok_after), "the service answered /ready 200 again after the restart")
    if first_ok_after:
        print(f"     database down {first_ok_after[0]:.1f} s; service ready "
              f"{first_ok_after[1]:.2f} s after PostGIS was back")
        check(first_ok_after[1] < 10, "recovered within 10 s of the database's return")
    check(slowest < 15, f"no request hung (slowest {slowest:.1f} s < 15 s)")
    after = httpx.get(f"{base}/layers", timeout=10)
    check(after.status_code == 200, "reads work after recovery")


def killed_load(engine, url: str, workdir: Path) -> None:
    """Kill `geo-service load` of a big file half-way: the layer is unchanged."""
    print("2. a load killed half-way")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, kind, ST_X(geom), ST_Y(geom) FROM "
                                 "eldercare_sites")).all()
        before = conn.execute(text("SELECT count(*), max(updated_at) FROM eldercare_sites")).one()
        runs = conn.execute(text("SELECT count(*) FROM ingest_runs")).scalar()
    big = workdir / "big.csv"
    with big.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["编号", "名称", "类型", "经度", "纬度"])
        for copy in range(120):
            for i, (name, kind, x, y) in enumerate(rows):
                out.writerow([f"killtest-{copy}-{i}", f"{name}{copy}", kind, x, y])
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url.replace("postgresql+psycopg",
                                                                "postgresql"))
    process = subprocess.Popen([sys.executable, "-m", "geo_service.cli", "load",
                                "eldercare_sites", str(big)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    writing = False
    while time.monotonic() < deadline and process.poll() is None:  # wait until it writes
        with engine.connect() as conn:
            writing = bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'geo_service' "
                "AND state = 'active' AND query ILIKE '%COPY%' OR query ILIKE '%stage_%'"
            )).scalar())
        if writing:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    print(f"     {len(rows) * 120} rows in the file; killed while writing: {writing}")
    time.sleep(1)
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*), max(updated_at) FROM eldercare_sites")).one()
        runs_after = conn.execute(text("SELECT count(*) FROM ingest_runs")).scalar()
    check(tuple(after) == tuple(before) and runs_after == runs,
          f"no partial rows ({after[0]} rows before and after, no load logged)")


def read_only(engine, base: str) -> None:
    """default_transaction_read_only on: writes 503, reads 200, nothing changes."""
    print("3. read-only database")
    headers = editor_token(base)
    with engine.connect() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar()
        count = conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar()
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM eldercare_sites LIMIT 1")
                            ).one()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND pid <> pg_backend_pid()"))
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"name": "只读", "kind": "老年食堂"}}
    write = None
    for _ in range(3):  # the first call may meet a terminated pooled connection
        write = httpx.post(f"{base}/collections/eldercare_sites/items", json=body,
                           headers=headers, timeout=30)
        if "read-only" in write.text:
            break
    assert write is not None
    check(write.status_code == 503 and "read-only" in write.json()["detail"],
          f"a write answers 503: {write.json()['detail']!r}")
    check(httpx.get(f"{base}/layers", timeout=30).status_code == 200, "reads go on (200)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET default_transaction_read_only = off"))
        conn.execute(text(f'ALTER DATABASE "{name}" RESET default_transaction_read_only'))
        after = conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar()
        # sessions keep the read-only default they started with: end them (the pool reconnects)
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                          "datname = current_database() AND pid <> pg_backend_pid()"))
    check(after == count, "nothing was written")


def disk_full(engine, base: str) -> None:
    """SQLSTATE 53100 on insert (simulated): 503, no row written."""
    print("4. disk full (simulated: a trigger raises SQLSTATE 53100)")
    headers = editor_token(base)
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE FUNCTION fake_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not extend file: No space left on device' "
            "USING ERRCODE = 'disk_full'; END $$"))
        conn.execute(text("CREATE TRIGGER fake_disk_full BEFORE INSERT ON eldercare_sites "
                          "FOR EACH ROW EXECUTE FUNCTION fake_disk_full()"))
        count = conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar()
        x, y = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM eldercare_sites LIMIT 1")
                            ).one()
    body = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"name": "磁盘满", "kind": "老年食堂"}}
    for _ in range(3):  # the first calls may meet pooled connections ended above
        write = httpx.post(f"{base}/collections/eldercare_sites/items", json=body,
                           headers=headers, timeout=30)
        if "disk full" in write.text:
            break
    check(write.status_code == 503 and "disk full" in write.json()["detail"],
          f"a write answers 503: {write.json()['detail']!r}")
    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER fake_disk_full ON eldercare_sites"))
        conn.execute(text("DROP FUNCTION fake_disk_full()"))
        after = conn.execute(text("SELECT count(*) FROM eldercare_sites")).scalar()
    check(after == count, "nothing was written")


def main() -> int:
    """Run the four fault scenarios on an own cluster."""
    from geo_service.auth import users
    from geo_service.db import migrate
    from geo_service.db.cluster import LocalCluster
    from geo_service.db.engine import make_engine
    from geo_service.sample import load_sample

    with tempfile.TemporaryDirectory(prefix="geo_faults_") as tmp:
        os.chmod(tmp, 0o755)
        cluster = LocalCluster(Path(tmp) / "pg", free_port(), "geo_service")
        started = time.monotonic()
        cluster.start()
        print(f"own PostGIS cluster on 127.0.0.1:{cluster.port} "
              f"(initialised in {time.monotonic() - started:.1f} s)")
        url = cluster.url()
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            load_sample(engine)
            with engine.begin() as conn:
                users.add_user(conn, "faults_editor", PASSWORD, "data_editor")
            with serve(url) as base:
                restart_during_load(cluster, base)
                killed_load(engine, url, Path(tmp))
                read_only(engine, base)
                disk_full(engine, base)
        finally:
            engine.dispose()
            cluster.stop()
    print("faults:", "FAILED: " + "; ".join(problems) if problems else "all checks passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
