"""Bounded load: mixed anonymous reads against the real server on loopback for a fixed time.

    .venv/bin/python bench/load.py [--seconds 20] [--concurrency 16] [--url http://…]

Without --url it makes a throwaway copy of the 大足 sample in the local cluster and starts
`geo-service serve` on a free port (rate limit off). Prints requests/s and p50/p95/p99
latency per route; exit status 1 if any request failed (non-2xx or a transport error).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import defaultdict
from contextlib import AbstractContextManager
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo_service.devserver import free_port, running_service

__all__ = ["free_port", "report", "run_load", "serve"]


def serve(database_url: str, **env_extra: str) -> AbstractContextManager[str]:
    """`geo-service serve` over `database_url` with the anonymous rate limit off."""
    return running_service(database_url, GEO_SERVICE_RATE_LIMIT_PER_S="0", **env_extra)


def read_mix(base: str) -> list[tuple[str, str]]:
    """(route label, URL) of the reads a day of public use is made of."""
    listing = httpx.get(f"{base}/collections/eldercare_sites/items", params={"limit": 200},
                        timeout=30).json()
    ids = [f["id"] for f in listing.get("features", [])][:50] or [1]
    mix = [("/layers", "/layers"), ("/health", "/health"),
           ("items page", "/collections/eldercare_sites/items?limit=50"),
           ("items bbox", "/collections/child_sites/items?bbox=105.6,29.6,105.8,29.8"),
           ("tile z12", "/collections/eldercare_sites/tiles/WebMercatorQuad/12/1705/3251"),
           ("nearest", "/map/api/nearest?lon=105.72&lat=29.70&limit=5"),
           ("reverse", "/places/reverse?lon=105.72&lat=29.70")]
    mix += [("one feature", f"/collections/eldercare_sites/items/{i}") for i in ids[:10]]
    return mix


async def run_load(base: str, seconds: float, concurrency: int,
                   timeout: float = 30.0) -> dict:
    """Hit the mix with `concurrency` workers for `seconds`; latencies and failures by route."""
    mix = read_mix(base)
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    stop = time.monotonic() + seconds

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=base, timeout=timeout) as client:
            while time.monotonic() < stop:
                label, url = rng.choice(mix)
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code < 400
                except httpx.HTTPError:
                    ok = False
                latencies[label].append(time.perf_counter() - started)
                if not ok:
                    failures[label] += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return {"latencies": dict(latencies), "failures": dict(failures), "seconds": seconds}


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0–1) of values, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(result: dict) -> int:
    """Print the figures; returns the number of failed requests."""
    every = [v for vs in result["latencies"].values() for v in vs]
    print(f"{'route':14} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'fail':>5}")
    for label, values in sorted(result["latencies"].items()):
        print(f"{label:14} {len(values):6d} {percentile(values, .5):8.1f} "
              f"{percentile(values, .95):8.1f} {percentile(values, .99):8.1f} "
              f"{result['failures'].get(label, 0):5d}")
    failed = sum(result["failures"].values())
    print(f"total: {len(every)} requests in {result['seconds']:.0f} s = "
          f"{len(every) / result['seconds']:.0f} req/s; p50 {percentile(every, .5):.1f} ms, "
          f"p95 {percentile(every, .95):.1f} ms, p99 {percentile(every, .99):.1f} ms, "
          f"mean {1000 * statistics.fmean(every):.1f} ms; {failed} failed")
    return failed


def main() -> int:
    """Run the bounded load and print p95."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", help="an already running service (default: start one)")
    args = parser.parse_args()
    if args.url:
        return 1 if report(asyncio.run(run_load(args.url, args.seconds,
                                                args.concurrency))) else 0
    from hostile import scratch_database

    with scratch_database() as engine:
        url = engine.url.render_as_string(hide_password=False)
        with serve(url) as base:
            result = asyncio.run(run_load(base, args.seconds, args.concurrency))
    return 1 if report(result) else 0


if __name__ == "__main__":
    sys.exit(main())
