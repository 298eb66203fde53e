"""Nearest edge of many points at once: a k-d tree over short pieces of the edges.

Every edge (a polyline) is cut into its segments, and long segments into pieces no longer
than the index's piece length L. For a point p with nearest piece midpoint at distance d,
every piece within d of p has its midpoint within d + L/2 of p, so the exact nearest piece is
among those; the distances to them are computed in numpy. This is exact, like
`shapely.STRtree.query_nearest`, and about an order of magnitude faster on large networks.
Ties (equal distance) go to the lowest edge index.
"""

from __future__ import annotations

import numpy as np
import shapely
from scipy.spatial import cKDTree

from geo_service.network.graph import Array, IntArray

CANDIDATES = (8, 32)  # midpoints fetched per point, in rounds, before a radius search


class EdgeIndex:
    """Exact nearest-edge queries over line geometries (metric coordinates)."""

    def __init__(self, geoms: np.ndarray) -> None:
        coords, owner = shapely.get_coordinates(geoms, return_index=True)
        same = owner[1:] == owner[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        seg_owner = owner[:-1][same]
        seg_len = np.hypot(*(b - a).T)
        start = np.zeros(len(seg_len))  # metres along the edge where each segment starts
        if len(seg_len):
            cum = np.cumsum(seg_len)
            first = np.ones(len(seg_len), dtype=bool)
            first[1:] = seg_owner[1:] != seg_owner[:-1]
            base = np.maximum.accumulate(np.where(first, np.arange(len(seg_len)), 0))
            start = cum - seg_len - (cum - seg_len)[base]
        positive = seg_len[seg_len > 0]
        self.piece_m = float(max(np.median(positive), 1.0)) if len(positive) else 1.0
        parts = np.maximum(np.ceil(seg_len / self.piece_m), 1).astype(np.int64)
        seg = np.repeat(np.arange(len(seg_len)), parts)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(parts) - parts, parts)
        t0, t1 = k / parts[seg], (k + 1) / parts[seg]
        d = b[seg] - a[seg]
        start_xy = a[seg] + d * t0[:, None]
        step = d * (t1 - t0)[:, None]
        self.ax, self.ay = start_xy[:, 0].copy(), start_xy[:, 1].copy()
        self.dx, self.dy = step[:, 0].copy(), step[:, 1].copy()
        self.length = np.hypot(self.dx, self.dy)
        self.along0 = start[seg] + seg_len[seg] * t0
        self.owner = seg_owner[seg].astype(np.int64)
        middle = start_xy + step / 2
        if len(seg):  # pieces in Z-order: neighbours in space are neighbours in memory
            self.lo = middle.min(axis=0)
            self.scale = 65535.0 / max(float(np.ptp(middle, axis=0).max()), 1e-9)
            order = np.argsort(self._z_order(middle), kind="stable")
            for name in ("ax", "ay", "dx", "dy", "length", "along0", "owner"):
                setattr(self, name, getattr(self, name)[order])
            middle = middle[order]
        self.tree = cKDTree(middle) if len(seg) else None

    def _z_order(self, xy: Array) -> np.ndarray:
        """Morton code of points on a 65 536² grid over the pieces' extent."""
        q = np.clip((xy - self.lo) * self.scale, 0, 65535).astype(np.uint64)
        code = np.zeros(len(xy), dtype=np.uint64)
        for bit in range(16):
            for axis in (0, 1):
                code |= ((q[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + axis)
        return code

    def _distances(self, xy: Array, pieces: IntArray) -> tuple[Array, Array]:
        """Distance from xy[i] to pieces[i, j] and metres along each piece's edge."""
        dx, dy, length = self.dx[pieces], self.dy[pieces], self.length[pieces]
        px = xy[:, :1] - self.ax[pieces]
        py = xy[:, 1:] - self.ay[pieces]
        dd = length * length
        t = np.clip(np.divide(px * dx + py * dy, dd, out=np.zeros_like(dd), where=dd > 0),
                    0.0, 1.0)
        ox, oy = px - t * dx, py - t * dy
        return np.sqrt(ox * ox + oy * oy), self.along0[pieces] + t * length

    def nearest(self, xy: Array) -> tuple[IntArray, Array, Array]:
        """Per point: index of the nearest geometry (-1 if none), metres off it, metres along."""
        n = len(xy)
        edge = np.full(n, -1, dtype=np.int64)
        dist = np.full(n, np.inf)
        along = np.zeros(n)
        if self.tree is None or n == 0:
            return edge, dist, along
        pending = np.argsort(self._z_order(xy), kind="stable")  # queries in Z-order too
        for k in CANDIDATES:  # most points settle with few candidates; the rest ask for more
            k = min(k, len(self.owner))
            mid_d, cand = self.tree.query(xy[pending], k=k)
            mid_d, cand = mid_d.reshape(len(pending), k), cand.reshape(len(pending), k)
            reach = mid_d[:, 0] + self.piece_m / 2  # every possible nearest piece is within
            done = (mid_d[:, -1] > reach) | (k == len(self.owner))
            self._pick(xy[pending[done]], cand[done], mid_d[done] <= reach[done, None],
                       pending[done], edge, dist, along)
            pending = pending[~done]
            if not len(pending):
                return edge, dist, along
        for i in pending:  # crowded spots: every midpoint within reach
            d0 = float(self.tree.query(xy[i], k=1)[0])
            near = np.asarray(self.tree.query_ball_point(xy[i], d0 + self.piece_m / 2),
                              dtype=np.int64)
            self._pick(xy[i:i + 1], near[None, :], np.ones((1, len(near)), dtype=bool),
                       np.array([i]), edge, dist, along)
        return edge, dist, along

    def _pick(self, xy: Array, cand: IntArray, ok: np.ndarray, rows: IntArray,
              edge: IntArray, dist: Array, along: Array) -> None:
        """The nearest candidate of each row (lowest edge index on ties) into the outputs."""
        d, at = self._distances(xy, cand)
        d = np.where(ok, d, np.inf)
        owner = self.owner[cand]
        lowest = np.where(d == d.min(axis=1, keepdims=True), owner, np.iinfo(np.int64).max)
        best = np.argmin(lowest, axis=1)
        pick = (np.arange(len(rows)), best)
        edge[rows], dist[rows], along[rows] = owner[pick], d[pick], at[pick]
