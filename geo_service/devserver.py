"""Run the service (or any HTTP server) in a subprocess: for tests, benchmarks and fault drills."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(
    command: list[str], env: dict[str, str], probe: str, *, log: Path | None = None,
    timeout_s: float = 90.0, cwd: Path | None = None,
) -> Iterator[subprocess.Popen]:
    """Start `command`, wait until GET `probe` answers 200, and stop it afterwards."""
    handle = log.open("w") if log else None
    try:
        process = subprocess.Popen(command, env=env, stdout=handle or subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT, cwd=cwd)
    finally:
        if handle is not None:
            handle.close()
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(probe, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:] if log else ""
                raise RuntimeError(f"{command[0]} did not start:\n{tail}")
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def running_service(
    database_url: str, *, log: Path | None = None, **env_extra: str
) -> Iterator[str]:
    """`geo-service serve` on a free port over `database_url`; yields its base URL."""
    port = free_port()
    env = dict(os.environ, **env_extra)
    env["GEO_SERVICE_DATABASE_URL"] = database_url.replace("postgresql+psycopg", "postgresql")
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "geo_service.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port)]
    with running_server(command, env, f"{base}/health", log=log, timeout_s=60):
        yield base
