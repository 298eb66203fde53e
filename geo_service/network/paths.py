"""Shortest paths on the road graph: snapping, one-pass multi-source nearest, bounded reach.

Points (demand units, sites) are snapped to the nearest edge the mode may use; that edge is
split at the snap point, and the straight walk from the point to the road is counted at
walking speed. Searches run on the reversed graph from the sites, so one-way streets are
honoured for the trip from a unit *to* a site. The nearest site of every unit comes from one
Dijkstra pass from a super-source joined to every site (scipy.sparse.csgraph).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geo_service.network.graph import Array, BoolArray, IntArray, RoadGraph
from geo_service.network.snapping import EdgeIndex
from geo_service.network.speeds import Mode, Speeds

END_TOLERANCE_M = 1e-3  # a snap this close to an edge's end uses the end node
EPS_S = 1e-9  # scipy treats a stored zero as 'no edge' in some paths: never store one
CELLS_PER_BATCH = 4_000_000  # dense distances held at once by bounded searches


@dataclass
class Snapped:
    """Per point: the edge it snapped to (-1: none), metres along it, metres off the road."""

    edge: IntArray
    along_m: Array
    dist_m: Array


@dataclass
class Nearest:
    """Per unit: nearest site index (-1 none), seconds, metres along roads, metres off-road."""

    site: IntArray
    seconds: Array
    road_m: Array
    snap_m: Array


class ModeNetwork:
    """A road graph as one mode (walk or drive) uses it: edge costs and a snapping index."""

    def __init__(self, graph: RoadGraph, mode: Mode, speeds: Speeds) -> None:
        self.graph = graph
        self.mode = mode
        self.speeds = speeds
        self.fwd, self.back = graph.costs(mode, speeds)
        self.usable = np.flatnonzero(np.isfinite(self.fwd) | np.isfinite(self.back))
        self.index = EdgeIndex(graph.geom[self.usable])
        self._snap_cache: dict[bytes, Snapped] = {}

    def snap(self, xy: Array) -> Snapped:
        """Nearest usable edge of every metric point (cached for repeated point sets)."""
        xy = np.ascontiguousarray(xy, dtype=np.float64).reshape(-1, 2)
        key = xy.tobytes()
        if key in self._snap_cache:
            return self._snap_cache[key]
        found, dist, along = self.index.nearest(xy)
        edge = np.where(found >= 0, self.usable[found.clip(0)], -1)
        out = Snapped(edge, along, dist)
        if len(self._snap_cache) > 8:
            self._snap_cache.clear()
        self._snap_cache[key] = out
        return out

    def routing(self, groups: list[Snapped], extra_nodes: int = 0) -> Routing:
        """The graph with every snapped point of every group as a node (edges split there)."""
        return Routing(self, groups, extra_nodes)


class Routing:
    """A split graph ready for searches: base nodes, snap nodes, then `extra_nodes` free ids."""

    def __init__(self, net: ModeNetwork, groups: list[Snapped], extra_nodes: int) -> None:
        g = net.graph
        n0 = g.n_nodes
        edge = np.concatenate([s.edge for s in groups]) if groups else np.zeros(0, np.int64)
        along = np.concatenate([s.along_m for s in groups]) if groups else np.zeros(0)
        has = edge >= 0
        lengths = g.length[edge.clip(0)]
        a = np.clip(along, 0.0, lengths)
        node = np.full(len(edge), -1, dtype=np.int64)
        at_u = has & (a <= END_TOLERANCE_M)
        at_v = has & ~at_u & (a >= lengths - END_TOLERANCE_M)
        node[at_u] = g.u[edge[at_u]]
        node[at_v] = g.v[edge[at_v]]
        inner = np.flatnonzero(has & ~at_u & ~at_v)
        key = np.column_stack([edge[inner], np.round(a[inner] * 1000).astype(np.int64)])
        uniq, first, inv = (np.unique(key, axis=0, return_index=True, return_inverse=True)
                            if len(inner) else (np.zeros((0, 2), np.int64),
                                                np.zeros(0, np.int64), np.zeros(0, np.int64)))
        node[inner] = n0 + inv.reshape(-1)
        self.n_split = len(uniq)
        cut_e = uniq[:, 0]
        cut_pos = a[inner][first]  # exact positions; the mm key only merges coincident snaps
        split_edges = np.unique(cut_e)
        e_all = np.concatenate([split_edges, split_edges, cut_e])
        pos_all = np.concatenate([np.zeros(len(split_edges)), g.length[split_edges], cut_pos])
        nd_all = np.concatenate([g.u[split_edges], g.v[split_edges],
                                 n0 + np.arange(len(uniq), dtype=np.int64)])
        order = np.lexsort((pos_all, e_all))
        e_all, pos_all, nd_all = e_all[order], pos_all[order], nd_all[order]
        same = e_all[1:] == e_all[:-1]
        seg_e = e_all[:-1][same]
        seg_len = np.diff(pos_all)[same]
        seg_a, seg_b = nd_all[:-1][same], nd_all[1:][same]
        whole = np.setdiff1d(net.usable, split_edges, assume_unique=True)
        e = np.concatenate([whole, seg_e])
        length = np.concatenate([g.length[whole], seg_len])
        frac = np.divide(length, g.length[e], out=np.ones(len(e)), where=g.length[e] > 0)
        fwd = net.fwd[e] * frac
        back = net.back[e] * frac
        ea = np.concatenate([g.u[whole], seg_a])
        eb = np.concatenate([g.v[whole], seg_b])
        f_ok, b_ok = np.isfinite(fwd), np.isfinite(back)
        # real travel edges a→b (forward) and b→a (backward)
        self.src = np.concatenate([ea[f_ok], eb[b_ok]])
        self.dst = np.concatenate([eb[f_ok], ea[b_ok]])
        self.cost = np.maximum(np.concatenate([fwd[f_ok], back[b_ok]]), EPS_S)
        self.length = np.concatenate([length[f_ok], length[b_ok]])
        self.point_node = node
        self.offsets = np.cumsum([0] + [len(s.edge) for s in groups])
        self.n = n0 + len(uniq) + extra_nodes
        self.first_free = n0 + len(uniq)

    def nodes_of(self, group: int) -> IntArray:
        """Snap node of every point of one group (-1 where the point could not be snapped)."""
        return self.point_node[self.offsets[group]:self.offsets[group + 1]]

    def reversed_matrix(self, extra_src: IntArray | None = None, extra_dst: IntArray | None = None,
                        extra_cost: Array | None = None) -> tuple[csr_matrix, csr_matrix]:
        """Costs and lengths of the reversed graph (search from sites), parallel edges at min."""
        rs, rd = self.dst, self.src
        cost, length = self.cost, self.length
        if extra_src is not None and extra_dst is not None and extra_cost is not None:
            rs = np.concatenate([rs, extra_src])
            rd = np.concatenate([rd, extra_dst])
            cost = np.concatenate([cost, np.maximum(extra_cost, EPS_S)])
            length = np.concatenate([length, np.zeros(len(extra_src))])
        order = np.lexsort((cost, rd, rs))
        rs, rd, cost, length = rs[order], rd[order], cost[order], length[order]
        first = np.ones(len(rs), dtype=bool)
        first[1:] = (rs[1:] != rs[:-1]) | (rd[1:] != rd[:-1])
        rs, rd, cost, length = rs[first], rd[first], cost[first], length[first]
        shape = (self.n, self.n)
        return (csr_matrix((cost, (rs, rd)), shape=shape),
                csr_matrix((length, (rs, rd)), shape=shape))


def _edge_values(matrix: csr_matrix, rows: IntArray, cols: IntArray) -> Array:
    """matrix[rows[i], cols[i]] for stored entries, vectorised (csr with sorted indices)."""
    matrix.sort_indices()
    n = matrix.shape[1]
    row_of = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    keys = row_of * n + matrix.indices.astype(np.int64)
    want = rows.astype(np.int64) * n + cols.astype(np.int64)
    pos = np.searchsorted(keys, want).clip(0, max(len(keys) - 1, 0))
    return matrix.data[pos] if len(keys) else np.zeros(len(rows))


def tree_roots_and_sums(pred: IntArray, weight: Array, terminal: BoolArray
                        ) -> tuple[IntArray, Array]:
    """Per node: its terminal ancestor in a shortest-path forest and the sum of edge weights.

    Pointer doubling (log depth numpy passes) instead of walking every path.
    """
    n = len(pred)
    jump = np.where(terminal | (pred < 0), np.arange(n), pred).astype(np.int64)
    acc = np.where(terminal | (pred < 0), 0.0, weight)
    while True:
        nxt = jump[jump]
        if np.array_equal(nxt, jump):
            return jump, acc
        acc = acc + acc[jump]
        jump = nxt


def nearest(net: ModeNetwork, unit_xy: Array, site_xy: Array) -> Nearest:
    """Nearest site of every unit along the roads, in one multi-source Dijkstra pass."""
    n_units, m = len(unit_xy), len(site_xy)
    out = Nearest(np.full(n_units, -1, dtype=np.int64), np.full(n_units, np.inf),
                  np.full(n_units, np.nan), np.full(n_units, np.nan))
    if n_units == 0 or m == 0:
        return out
    us, ss = net.snap(unit_xy), net.snap(site_xy)
    r = net.routing([us, ss], extra_nodes=m + 1)
    site_node = r.nodes_of(1)
    unit_node = r.nodes_of(0)
    virtual = r.first_free + np.arange(m, dtype=np.int64)
    source = r.first_free + m
    walk = net.speeds.walk_mps
    ok = site_node >= 0
    cost_m, length_m = r.reversed_matrix(
        np.concatenate([np.full(int(ok.sum()), source), virtual[ok]]),
        np.concatenate([virtual[ok], site_node[ok]]),
        np.concatenate([np.full(int(ok.sum()), EPS_S), ss.dist_m[ok] / walk]))
    dist, pred = dijkstra(cost_m, directed=True, indices=source, return_predecessors=True)
    terminal = np.zeros(r.n, dtype=bool)
    terminal[virtual] = True
    terminal[source] = True
    has_pred = pred >= 0
    weight = np.zeros(r.n)
    idx = np.flatnonzero(has_pred)
    weight[idx] = _edge_values(length_m, pred[idx], idx)
    root, road = tree_roots_and_sums(pred, weight, terminal)
    good = unit_node >= 0
    un = unit_node[good]
    reached = np.isfinite(dist[un]) & terminal[root[un]] & (root[un] != source)
    rows = np.flatnonzero(good)[reached]
    un = un[reached]
    site = root[un] - r.first_free
    out.site[rows] = site
    out.seconds[rows] = dist[un] - EPS_S + us.dist_m[rows] / walk
    out.road_m[rows] = road[un]
    out.snap_m[rows] = us.dist_m[rows] + ss.dist_m[site]
    return out


def within(net: ModeNetwork, unit_xy: Array, site_xy: Array, limit_s: Array
           ) -> tuple[IntArray, IntArray, Array]:
    """All (unit, site, seconds) with seconds ≤ the site's limit: bounded searches per site."""
    limit_s = np.asarray(limit_s, dtype=np.float64)
    empty = np.zeros(0, dtype=np.int64)
    keep = np.flatnonzero(np.isfinite(limit_s) & (limit_s > 0))
    if len(unit_xy) == 0 or len(keep) == 0:
        return empty, empty, np.zeros(0)
    us, ss = net.snap(unit_xy), net.snap(site_xy)
    r = net.routing([us, ss])
    cost_m, _ = r.reversed_matrix()
    unit_node = r.nodes_of(0)
    site_node = r.nodes_of(1)
    walk = net.speeds.walk_mps
    units = np.flatnonzero(unit_node >= 0)
    un = unit_node[units]
    unit_snap_s = us.dist_m[units] / walk
    keep = keep[site_node[keep] >= 0]
    keep = keep[np.argsort(limit_s[keep], kind="stable")]
    batch = max(1, CELLS_PER_BATCH // max(r.n, 1))
    out_u, out_s, out_d = [], [], []
    for start in range(0, len(keep), batch):
        chunk = keep[start:start + batch]
        site_snap_s = ss.dist_m[chunk] / walk
        bound = float(np.max(limit_s[chunk] - site_snap_s))
        if bound <= 0:
            continue
        d = dijkstra(cost_m, directed=True, indices=site_node[chunk], limit=bound)
        total = d[:, un] + site_snap_s[:, None] + unit_snap_s[None, :]
        si, ui = np.nonzero(total <= limit_s[chunk][:, None])
        out_u.append(units[ui])
        out_s.append(chunk[si])
        out_d.append(total[si, ui])
    if not out_u:
        return empty, empty, np.zeros(0)
    return (np.concatenate(out_u).astype(np.int64), np.concatenate(out_s).astype(np.int64),
            np.concatenate(out_d))


def reach(net: ModeNetwork, site_xy: Array, head_start_s: Array | None = None
          ) -> tuple[Array, Snapped, Routing]:
    """Seconds from every base node to the nearest site (minus each site's head start)."""
    m = len(site_xy)
    ss = net.snap(site_xy)
    r = net.routing([ss], extra_nodes=1)
    site_node = r.nodes_of(0)
    source = r.first_free
    ok = site_node >= 0
    start = ss.dist_m / net.speeds.walk_mps
    if head_start_s is not None:
        start = start + np.asarray(head_start_s, dtype=np.float64)
    cost_m, _ = r.reversed_matrix(np.full(int(ok.sum()), source), site_node[ok], start[ok])
    dist = dijkstra(cost_m, directed=True, indices=source) if m else np.full(r.n, np.inf)
    return dist, ss, r


def from_point(net: ModeNetwork, origin_xy: Array, target_xy: Array) -> Nearest:
    """Travel from one point to each target: seconds, metres along roads, metres off-road.

    One Dijkstra from the origin on the forward graph; `site` is the target's own index
    (-1 where it cannot be reached).
    """
    m = len(target_xy)
    out = Nearest(np.full(m, -1, dtype=np.int64), np.full(m, np.inf), np.full(m, np.nan),
                  np.full(m, np.nan))
    origin = net.snap(np.asarray(origin_xy, dtype=np.float64).reshape(1, 2))
    targets = net.snap(target_xy)
    if m == 0 or origin.edge[0] < 0:
        return out
    r = net.routing([origin, targets])
    rev_cost, rev_len = r.reversed_matrix()
    cost, length = rev_cost.T.tocsr(), rev_len.T.tocsr()
    start = int(r.nodes_of(0)[0])
    dist, pred = dijkstra(cost, directed=True, indices=start, return_predecessors=True)
    weight = np.zeros(r.n)
    idx = np.flatnonzero(pred >= 0)
    weight[idx] = _edge_values(length, pred[idx], idx)
    terminal = np.zeros(r.n, dtype=bool)
    terminal[start] = True
    _, road = tree_roots_and_sums(pred, weight, terminal)
    node = r.nodes_of(1)
    ok = (node >= 0) & np.isfinite(dist[node.clip(0)])
    walk = net.speeds.walk_mps
    snap_m = origin.dist_m[0] + targets.dist_m
    out.site[ok] = np.flatnonzero(ok)
    out.seconds[ok] = dist[node[ok]] + snap_m[ok] / walk
    out.road_m[ok] = road[node[ok]]
    out.snap_m[ok] = snap_m[ok]
    return out
