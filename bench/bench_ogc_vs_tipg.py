"""Benchmark: this service's OGC API against tipg on the same PostGIS database.

    .venv/bin/python bench/bench_ogc_vs_tipg.py [--database-url URL] [--requests 400]
                                                [--concurrency 8] [--workers 1 2]

Without --database-url a throwaway database with the 大足 sample is created on the
configured server and dropped afterwards. tipg (PyPI) is installed into its own virtualenv
bench/.venv-tipg on first run; nothing else is installed. For each --workers N both servers
run N worker processes on loopback (this service with its anonymous rate limit off).
Workloads: items as GeoJSON, 100 per page, without and with a bbox; Mapbox vector tiles
z10–z14 covering the district (eldercare_sites), cold (a second instance of this service
with its tile cache off, so every tile is rendered) and warm (the tile cache filled by one
pass over the same tiles first). Prints requests per second, p50 and p95 latency for each,
and the ratios (this service / tipg; tipg has no tile cache, so one tipg run serves both
tile rows). `--no-tipg` times this service alone (cold/warm ratio only), e.g. for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from geo_service.devserver import free_port, running_server

REPO = Path(__file__).resolve().parents[1]
TIPG_VENV = REPO / "bench" / ".venv-tipg"
COLLECTION = "eldercare_sites"
BBOX = (105.65, 29.62, 105.80, 29.76)
DISTRICT = (105.48, 29.39, 106.02, 29.86)


def ensure_tipg() -> Path:
    """bench/.venv-tipg with tipg and uvicorn[standard] (created once).

    uvicorn[standard] (uvloop, httptools) is what this service runs on, so both servers get
    the same HTTP stack and the comparison is between the applications."""
    uvicorn = TIPG_VENV / "bin" / "uvicorn"
    python = TIPG_VENV / "bin" / "python"
    if not uvicorn.exists():
        subprocess.run([sys.executable, "-m", "venv", str(TIPG_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import tipg, uvloop, httptools"],
                      capture_output=True).returncode != 0:
        subprocess.run([str(TIPG_VENV / "bin" / "pip"), "install", "-q", "tipg",
                        "uvicorn[standard]"], check=True)
    return uvicorn


@contextmanager
def sample_database(url: str | None):
    """The given database, or a throwaway one with the sample (dropped at the end)."""
    if url:
        yield url
        return
    sys.path.insert(0, str(REPO))
    from scratch import scratch_database  # bench/scratch.py

    from geo_service.db.engine import make_engine
    from geo_service.sample import load_sample

    with scratch_database("geo_bench") as full:
        engine = make_engine(full)
        load_sample(engine)
        engine.dispose()
        yield full.replace("postgresql+psycopg", "postgresql")


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
    errors = received = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors, received
            while not queue.empty():
                url = queue.get_nowait()
                start = time.perf_counter()
                response = await client.get(url, headers={"Accept-Encoding": "gzip"})
                await response.aread()
                received += response.num_bytes_downloaded  # as sent (gzip), body only
                latencies.append(time.perf_counter() - start)
                if response.status_code not in (200, 204):
                    errors += 1
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(urls) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000, "errors": errors,
            "kb": received / len(urls) / 1000}


def workloads(ours: str, cold: str, tipg: str, n: int
              ) -> dict[str, tuple[list[str], list[str]]]:
    """Per workload: the URL list for this service and for tipg (same requests)."""
    box = ",".join(str(v) for v in BBOX)
    offsets = [(i * 100) % 400 for i in range(n)]
    tiles = tiles_over_district()
    tile_seq = [tiles[i % len(tiles)] for i in range(n)]
    ours_c, tipg_c = f"{ours}/collections/{COLLECTION}", f"{tipg}/collections/public.{COLLECTION}"
    tile_path = f"/collections/{COLLECTION}/tiles/WebMercatorQuad"
    tipg_tiles = [f"{tipg_c}/tiles/WebMercatorQuad/{z}/{x}/{y}" for z, x, y in tile_seq]
    return {
        "items 100/page": ([f"{ours_c}/items?limit=100&offset={o}" for o in offsets],
                           [f"{tipg_c}/items?limit=100&offset={o}" for o in offsets]),
        "items 100/page + bbox": (
            [f"{ours_c}/items?limit=100&bbox={box}" for _ in offsets],
            [f"{tipg_c}/items?limit=100&bbox={box}" for _ in offsets]),
        # village polygons: this service's `villages` collection is tipg's admin_areas rows
        # of level village (a property filter there)
        "villages 100/page": (
            [f"{ours}/collections/villages/items?limit=100&offset={o}" for o in offsets],
            [f"{tipg}/collections/public.admin_areas/items?limit=100&offset={o}&level=village"
             for o in offsets]),
        "villages 100/page + bbox": (
            [f"{ours}/collections/villages/items?limit=100&bbox={box}" for _ in offsets],
            [f"{tipg}/collections/public.admin_areas/items?limit=100&bbox={box}&level=village"
             for _ in offsets]),
        TILES_COLD: ([f"{cold}{tile_path}/{z}/{y}/{x}" for z, x, y in tile_seq], tipg_tiles),
        TILES_WARM: ([f"{ours}{tile_path}/{z}/{y}/{x}" for z, x, y in tile_seq], tipg_tiles),
    }


TILES_COLD, TILES_WARM = "tiles z10-z14 cold", "tiles z10-z14 warm"


# wrk cycles through a file of paths (one per line) and prints its figures in one line
WRK_SCRIPT = """
local paths, i = {}, 0
init = function(args) for line in io.lines(args[1]) do paths[#paths + 1] = line end end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], {["Accept-Encoding"] = "gzip"})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %f %f %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95),
    e.connect + e.read + e.write + e.status + e.timeout, summary.bytes))
end
"""


def run_wrk(urls: list[str], concurrency: int, seconds: int) -> dict[str, float]:
    """The same figures as `run`, from wrk (C, one thread) cycling through the URLs for
    `seconds`: a load generator that needs far less CPU than the service it measures."""
    parts = urlsplit(urls[0])
    base = f"{parts.scheme}://{parts.netloc}"
    with tempfile.TemporaryDirectory() as folder:
        script, paths = Path(folder) / "cycle.lua", Path(folder) / "paths.txt"
        script.write_text(WRK_SCRIPT, encoding="utf-8")
        paths.write_text("\n".join(u[len(base):] for u in urls) + "\n", encoding="utf-8")
        done = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout",
                               "60s", "-s", str(script), base, "--", str(paths)],
                              capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    count, micros, p50, p95, errors, size = line.split()[1:]
    return {"rps": int(count) / (int(micros) / 1e6), "p50": float(p50) / 1000,
            "p95": float(p95) / 1000, "errors": int(errors),
            "kb": int(size) / max(1, int(count)) / 1000}  # bytes read, headers included


def spread(urls: list[str], n: int = 20) -> list[str]:
    """`n` URLs from across the list (a warm-up that meets every zoom of the tiles)."""
    return urls[::max(1, len(urls) // n)][:n]
Result = dict[str, float]


def measure(urls: dict[str, tuple[list[str], list[str]]], concurrency: int, with_tipg: bool,
            workers: int, seconds: int | None = None
            ) -> dict[str, tuple[Result, Result | None]]:
    """Time every workload: ours, then tipg (its tile run shared by the cold and warm rows);
    with `seconds`, wrk drives each run for that long, else the httpx client runs the list."""
    def timed(batch: list[str]) -> Result:
        if seconds:
            return run_wrk(batch, concurrency, seconds)
        return asyncio.run(run(batch, concurrency))

    results: dict[str, tuple[Result, Result | None]] = {}
    tipg_tiles: Result | None = None
    for name, (our_urls, tipg_urls) in urls.items():
        if name == TILES_WARM:  # fill every worker's tile cache (each keeps its own)
            for _ in range(2 * workers):
                asyncio.run(run(our_urls, concurrency))
        else:  # warm-up (connections, statements of every zoom), spread over the list
            asyncio.run(run(spread(our_urls), 4))
        mine = timed(our_urls)
        theirs = None
        if with_tipg and name == TILES_WARM and tipg_tiles is not None:
            theirs = tipg_tiles
        elif with_tipg:
            asyncio.run(run(spread(tipg_urls), 4))
            theirs = timed(tipg_urls)
            tipg_tiles = theirs if name == TILES_COLD else tipg_tiles
        results[name] = (mine, theirs)
    return results


def report(results: dict[str, tuple[Result, Result | None]], workers: int) -> None:
    """Print the figures and the ratios of one worker count."""
    print(f"\n--- {workers} worker process(es) each ---")
    print(f"{'workload':24} {'':6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6} "
          f"{'kB/req':>7}")
    for name, (mine, theirs) in results.items():
        for label, r in (("ours", mine), ("tipg", theirs)):
            if r is not None:
                print(f"{name:24} {label:6} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} "
                      f"{r['errors']:6d} {r['kb']:7.1f}")
        if theirs is not None:
            print(f"{'':24} {'ratio':6} {mine['rps'] / theirs['rps']:7.2f}x "
                  f"{theirs['p50'] / mine['p50']:7.2f}x {theirs['p95'] / mine['p95']:7.2f}x "
                  "(throughput ours/tipg; latency tipg/ours: >1 = ours faster)")
    cold, warm = results[TILES_COLD][0], results[TILES_WARM][0]
    print(f"tiles warm/cold (ours): throughput {warm['rps'] / cold['rps']:.2f}x, "
          f"p95 {cold['p95'] / warm['p95']:.2f}x faster")
    tipg = results[TILES_COLD][1]
    if tipg is not None:
        print(f"goals: cold tiles {cold['rps'] / tipg['rps']:.2f}x tipg (goal >= 1, p95 "
              f"{cold['p95']:.1f} vs {tipg['p95']:.1f} ms, goal <=); warm tiles "
              f"{warm['rps'] / tipg['rps']:.2f}x (goal >= 3); items "
              + ", ".join(f"{results[n][0]['rps'] / r['rps']:.2f}x" for n in results
                          if "100/page" in n and (r := results[n][1]) is not None)
              + " (goal >= 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostGIS with the sample (default: throwaway)")
    parser.add_argument("--requests", type=int, default=400, help="requests per workload")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1],
                        help="worker processes of each server; one run per count (e.g. 1 2)")
    parser.add_argument("--no-tipg", action="store_true", help="time this service alone")
    parser.add_argument("--client", choices=("wrk", "httpx"),
                        default="wrk" if shutil.which("wrk") else "httpx",
                        help="load generator: wrk (default when installed; Debian package "
                             "wrk) runs each workload for --seconds, httpx fetches --requests")
    parser.add_argument("--seconds", type=int, default=5, help="wrk: seconds per run")
    args = parser.parse_args()
    tipg_uvicorn = None if args.no_tipg else ensure_tipg()
    logs = REPO / "bench" / "results"
    logs.mkdir(exist_ok=True)
    load = (f"wrk, {args.seconds:g} s per workload" if args.client == "wrk"
            else f"httpx, {args.requests} requests per workload")
    print(f"{load}, concurrency {args.concurrency}, "
          f"collections {COLLECTION} and villages, {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, {time.strftime('%Y-%m-%d %H:%M')}")
    with sample_database(args.database_url) as url:
        for workers in args.workers:
            report(serve_and_measure(url, workers, tipg_uvicorn, args, logs), workers)


def serve_and_measure(url: str, workers: int, tipg_uvicorn: Path | None,
                      args: argparse.Namespace, logs: Path
                      ) -> dict[str, tuple[Result, Result | None]]:
    """Start this service (cached and cache-off) and tipg with `workers` each; measure."""
    ports = [free_port() for _ in range(3)]
    ours, cold, tipg = (f"http://127.0.0.1:{p}" for p in ports)
    ours_env = {**os.environ, "GEO_SERVICE_DATABASE_URL": url, "GEO_SERVICE_WORKERS": str(workers),
                "GEO_SERVICE_RATE_LIMIT_PER_S": "0"}
    serve = [sys.executable, "-m", "geo_service.cli", "serve", "--workers", str(workers),
             "--port"]
    with ExitStack() as stack:
        stack.enter_context(running_server([*serve, str(ports[0])], ours_env, f"{ours}/health",
                                           log=logs / "ours.log", cwd=REPO))
        stack.enter_context(running_server(
            [*serve, str(ports[1])], {**ours_env, "GEO_SERVICE_TILE_CACHE_MB": "0"},
            f"{cold}/health", log=logs / "ours-cold.log", cwd=REPO))
        if tipg_uvicorn is not None:
            tipg_env = {**os.environ, "DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["public"]',
                        "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
            stack.enter_context(running_server(
                [str(tipg_uvicorn), "tipg.main:app", "--port", str(ports[2]), "--workers",
                 str(workers), "--log-level", "warning"], tipg_env, f"{tipg}/collections",
                log=logs / "tipg.log", cwd=REPO))
        return measure(workloads(ours, cold, tipg, args.requests), args.concurrency,
                       tipg_uvicorn is not None, workers,
                       args.seconds if args.client == "wrk" else None)


if __name__ == "__main__":
    main()
