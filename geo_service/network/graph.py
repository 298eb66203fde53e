"""The routable graph: road lines split at intersections, lengths in EPSG:4544, costs per mode."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo_service.network.speeds import NOT_DRIVABLE, NOT_WALKABLE, Mode, Speeds

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
NODE_GRID_M = 0.01  # endpoints closer than 1 cm are one node


@dataclass
class RoadGraph:
    """Nodes (metric xy) and edges u→v in the direction each edge's geometry is drawn."""

    node_xy: Array
    u: IntArray
    v: IntArray
    length: Array
    kind: NDArray[np.object_]
    oneway: BoolArray
    speed_kmh: Array  # the road's own 限速 (NaN when none)
    road: IntArray  # index of the source road row
    geom: NDArray[np.object_]  # metric LineStrings (None when built from arrays only)
    road_ids: list[str] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    def costs(self, mode: Mode, speeds: Speeds) -> tuple[Array, Array]:
        """Seconds to travel each edge forward (u→v) and backward (inf where not allowed)."""
        kinds = self.kind
        if mode == "walk":
            ok = ~np.isin(kinds, list(NOT_WALKABLE))
            t = np.where(ok, self.length / speeds.walk_mps, np.inf)
            return t, t.copy()
        default = np.array([speeds.drive_kmh.get(k, np.nan) for k in kinds], dtype=np.float64)
        kmh = np.where(np.isfinite(self.speed_kmh), self.speed_kmh, default)
        ok = np.isfinite(kmh) & (kmh > 0) & ~np.isin(kinds, list(NOT_DRIVABLE))
        t = np.divide(self.length * 3.6, kmh, out=np.full(len(kmh), np.inf), where=ok)
        back = np.where(self.oneway, np.inf, t)
        return t, back

    def components(self, mode: Mode, speeds: Speeds) -> dict:
        """Connected pieces of the network a mode may use (islands are reported, never joined)."""
        fwd, back = self.costs(mode, speeds)
        use = np.isfinite(fwd) | np.isfinite(back)
        nodes = np.unique(np.concatenate([self.u[use], self.v[use]]))
        n = self.n_nodes
        if len(nodes) == 0:
            return {"mode": mode, "components": 0, "nodes": 0, "edges": 0, "km": 0.0,
                    "largest_share": None, "islands": []}
        adj = coo_matrix((np.ones(int(use.sum())), (self.u[use], self.v[use])), shape=(n, n))
        _, label = connected_components(adj, directed=False)
        sizes = np.bincount(label[nodes], minlength=label.max() + 1)
        km = np.bincount(label[self.u[use]], weights=self.length[use], minlength=len(sizes))
        order = [int(c) for c in np.argsort(-km, kind="stable") if sizes[c] > 0]
        main = order[0]
        islands = []
        for c in order[1:]:
            member = np.flatnonzero(label == c)
            x, y = self.node_xy[member[0]]
            islands.append({"nodes": int(sizes[c]), "km": round(float(km[c]) / 1000, 3),
                            "at_xy_epsg4544": [round(float(x), 1), round(float(y), 1)]})
        out = {"mode": mode, "components": len(order), "nodes": len(nodes),
               "edges": int(use.sum()), "km": round(float(self.length[use].sum()) / 1000, 3),
               "largest_share": round(float(km[main] / km.sum()), 4) if km.sum() else None,
               "islands": islands[:50], "islands_total": len(islands)}
        if mode == "drive":
            adj = coo_matrix((np.ones(int(np.isfinite(fwd).sum() + np.isfinite(back).sum())),
                              (np.concatenate([self.u[np.isfinite(fwd)],
                                               self.v[np.isfinite(back)]]),
                               np.concatenate([self.v[np.isfinite(fwd)],
                                               self.u[np.isfinite(back)]]))), shape=(n, n))
            strong, _ = connected_components(adj, directed=True, connection="strong")
            out["strong_components"] = int(strong - (n - len(nodes)))
        return out

    def summary(self, speeds: Speeds) -> dict:
        """Size of the graph and its components per mode."""
        return {"nodes": self.n_nodes, "edges": len(self.u),
                "km": round(float(self.length.sum()) / 1000, 3),
                "roads": len(self.road_ids), "walk": self.components("walk", speeds),
                "drive": self.components("drive", speeds), "speeds": speeds.as_dict()}


def node_ids(xy: Array) -> tuple[Array, IntArray]:
    """Unique node coordinates (snapped to a 1 cm grid) and each input point's node."""
    keys = np.round(xy / NODE_GRID_M).astype(np.int64)
    uniq, inverse = np.unique(keys, axis=0, return_inverse=True)
    return uniq.astype(np.float64) * NODE_GRID_M, inverse.reshape(-1).astype(np.int64)


def build_graph(lines: NDArray[np.object_], kind: NDArray[np.object_], oneway: BoolArray,
                speed_kmh: Array, road_ids: list[str]) -> RoadGraph:
    """Split metric road lines at every intersection and shared vertex into graph edges."""
    parts, part_road = shapely.get_parts(lines, return_index=True)
    keep = ~shapely.is_empty(parts)
    parts, part_road = parts[keep], part_road[keep]
    if len(parts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RoadGraph(np.zeros((0, 2)), empty, empty, np.zeros(0),
                         np.zeros(0, dtype=object), np.zeros(0, bool), np.zeros(0), empty,
                         np.zeros(0, dtype=object), road_ids)
    noded = shapely.get_parts(shapely.node(shapely.multilinestrings(parts)))
    noded = noded[shapely.length(noded) > NODE_GRID_M]
    mid = shapely.line_interpolate_point(noded, 0.5, normalized=True)
    tree = shapely.STRtree(parts)
    hit_piece, hit_part = tree.query_nearest(mid, all_matches=False)
    src = np.empty(len(noded), dtype=np.int64)
    src[hit_piece] = hit_part
    part_geom = parts[src]
    start = shapely.get_point(noded, 0)
    end = shapely.get_point(noded, -1)
    flip = shapely.line_locate_point(part_geom, start) > shapely.line_locate_point(part_geom, end)
    noded = np.where(flip, shapely.reverse(noded), noded)
    start, end = np.where(flip, end, start), np.where(flip, start, end)
    ends = np.vstack([shapely.get_coordinates(start), shapely.get_coordinates(end)])
    node_xy, ids = node_ids(ends)
    m = len(noded)
    road = part_road[src].astype(np.int64)
    return RoadGraph(node_xy, ids[:m], ids[m:], shapely.length(noded), kind[road],
                     oneway[road].astype(bool), speed_kmh[road].astype(np.float64), road,
                     noded, road_ids)
