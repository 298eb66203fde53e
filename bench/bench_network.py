"""Benchmark: nearest facility along roads, this project vs pandana, on the same network.

    .venv/bin/python bench/bench_network.py --size district     # ≈ 20 000 edges
    .venv/bin/python bench/bench_network.py --size large        # ≈ 1 000 000 edges,
                                                                #   600 000 demand, 100 000 sites
    .venv/bin/python bench/bench_network.py --grid 100 --demand 5000 --sites 200   # custom

The network is a jittered street grid (n × n nodes, ≈ 2n² two-way edges, lengths in metres
on a plane). Demand points and sites lie exactly on nodes, so both tools answer the same
question (pandana snaps to nodes; this project snaps to edges, here at distance 0).

This project: `geo_service.network.paths.nearest` — snap, split, one multi-source Dijkstra
from a super-source (scipy.sparse.csgraph), road metres by pointer doubling. pandana 0.8:
contraction hierarchies (`Network`), then `set_pois` + `nearest_pois(num_pois=1)`.
Both run on one core (OMP_NUM_THREADS=1 for pandana's OpenMP). Prints each phase's time,
the pandana/this ratio (> 1: this project is faster) and the largest disagreement.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before pandana's OpenMP starts

import numpy as np

SIZES = {"district": (100, 10_000, 400), "large": (708, 600_000, 100_000)}


def grid(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray]:
    """Node x, y (metres) and edge from/to of a jittered n × n street grid."""
    xs, ys = np.meshgrid(np.arange(n) * 100.0, np.arange(n) * 100.0)
    x = xs.ravel() + rng.uniform(-30, 30, n * n)
    y = ys.ravel() + rng.uniform(-30, 30, n * n)
    ids = np.arange(n * n).reshape(n, n)
    fr = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    to = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    return x, y, fr, to


def ours(x, y, fr, to, demand, sites) -> tuple[dict, np.ndarray]:
    """Graph build and the nearest pass of this project; → timings and metres per demand."""
    import shapely

    from geo_service.network.graph import RoadGraph
    from geo_service.network.paths import ModeNetwork, nearest
    from geo_service.network.speeds import Speeds

    t0 = time.perf_counter()
    xy = np.column_stack([x, y])
    geom = shapely.linestrings(np.stack([xy[fr], xy[to]], axis=1))
    length = shapely.length(geom)
    m = len(fr)
    graph = RoadGraph(xy, fr.astype(np.int64), to.astype(np.int64), length,
                      np.full(m, "村道", dtype=object), np.zeros(m, bool), np.full(m, np.nan),
                      np.arange(m, dtype=np.int64), geom)
    speeds = Speeds(walk_kmh=3.6)
    net = ModeNetwork(graph, "walk", speeds)
    t1 = time.perf_counter()
    found = nearest(net, xy[demand], xy[sites])
    t2 = time.perf_counter()
    metres = found.seconds * speeds.walk_mps
    return {"build_s": t1 - t0, "nearest_s": t2 - t1}, metres


def theirs(x, y, fr, to, demand, sites) -> tuple[dict, np.ndarray]:
    """pandana: contraction hierarchies, then nearest POI per node; → timings and metres."""
    import pandana as pdna
    import pandas as pd

    t0 = time.perf_counter()
    w = np.hypot(x[fr] - x[to], y[fr] - y[to])
    net = pdna.Network(pd.Series(x), pd.Series(y), pd.Series(fr), pd.Series(to),
                       pd.DataFrame({"w": w}), twoway=True)
    t1 = time.perf_counter()
    far = float(np.hypot(np.ptp(x), np.ptp(y)) * 3)
    net.set_pois("sites", far, 1, pd.Series(x[sites]), pd.Series(y[sites]))
    nodes = net.get_node_ids(pd.Series(x[demand]), pd.Series(y[demand]))
    table = net.nearest_pois(far, "sites", num_pois=1)
    metres = table[1].to_numpy()[nodes.to_numpy()]
    t2 = time.perf_counter()
    return {"build_s": t1 - t0, "nearest_s": t2 - t1}, metres


def main() -> None:
    """Run both and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="district")
    ap.add_argument("--grid", type=int, help="n of the n × n grid (overrides --size)")
    ap.add_argument("--demand", type=int)
    ap.add_argument("--sites", type=int)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-pandana", action="store_true")
    args = ap.parse_args()
    n, n_demand, n_sites = SIZES[args.size]
    n = args.grid or n
    n_demand = args.demand or n_demand
    n_sites = args.sites or n_sites
    rng = np.random.default_rng(args.seed)
    x, y, fr, to = grid(n, rng)
    demand = rng.integers(0, n * n, n_demand)
    sites = rng.choice(n * n, n_sites, replace=False)
    print(f"network: {n * n:,} nodes, {len(fr):,} two-way edges; {n_demand:,} demand points, "
          f"{n_sites:,} sites; one core")
    mine, d_mine = ours(x, y, fr, to, demand, sites)
    print(f"geo_service: build {mine['build_s']:.2f} s, nearest pass {mine['nearest_s']:.2f} s")
    if args.skip_pandana:
        return
    other, d_other = theirs(x, y, fr, to, demand, sites)
    print(f"pandana:     build {other['build_s']:.2f} s, nearest pass {other['nearest_s']:.2f} s")
    diff = float(np.max(np.abs(d_mine - d_other)))
    print(f"ratio pandana/geo_service: build {other['build_s'] / mine['build_s']:.2f}, "
          f"nearest {other['nearest_s'] / mine['nearest_s']:.2f}, total "
          f"{(other['build_s'] + other['nearest_s']) / (mine['build_s'] + mine['nearest_s']):.2f}"
          f"; largest difference {diff:.3f} m")


if __name__ == "__main__":
    main()
