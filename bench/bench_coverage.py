"""Benchmark: nearest site + within-radius for many units × sites, in one process and on Dask.

    .venv/bin/python bench/bench_coverage.py                       # 600 000 units × 100 000 sites
    .venv/bin/python bench/bench_coverage.py --units 60000 --sites 10000   # a smaller run

Synthetic national-like data: points in lon 98–118°E, lat 22–40°N, projected to EPSG:4544
(the engine's plane; fine for timing). Sites: 70 % radius (300–5000 m), 30 % township rule.
Prints the engine's time, a plain scipy cKDTree nearest + query_ball_point on the same arrays
and the ratio engine / cKDTree, then the Dask path and the ratio dask / in-process; checks
all give identical results. `--no-dask` skips the Dask run (e.g. a short smoke run).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
from scipy.spatial import cKDTree


def main() -> None:
    """Run the benchmark and print figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=600_000)
    ap.add_argument("--sites", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--partitions", type=int, default=0, help="default: 4 per worker")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the engine and of plain cKDTree, alternating; best of each")
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    from geo_service.coverage.distance import PlanarDistance
    from geo_service.coverage.engine import assign
    from geo_service.coverage.partitioned import assign_partitioned

    rng = np.random.default_rng(args.seed)
    model = PlanarDistance()
    n, k = args.units, args.sites
    t0 = time.perf_counter()
    ux, uy = model.project(rng.uniform(98, 118, n), rng.uniform(22, 40, n))
    sx, sy = model.project(rng.uniform(98, 118, k), rng.uniform(22, 40, k))
    towns = np.array([f"T{i:05d}" for i in range(40_000)], dtype=object)
    unit_town = towns[rng.integers(0, len(towns), n)]
    site_town = towns[rng.integers(0, len(towns), k)]
    rule = np.where(rng.random(k) < 0.7, "radius", "township").astype(object)
    radius = np.where(rule == "radius", rng.choice([300.0, 1000.0, 2000.0, 5000.0], k), np.nan)
    uxy, sxy = np.column_stack([ux, uy]), np.column_stack([sx, sy])
    print(f"data: {n:,} units × {k:,} sites generated and projected in "
          f"{time.perf_counter() - t0:.2f} s")

    print(f"machine: {os.cpu_count()} cores, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}, {time.strftime('%Y-%m-%d %H:%M')}")

    def plain() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest and within-radius counts by scipy's cKDTree alone (default trees)."""
        near_d, near_i = cKDTree(sxy).query(uxy, k=1)
        has_r = np.flatnonzero(np.isfinite(radius))
        lists = cKDTree(uxy).query_ball_point(sxy[has_r], r=radius[has_r])
        pairs = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.int64)
        return near_d, near_i, np.bincount(pairs, minlength=n)

    local_s = plain_s = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        a = assign(uxy, unit_town, sxy, site_town, radius, rule, model)
        local_s = min(local_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        near_d, near_i, within = plain()
        plain_s = min(plain_s, time.perf_counter() - t0)
    print(f"in-process engine: {local_s:.2f} s (best of {args.repeat}) — covered "
          f"{a.covered.mean():.1%}, median nearest {np.median(a.distance):.0f} m")
    same_plain = (np.array_equal(a.nearest, near_i) and np.array_equal(a.sites_within, within)
                  and bool(np.allclose(a.distance, near_d, rtol=0, atol=1e-6)))
    print(f"plain scipy cKDTree (nearest + query_ball_point): {plain_s:.2f} s "
          f"(best of {args.repeat}) — "
          f"ratio engine/cKDTree {local_s / plain_s:.2f} (goal <= 1.5); identical: {same_plain}")
    if args.no_dask:
        return

    parts = args.partitions or 4 * args.workers
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        t0 = time.perf_counter()
        b = assign_partitioned(uxy, unit_town, sxy, site_town, radius, rule, parts, model)
        dask_s = time.perf_counter() - t0
    same = (np.array_equal(a.nearest, b.nearest) and np.array_equal(a.covered, b.covered)
            and float(np.abs(a.distance - b.distance).max()) == 0.0)
    print(f"dask-geopandas on LocalCluster ({args.workers} workers, {parts} partitions): "
          f"{dask_s:.2f} s — ratio dask/in-process {dask_s / local_s:.2f}; identical: {same}")


if __name__ == "__main__":
    main()
