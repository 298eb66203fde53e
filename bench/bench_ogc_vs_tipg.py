"""Benchmark: this service's OGC API against tipg on the same PostGIS database.

    .venv/bin/python bench/bench_ogc_vs_tipg.py [--database-url URL] [--requests 400]
                                                [--concurrency 8]

Without --database-url a throwaway database with the 大足 sample is created on the
configured server and dropped afterwards. tipg (PyPI) is installed into its own virtualenv
bench/.venv-tipg on first run; nothing else is installed. Both servers run as one uvicorn
worker on loopback. Workloads: items as GeoJSON, 100 per page, without and with a bbox;
Mapbox vector tiles z10–z14 covering the district (eldercare_sites). Prints requests per
second, p50 and p95 latency for each, and the ratios (this service / tipg).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from geo_service.devserver import free_port, running_server

REPO = Path(__file__).resolve().parents[1]
TIPG_VENV = REPO / "bench" / ".venv-tipg"
COLLECTION = "eldercare_sites"
BBOX = (105.65, 29.62, 105.80, 29.76)
DISTRICT = (105.48, 29.39, 106.02, 29.86)


def ensure_tipg() -> Path:
    """bench/.venv-tipg with tipg and uvicorn (created once)."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg", "uvicorn"],
                       check=True)
    return uvicorn


@contextmanager
def sample_database(url: str | None):
    """The given database, or a throwaway one with the sample (dropped at the end)."""
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO))
    from geo_service.db import migrate
    from geo_service.db.engine import make_engine, resolve_url
    from geo_service.sample import load_sample

    server = resolve_url()
    name = f"geo_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server).set(drivername="postgresql", database="postgres")
    admin_info = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_info, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    full = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        engine = make_engine(full)
        migrate.upgrade(engine)
        load_sample(engine)
        engine.dispose()
        yield full.replace("postgresql+psycopg", "postgresql")
    finally:
        with psycopg.connect(admin_info, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


def tiles_over_district() -> list[tuple[int, int, int]]:
    """(z, x, y) of every tile z10–z14 covering the district's bounding box."""
    import math

    def index(lon: float, lat: float, z: int) -> tuple[int, int]:
        n = 2**z
        x = int((lon + 180) / 360 * n)
        rad = math.radians(lat)
        y = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
        return x, y

    found = []
    for z in range(10, 15):
        x0, y1 = index(DISTRICT[0], DISTRICT[1], z)
        x1, y0 = index(DISTRICT[2], DISTRICT[3], z)
        found += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return found


async def run(urls: list[str], concurrency: int) -> dict[str, float]:
    """Fetch every URL with `concurrency` workers; throughput and latency figures."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                url = queue.get_nowait()
                start = time.perf_counter()
                response = await client.get(url)
                await response.aread()
                latencies.append(time.perf_counter() - start)
                if response.status_code not in (200, 204):
                    errors += 1
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(urls) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000, "errors": errors}


def workloads(ours: str, tipg: str, n: int) -> dict[str, tuple[list[str], list[str]]]:
    """Per workload: the URL list for this service and for tipg (same requests)."""
    box = ",".join(str(v) for v in BBOX)
    offsets = [(i * 100) % 400 for i in range(n)]
    tiles = tiles_over_district()
    tile_seq = [tiles[i % len(tiles)] for i in range(n)]
    ours_c, tipg_c = f"{ours}/collections/{COLLECTION}", f"{tipg}/collections/public.{COLLECTION}"
    return {
        "items 100/page": ([f"{ours_c}/items?limit=100&offset={o}" for o in offsets],
                           [f"{tipg_c}/items?limit=100&offset={o}" for o in offsets]),
        "items 100/page + bbox": (
            [f"{ours_c}/items?limit=100&bbox={box}" for _ in offsets],
            [f"{tipg_c}/items?limit=100&bbox={box}" for _ in offsets]),
        "tiles z10-z14": (
            [f"{ours_c}/tiles/WebMercatorQuad/{z}/{y}/{x}" for z, x, y in tile_seq],
            [f"{tipg_c}/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in tile_seq]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostGIS with the sample (default: throwaway)")
    parser.add_argument("--requests", type=int, default=400, help="requests per workload")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    tipg_uvicorn = ensure_tipg()
    logs = REPO / "bench" / "results"
    logs.mkdir(exist_ok=True)
    with sample_database(args.database_url) as url:
        ours_port, tipg_port = free_port(), free_port()
        ours, tipg = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{tipg_port}"
        ours_env = {**os.environ, "GEO_SERVICE_DATABASE_URL": url}
        tipg_env = {**os.environ, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]',
                    "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
        with running_server([sys.executable, "-m", "geo_service.cli", "serve", "--port",
                             str(ours_port)], ours_env, f"{ours}/health",
                            log=logs / "ours.log", cwd=REPO), \
             running_server([str(tipg_uvicorn), "tipg.main:app", "--port", str(tipg_port),
                             "--log-level", "warning"], tipg_env, f"{tipg}/collections",
                            log=logs / "tipg.log", cwd=REPO):
            results = {}
            for name, (our_urls, tipg_urls) in workloads(ours, tipg, args.requests).items():
                asyncio.run(run(our_urls[:20], 4))  # warm-up
                asyncio.run(run(tipg_urls[:20], 4))
                results[name] = (asyncio.run(run(our_urls, args.concurrency)),
                                 asyncio.run(run(tipg_urls, args.concurrency)))
    print(f"{args.requests} requests per workload, concurrency {args.concurrency}, "
          f"collection {COLLECTION}\n")
    print(f"{'workload':24} {'':6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}")
    for name, (mine, theirs) in results.items():
        for label, r in (("ours", mine), ("tipg", theirs)):
            print(f"{name:24} {label:6} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} "
                  f"{r['errors']:6d}")
        print(f"{'':24} {'ratio':6} {mine['rps'] / theirs['rps']:7.2f}x "
              f"{theirs['p50'] / mine['p50']:7.2f}x {theirs['p95'] / mine['p95']:7.2f}x "
              "(throughput ours/tipg; latency tipg/ours: >1 = ours faster)")


if __name__ == "__main__":
    main()
