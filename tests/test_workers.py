"""Several worker processes, one set of limits: the login throttle counts across processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from accounts_helpers import PASSWORD, add_users

from geo_service.db import migrate
from geo_service.db.engine import make_engine
from geo_service.devserver import running_service


def _login(base: str, password: str) -> int:
    with httpx.Client() as fresh:  # a new connection each time: any worker may take it
        return fresh.post(f"{base}/auth/token",
                          data={"username": "planner", "password": password}).status_code


def test_login_throttle_counts_across_workers(database_factory, tmp_path: Path) -> None:
    url = database_factory("workers")
    engine = make_engine(url)
    migrate.upgrade(engine)
    add_users(engine, "planner")
    engine.dispose()
    with running_service(url, log=tmp_path / "a.log", GEO_SERVICE_WORKERS="2") as a, \
            running_service(url, log=tmp_path / "b.log", GEO_SERVICE_WORKERS="1") as b:
        serving_a = [p for p in psutil.process_iter(["cmdline"])
                     if a.rsplit(":", 1)[1] in " ".join(p.info["cmdline"] or [])]
        assert len(serving_a[0].children()) >= 2  # `serve --workers 2`: two worker processes
        # five wrong passwords spread over three worker processes: the fifth locks the name
        codes = [_login(base, "wrong-password-1") for base in (a, b, a, b, a)]
        assert codes == [401, 401, 401, 401, 429]
        assert _login(b, PASSWORD) == 429  # the other process refuses even the right password
        assert _login(a, PASSWORD) == 429
    # every request is logged once, as the service's JSON line (no plain-text access line)
    lines = (tmp_path / "a.log").read_text(encoding="utf-8").splitlines()
    logins = [json.loads(line) for line in lines
              if line.startswith("{") and '"/auth/token"' in line]
    assert [r["status"] for r in logins] == [401, 401, 429, 429]
    assert not [line for line in lines if '"POST /auth/token' in line], lines[-5:]


def _workers_of(base: str) -> list[psutil.Process]:
    port = base.rsplit(":", 1)[1]
    parent = next(p for p in psutil.process_iter(["cmdline"])
                  if port in " ".join(p.info["cmdline"] or []))
    # the live worker processes (multiprocessing's resource tracker is a child too)
    workers = []
    for child in parent.children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except (psutil.ZombieProcess, psutil.NoSuchProcess):
            pass  # a killed worker not yet reaped
    return workers


def _established(process: psutil.Process, port: int) -> int:
    return sum(1 for c in process.net_connections("tcp")
               if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port)


def test_keep_alive_connections_opened_at_once_reach_every_worker(database_factory,
                                                                  tmp_path: Path) -> None:
    """Each worker listens on its own SO_REUSEPORT socket, so a burst of keep-alive
    connections is spread by the kernel (one shared socket gave them all to one worker)."""
    url = database_factory("workers_spread")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with running_service(url, log=tmp_path / "s.log", GEO_SERVICE_WORKERS="2") as base:
        port = int(base.rsplit(":", 1)[1])
        workers = _workers_of(base)
        assert len(workers) == 2
        listening = {os.readlink(f"/proc/{w.pid}/fd/{c.fd}")  # 'socket:[inode]'
                     for w in workers for c in w.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
        assert len(listening) == 2  # one socket each, not one shared socket
        clients = [httpx.Client() for _ in range(16)]  # 16 at once: 2/65536 to land on one
        try:
            for client in clients:
                assert client.get(f"{base}/health").status_code == 200
            counts = [_established(w, port) for w in workers]
            assert sum(counts) == 16 and min(counts) >= 1, counts
        finally:
            for client in clients:
                client.close()


def test_a_worker_that_dies_is_replaced(database_factory, tmp_path: Path) -> None:
    url = database_factory("workers_restart")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with running_service(url, log=tmp_path / "r.log", GEO_SERVICE_WORKERS="2") as base:
        first = _workers_of(base)
        first[0].kill()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = [w for w in _workers_of(base) if w.is_running()]
            if len(now) == 2 and first[0].pid not in {w.pid for w in now}:
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the killed worker was not replaced")
        for _ in range(20):  # every connection is answered, whichever socket takes it
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/health", timeout=30).status_code == 200
    assert not [w for w in first if w.is_running()]  # stopping the service stops them all


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_port_in_use_is_one_clear_error(database_factory, workers: str) -> None:
    url = database_factory("workers_port")
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, GEO_SERVICE_DATABASE_URL=url.replace("postgresql+psycopg",
                                                                    "postgresql"))
        done = subprocess.run(
            [sys.executable, "-m", "geo_service.cli", "serve", "--workers", workers, "--port",
             str(port)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"无法在 127.0.0.1:{port} 上监听" in done.stderr and "Traceback" not in done.stderr


def test_the_served_app_freezes_start_up_objects_and_a_test_app_does_not(sample_url: str
                                                                       ) -> None:
    """`serve`'s app leaves start-up's objects out of full collections (gc.freeze after the
    pool is filled); create_app, which tests build by the dozen, freezes nothing."""
    script = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        "from geo_service.api.app import create_app, serving_app\n"
        "with TestClient(create_app()) as client:\n"
        "    assert client.get('/health').status_code == 200\n"
        "    print(gc.get_freeze_count())\n"
        "with TestClient(serving_app()) as client:\n"
        "    assert client.get('/health').status_code == 200\n"
        "    print(gc.get_freeze_count())\n")
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=sample_url)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    plain, served = map(int, done.stdout.split())
    assert plain == 0 and served > 10_000
