"""Road graph and shortest paths against networkx on small random networks (no database)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from network_oracle import oracle

from geo_service.network import paths
from geo_service.network.graph import build_graph
from geo_service.network.isochrones import reached_lines
from geo_service.network.model import NetworkDistanceModel
from geo_service.network.speeds import Speeds


def random_roads(seed: int, n_points: int = 40, n_lines: int = 70, size: float = 3000.0):
    """Random straight and bent roads between random points: they cross and share ends."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, size, (n_points, 2))
    lines = []
    for _ in range(n_lines):
        a, b = rng.choice(n_points, 2, replace=False)
        if rng.random() < 0.5:
            mid = (pts[a] + pts[b]) / 2 + rng.normal(0, 150, 2)
            lines.append(shapely.LineString([pts[a], mid, pts[b]]))
        else:
            lines.append(shapely.LineString([pts[a], pts[b]]))
    arr = np.empty(len(lines), dtype=object)
    arr[:] = lines
    kinds = rng.choice(["县道", "乡道", "村道", "步行道", "高速公路"], len(lines),
                       p=[0.3, 0.3, 0.25, 0.1, 0.05]).astype(object)
    oneway = rng.random(len(lines)) < 0.2
    speed = np.where(rng.random(len(lines)) < 0.3, 45.0, np.nan)
    return arr, kinds, oneway, speed, rng


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_nearest_equals_networkx_on_random_networks(seed, mode):
    lines, kinds, oneway, speed, rng = random_roads(seed)
    graph = build_graph(lines, kinds, oneway, speed, [f"r{i}" for i in range(len(lines))])
    model = NetworkDistanceModel(graph, mode, Speeds())
    unit_xy = rng.uniform(0, 3000, (60, 2))
    site_xy = rng.uniform(0, 3000, (5, 2))
    found = model.routes(unit_xy, site_xy)
    expect, path = oracle(graph, model.net, unit_xy, site_xy)
    np.testing.assert_allclose(found.seconds, expect, rtol=1e-9, atol=1e-6)
    # the site named is one reached that soon (ties aside, the one networkx's path starts at)
    each = np.column_stack([model.routes(unit_xy, site_xy[k:k + 1]).seconds
                            for k in range(len(site_xy))])
    ok = np.isfinite(expect)
    np.testing.assert_allclose(each[np.flatnonzero(ok), found.site[ok]],
                               np.asarray(expect)[ok], rtol=1e-9, atol=1e-6)
    starts = {i: path[("pt", i)][0][1] - len(unit_xy) for i in np.flatnonzero(ok)}
    assert sum(starts[i] == found.site[i] for i in starts) >= 0.9 * len(starts)
    # bounded searches agree with the nearest pass and with the oracle
    limit = np.full(len(site_xy), float(np.nanmedian(np.where(np.isfinite(expect), expect,
                                                              np.nan))))
    u, _s, d = model.within(unit_xy, site_xy, limit)
    best = np.full(len(unit_xy), np.inf)
    np.minimum.at(best, u, d)
    inside = np.asarray(expect) <= limit[0]
    np.testing.assert_array_equal(np.isfinite(best), inside)
    np.testing.assert_allclose(best[inside], np.asarray(expect)[inside], rtol=1e-9, atol=1e-6)


def test_road_metres_follow_the_chosen_path():
    lines, kinds, _oneway, speed, rng = random_roads(7)
    kinds[:] = "村道"
    graph = build_graph(lines, kinds, np.zeros(len(lines), bool), speed,
                        [f"r{i}" for i in range(len(lines))])
    model = NetworkDistanceModel(graph, "walk", Speeds())
    unit_xy = rng.uniform(0, 3000, (40, 2))
    site_xy = rng.uniform(0, 3000, (4, 2))
    found = model.routes(unit_xy, site_xy)
    ok = np.isfinite(found.seconds)
    # walking at one speed: time = (road metres + off-road metres) / speed
    np.testing.assert_allclose(found.seconds[ok],
                               (found.road_m[ok] + found.snap_m[ok]) / Speeds().walk_mps,
                               rtol=1e-9)


def test_graph_is_split_at_crossings_and_keeps_direction():
    lines = np.empty(2, dtype=object)
    lines[:] = [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(50, -50), (50, 50)])]
    g = build_graph(lines, np.array(["村道", "村道"], dtype=object), np.array([True, False]),
                    np.array([np.nan, np.nan]), ["a", "b"])
    assert len(g.u) == 4 and g.n_nodes == 5
    assert np.isclose(g.length.sum(), 200.0)
    one = np.flatnonzero(g.road == 0)
    assert all(g.node_xy[g.u[i], 0] < g.node_xy[g.v[i], 0] for i in one)  # drawn west→east
    fwd, back = g.costs("drive", Speeds())
    assert np.isinf(back[one]).all() and np.isfinite(fwd[one]).all()
    assert np.isclose(fwd[one[0]], 50 * 3.6 / 20.0)  # 村道 20 km/h
    comp = g.components("walk", Speeds())
    assert comp["components"] == 1 and comp["islands"] == []


def test_islands_are_reported_not_joined():
    lines = np.empty(2, dtype=object)
    lines[:] = [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 500), (80, 500)])]
    g = build_graph(lines, np.array(["村道", "村道"], dtype=object), np.zeros(2, bool),
                    np.array([np.nan, np.nan]), ["a", "b"])
    comp = g.components("walk", Speeds())
    assert comp["components"] == 2 and comp["islands"][0]["km"] == 0.08
    model = NetworkDistanceModel(g, "walk", Speeds())
    found = model.routes(np.array([[10.0, 510.0]]), np.array([[90.0, 5.0]]))
    assert found.site[0] == -1 and np.isinf(found.seconds[0])


def test_isochrone_cuts_edges_where_time_runs_out():
    lines = np.empty(1, dtype=object)
    lines[:] = [shapely.LineString([(0, 0), (1000, 0)])]
    g = build_graph(lines, np.array(["村道"], dtype=object), np.zeros(1, bool),
                    np.array([np.nan]), ["a"])
    net = paths.ModeNetwork(g, "walk", Speeds())
    # site on the road at x=400; 5 minutes at 1 m/s = 300 m either way
    reached = reached_lines(net, np.array([[400.0, 0.0]]), np.array([300.0]))
    assert np.isclose(reached.length, 600.0)
    assert np.allclose(shapely.bounds(reached)[[0, 2]], [100.0, 700.0])


def test_larger_grid_equals_scipy_min_only_dijkstra():
    """On a 10 000-node street grid, the one-pass nearest equals scipy's own multi-source run."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    rng = np.random.default_rng(3)
    n = 100
    xs, ys = np.meshgrid(np.arange(n) * 100.0, np.arange(n) * 100.0)
    xy = np.column_stack([xs.ravel() + rng.uniform(-30, 30, n * n),
                          ys.ravel() + rng.uniform(-30, 30, n * n)])
    ids = np.arange(n * n).reshape(n, n)
    fr = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    to = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    lines = np.empty(len(fr), dtype=object)
    lines[:] = list(shapely.linestrings(np.stack([xy[fr], xy[to]], axis=1)))
    graph = build_graph(lines, np.full(len(fr), "村道", dtype=object), np.zeros(len(fr), bool),
                        np.full(len(fr), np.nan), [str(i) for i in range(len(fr))])
    model = NetworkDistanceModel(graph, "walk", Speeds())
    demand = rng.integers(0, n * n, 3000)
    sites = rng.choice(n * n, 40, replace=False)
    found = model.routes(xy[demand], xy[sites])
    w = np.hypot(*(xy[fr] - xy[to]).T)
    adj = coo_matrix((w, (fr, to)), shape=(n * n, n * n)).tocsr()
    dist, _, source = dijkstra(adj, directed=False, indices=sites, min_only=True,
                               return_predecessors=True)
    np.testing.assert_allclose(found.road_m, dist[demand], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(found.seconds, dist[demand] / Speeds().walk_mps, rtol=1e-9,
                               atol=1e-6)
    assert (sites[found.site] == source[demand]).mean() > 0.99  # the same site, ties aside


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_from_one_point_equals_networkx(mode):
    lines, kinds, oneway, speed, rng = random_roads(11)
    graph = build_graph(lines, kinds, oneway, speed, [f"r{i}" for i in range(len(lines))])
    net = paths.ModeNetwork(graph, mode, Speeds())
    origin = rng.uniform(0, 3000, (1, 2))
    targets = rng.uniform(0, 3000, (12, 2))
    found = paths.from_point(net, origin[0], targets)
    expect = [oracle(graph, net, origin, targets[k:k + 1])[0][0] for k in range(len(targets))]
    np.testing.assert_allclose(found.seconds, expect, rtol=1e-9, atol=1e-6)
    if mode == "walk":
        ok = np.isfinite(found.seconds)
        np.testing.assert_allclose(found.seconds[ok], (found.road_m[ok] + found.snap_m[ok])
                                   / Speeds().walk_mps, rtol=1e-9)
