"""Benchmark: nearest facility along roads, this project vs pandana, on the same network.

    .venv/bin/python bench/bench_network.py --size district     # 20 000 edges
    .venv/bin/python bench/bench_network.py --size large        # 1 000 000 edges,
                                                                #   600 000 demand, 100 000 sites
    .venv/bin/python bench/bench_network.py --edges 50000 --demand 5000 --sites 200   # custom
    .venv/bin/python bench/bench_network.py --network grid --grid 100                 # a grid

Two synthetic networks (lengths in metres on a plane):

- `--network roads` (default): road-like — random intersections joined by their Delaunay
  triangulation thinned to a spanning tree plus the shorter extra links (mean intersection
  degree ≈ 3), each link a chain of 1–3 bent segments, and dead-end spurs (about a quarter
  of the nodes have degree 1, as in OpenStreetMap extracts); `--edges` sets the size;
- `--network grid`: a jittered n × n street grid (≈ 2n² edges, `--grid n`). A grid is the
  worst case for contraction hierarchies (pandana's CH on a 150 × 150 grid took 29.5 s, on
  708 × 708 it did not finish in 14 min), so it is kept for comparison, not as the default.

Demand points and sites lie exactly on nodes, so both tools answer the same question
(pandana snaps to nodes; this project snaps to edges, here at distance 0).

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

SIZES = {"district": (20_000, 10_000, 400), "large": (1_000_000, 600_000, 100_000)}


def road_like(edges: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray, np.ndarray]:
    """Node x, y (metres) and edge from/to of a road-like network with `edges` edges."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial import Delaunay

    n_core = edges // 4  # intersections; links ≈ 1.5 per intersection, 2 segments each
    pts = rng.uniform(0, np.sqrt(n_core) * 250.0, (n_core, 2))
    tri = Delaunay(pts).simplices
    pairs = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    pairs = np.unique(pairs, axis=0)
    length = np.hypot(*(pts[pairs[:, 0]] - pts[pairs[:, 1]]).T)
    mst = minimum_spanning_tree(coo_matrix((length, (pairs[:, 0], pairs[:, 1])),
                                           shape=(n_core, n_core))).tocoo()
    tree = np.sort(np.column_stack([mst.row, mst.col]), axis=1)
    code = pairs[:, 0] * n_core + pairs[:, 1]
    rest = ~np.isin(code, tree[:, 0] * n_core + tree[:, 1])
    extra = np.argsort(length[rest] * rng.uniform(0.5, 1.5, rest.sum()))  # shorter first
    links = np.concatenate([tree, pairs[rest][extra[: max(0, 3 * n_core // 2 - len(tree))]]])
    xs, ys, fr, to = [pts[:, 0]], [pts[:, 1]], [], []
    nodes = n_core
    segments = rng.integers(1, 4, len(links))
    for k in (1, 2, 3):  # a link of k segments has k - 1 bend nodes
        a, b = links[segments == k].T
        t = np.arange(1, k) / k
        bends = nodes + np.arange(len(a) * (k - 1)).reshape(len(a), k - 1)
        nodes += bends.size
        for out, coord in ((xs, pts[:, 0]), (ys, pts[:, 1])):
            out.append((coord[a][:, None] * (1 - t) + coord[b][:, None] * t
                        + rng.normal(0, 15, bends.shape)).ravel())
        chain = np.column_stack([a, bends, b])
        fr.append(chain[:, :-1].ravel())
        to.append(chain[:, 1:].ravel())
    x, y = np.concatenate(xs), np.concatenate(ys)
    spurs = edges - sum(len(f) for f in fr)  # dead ends hanging off random nodes
    base = rng.integers(0, len(x), spurs)
    angle, reach = rng.uniform(0, 2 * np.pi, spurs), rng.uniform(40, 200, spurs)
    fr.append(base)
    to.append(len(x) + np.arange(spurs))
    x = np.concatenate([x, x[base] + reach * np.cos(angle)])
    y = np.concatenate([y, y[base] + reach * np.sin(angle)])
    return x, y, np.concatenate(fr).astype(np.int64), np.concatenate(to).astype(np.int64)


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
    # a whole number of metres (exact in pandana's float32, which compares it with itself)
    far = float(np.ceil(np.hypot(np.ptp(x), np.ptp(y)) * 3))
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
    ap.add_argument("--network", choices=("roads", "grid"), default="roads")
    ap.add_argument("--edges", type=int, help="edges of the road-like network (overrides --size)")
    ap.add_argument("--grid", type=int, default=100, help="n of the n × n grid (--network grid)")
    ap.add_argument("--demand", type=int)
    ap.add_argument("--sites", type=int)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--skip-pandana", action="store_true")
    args = ap.parse_args()
    n_edges, n_demand, n_sites = SIZES[args.size]
    n_demand = args.demand or n_demand
    n_sites = args.sites or n_sites
    rng = np.random.default_rng(args.seed)
    if args.network == "grid":
        x, y, fr, to = grid(args.grid, rng)
    else:
        x, y, fr, to = road_like(args.edges or n_edges, rng)
    demand = rng.integers(0, len(x), n_demand)
    sites = rng.choice(len(x), n_sites, replace=False)
    print(f"network ({args.network}): {len(x):,} nodes, {len(fr):,} two-way edges; "
          f"{n_demand:,} demand points, {n_sites:,} sites; one core")
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
