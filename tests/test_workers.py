"""Several worker processes, one set of limits: the login throttle counts across processes."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psutil
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
