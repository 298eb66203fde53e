"""Service areas along roads: the road parts within T minutes of a site, as polygons.

An isochrone is the set of road points from which the nearest site is reached within the
time (edges reached part-way are cut where the time runs out), widened by
`ISOCHRONE_BUFFER_M` on each side for the houses along the road. Metric work is on
EPSG:4544; polygons are returned in CGCS2000 lon/lat.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely import ops
from shapely.geometry.base import BaseGeometry

from geo_service import crs
from geo_service.network import paths
from geo_service.network.graph import Array

ISOCHRONE_BUFFER_M = 100.0


def reached_lines(net: paths.ModeNetwork, site_xy: Array, limit_s: Array) -> BaseGeometry:
    """Metric road parts within each site's own time limit (seconds) of that site."""
    limit_s = np.asarray(limit_s, dtype=np.float64)
    keep = np.isfinite(limit_s) & (limit_s > 0)
    if not keep.any():
        return shapely.MultiLineString([])
    site_xy, limit_s = site_xy[keep], limit_s[keep]
    top = float(limit_s.max())
    dist, ss, r = paths.reach(net, site_xy, head_start_s=top - limit_s)
    g = net.graph
    e = net.usable
    length = g.length[e]
    budget_u = top - dist[g.u[e]]
    budget_v = top - dist[g.v[e]]
    # from u the traveller heads to u against the drawing direction (backward cost)
    lo_reach = np.clip(np.divide(budget_u * length, net.back[e], out=np.zeros(len(e)),
                                 where=np.isfinite(net.back[e])), 0, length)
    hi_reach = np.clip(np.divide(budget_v * length, net.fwd[e], out=np.zeros(len(e)),
                                 where=np.isfinite(net.fwd[e])), 0, length)
    edges, lo, hi = [e, e], [np.zeros(len(e)), length - hi_reach], [lo_reach, length]
    site_node = r.nodes_of(0)
    inner = np.flatnonzero((ss.edge >= 0) & (site_node >= g.n_nodes))
    if len(inner):
        se = ss.edge[inner]
        a = np.clip(ss.along_m[inner], 0, g.length[se])
        b = np.maximum(top - dist[site_node[inner]], 0)
        back = np.divide(b * g.length[se], net.fwd[se], out=np.zeros(len(se)),
                         where=np.isfinite(net.fwd[se]))
        ahead = np.divide(b * g.length[se], net.back[se], out=np.zeros(len(se)),
                          where=np.isfinite(net.back[se]))
        edges.append(se)
        lo.append(np.clip(a - back, 0, g.length[se]))
        hi.append(np.clip(a + ahead, 0, g.length[se]))
    ea, la, ha = np.concatenate(edges), np.concatenate(lo), np.concatenate(hi)
    some = ha - la > 0.01
    ea, la, ha = ea[some], la[some], ha[some]
    whole = (la <= 0.01) & (ha >= g.length[ea] - 0.01)
    pieces = list(g.geom[ea[whole]])
    pieces += [ops.substring(g.geom[i], float(a0), float(a1))
               for i, a0, a1 in zip(ea[~whole], la[~whole], ha[~whole], strict=True)]
    if not pieces:
        return shapely.MultiLineString([])
    return shapely.union_all(pieces)


def service_area(net: paths.ModeNetwork, site_xy: Array, limit_s: Array,
                 buffer_m: float = ISOCHRONE_BUFFER_M) -> BaseGeometry:
    """Metric polygon of the road corridors within each site's time limit."""
    lines = reached_lines(net, site_xy, limit_s)
    if lines.is_empty:
        return shapely.Polygon()
    return shapely.buffer(lines, buffer_m, quad_segs=4)


def isochrones(net: paths.ModeNetwork, site_xy: Array, minutes: list[float],
               buffer_m: float = ISOCHRONE_BUFFER_M) -> list[tuple[float, BaseGeometry]]:
    """Nested isochrone polygons (CGCS2000 lon/lat) for each number of minutes, ascending."""
    out = []
    inner: BaseGeometry = shapely.Polygon()
    for m in sorted(set(minutes)):
        area = service_area(net, site_xy, np.full(len(site_xy), m * 60.0), buffer_m)
        inner = shapely.union(area, inner)  # nested exactly, whatever the arc approximation
        out.append((m, crs.from_metric(inner)))
    return out


def isochrones_geojson(net: paths.ModeNetwork, site_xy: Array, minutes: list[float],
                       properties: dict, buffer_m: float = ISOCHRONE_BUFFER_M) -> dict:
    """Isochrones as a GeoJSON FeatureCollection (largest first, so smaller ones draw on top)."""
    feats = []
    for m, geom in reversed(isochrones(net, site_xy, minutes, buffer_m)):
        area_km2 = crs.to_metric(geom).area / 1e6 if not geom.is_empty else 0.0
        feats.append({"type": "Feature", "geometry": shapely.geometry.mapping(geom),
                      "properties": {**properties, "minutes": m, "mode": net.mode,
                                     "area_km2": round(area_km2, 4), "buffer_m": buffer_m}})
    return {"type": "FeatureCollection", "features": feats}
