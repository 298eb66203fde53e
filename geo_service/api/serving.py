"""`geo-service serve`: uvicorn worker processes, each accepting on its own SO_REUSEPORT socket.

uvicorn's own workers share one listening socket, and whichever process wakes first accepts
every connection waiting: a client that opens a few keep-alive connections at once (a
reverse proxy's upstream pool, QGIS, a load test) often lands on one worker while the others
idle. With SO_REUSEPORT the kernel spreads new connections over the workers' sockets.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import time
from types import FrameType

import uvicorn

from geo_service.errors import GeoServiceError

APP = "geo_service.api.app:serving_app"
BACKLOG = 2048
RESTART_PAUSE_S = 1.0
STARTUP_FAILURE = 3  # a worker's exit code when the app did not start (as uvicorn's)
STOP_TIMEOUT_S = 30.0
log = logging.getLogger("geo_service.serving")


def bound_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket on host:port with SO_REUSEPORT (listening when `listen`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        if listen:
            sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _config(host: str, port: int, access_log: bool) -> uvicorn.Config:
    return uvicorn.Config(APP, factory=True, host=host, port=port, log_level="info",
                          access_log=access_log, backlog=BACKLOG)


def _worker(host: str, port: int, access_log: bool) -> None:
    """One worker process: its own listening socket, one uvicorn server."""
    sock = bound_socket(host, port, listen=True)
    server = uvicorn.Server(_config(host, port, access_log))
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def run(host: str, port: int, workers: int, *, access_log: bool) -> int:
    """Serve until SIGINT/SIGTERM; a worker that dies is replaced. Returns the exit code."""
    # one worker serves on this socket; with several it is held (bound, not listening) so
    # the port stays ours, and a port in use is reported here rather than by every worker
    try:
        holder = bound_socket(host, port, listen=workers == 1)
    except OSError as exc:
        raise GeoServiceError(f"无法在 {host}:{port} 上监听：{exc.strerror}（端口被别的程序占用？"
                              "换一个 --port，或先停掉占用它的程序）") from exc
    if workers == 1:
        server = uvicorn.Server(_config(host, port, access_log))
        with holder:
            server.run(sockets=[holder])
        return 0 if server.started else STARTUP_FAILURE
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=_worker, args=(host, port, access_log), daemon=False)
        process.start()
        return process

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    running = [start() for _ in range(workers)]
    code = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, process in enumerate(running):
                if process.is_alive() or stopping:
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker %s could not start the service; stopping", process.pid)
                    stopping, code = True, STARTUP_FAILURE
                    break
                log.warning("worker %s exited with %s; starting another", process.pid,
                            process.exitcode)
                time.sleep(RESTART_PAUSE_S)
                running[i] = start()
    finally:
        for process in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
        holder.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return code
