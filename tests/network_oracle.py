"""An independent shortest-path oracle for the road network tests (networkx, brute-force snaps)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import shapely


def oracle(graph, net, unit_xy, site_xy):
    """Independent networkx answer: split edges at snap points, multi-source Dijkstra."""
    walk = net.speeds.walk_mps
    g = nx.DiGraph()
    pts = np.vstack([unit_xy, site_xy])
    geoms = graph.geom
    usable = [i for i in range(len(graph.u)) if np.isfinite(net.fwd[i]) or np.isfinite(net.back[i])]
    # nearest usable edge by brute force (shapely distance), independent of the STRtree
    snap = []
    cand = geoms[usable]
    for k, p in enumerate(pts):
        pt = shapely.Point(p)
        d = shapely.distance(cand, pt)
        e = usable[int(np.argmin(d))]
        snap.append((e, geoms[e].project(pt), float(d.min()), k))
    cuts: dict[int, list] = {}
    for e, a, _, k in snap:
        cuts.setdefault(e, []).append((a, k))

    def add(a, b, length, e):
        fwd, back = net.fwd[e] * length / graph.length[e], net.back[e] * length / graph.length[e]
        for s, t, c in ((a, b, fwd), (b, a, back)):
            if np.isfinite(c) and (not g.has_edge(s, t) or g[s][t]["w"] > c):
                g.add_edge(s, t, w=c)

    for e in usable:
        u, v, length = int(graph.u[e]), int(graph.v[e]), float(graph.length[e])
        inner = sorted((a, ("p", k)) for a, k in cuts.get(e, []))
        chain = [(0.0, ("n", u)), *inner, (length, ("n", v))]
        for (a0, n0), (a1, n1) in itertools.pairwise(chain):
            if a1 - a0 > 1e-9:
                add(n0, n1, a1 - a0, e)
            elif n0 != n1:
                g.add_edge(n0, n1, w=0.0)
                g.add_edge(n1, n0, w=0.0)
    n_units = len(unit_xy)
    for _e, _a, dist, k in snap:  # off-road walk to/from the road, at walking speed
        g.add_edge(("pt", k), ("p", k), w=dist / walk)
        g.add_edge(("p", k), ("pt", k), w=dist / walk)
    rev = g.reverse(copy=True)
    sources = [("pt", n_units + j) for j in range(len(site_xy))]
    dist, path = nx.multi_source_dijkstra(rev, sources, weight="w")
    return [dist.get(("pt", i), np.inf) for i in range(n_units)], path
