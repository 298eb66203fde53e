"""Distance models: the seam between the coverage engine and how distance is measured.

`PlanarDistance` measures straight lines on the CGCS2000 Gauss-Krüger plane (EPSG:4544,
CM 105°E), vectorised with scipy's cKDTree. A road-network model (shortest paths on a
road layer) would implement the same protocol; none exists yet because there is no road
layer, and straight-line distance is never presented as road distance.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from geo_service import crs

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]


class DistanceModel(Protocol):
    """Metric distance between demand points and sites (both given as lon/lat)."""

    @property
    def name(self) -> str:
        """What the distances are, for reports."""
        ...

    def project(self, lon: Array, lat: Array) -> tuple[Array, Array]:
        """The model's working coordinates (metres) of lon/lat points."""
        ...

    def nearest(self, unit_xy: Array, site_xy: Array) -> tuple[IntArray, Array]:
        """For each unit, the index of the nearest site and the distance in metres."""
        ...

    def within(self, unit_xy: Array, site_xy: Array, radii: Array
               ) -> tuple[IntArray, IntArray, Array]:
        """All (unit, site, distance) pairs with distance ≤ the site's radius."""
        ...


def _distinct_points(xy: Array) -> tuple[Array, IntArray | None]:
    """The distinct points and each one's lowest index (None: the points are all distinct)."""
    ordered = xy[np.lexsort((xy[:, 1], xy[:, 0]))]
    if not (ordered[1:] == ordered[:-1]).all(axis=1).any():
        return xy, None
    spots, first = np.unique(xy, axis=0, return_index=True)
    return spots, first.astype(np.int64)


@dataclass(frozen=True)
class PlanarDistance:
    """Euclidean distance on the EPSG:4544 Gauss-Krüger plane (metres)."""

    name: str = "planar EPSG:4544 (CGCS2000 / 3-degree Gauss-Kruger CM 105E), straight line"

    def project(self, lon: Array, lat: Array) -> tuple[Array, Array]:
        """lon/lat → EPSG:4544 easting/northing via geo_service.crs."""
        t = crs.transformer(f"EPSG:{crs.STORAGE_SRID}", f"EPSG:{crs.METRIC_SRID}")
        x, y = t.transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def nearest(self, unit_xy: Array, site_xy: Array) -> tuple[IntArray, Array]:
        """Nearest site per unit via a cKDTree over the sites (-1, inf when no site).

        Sites at the same point count once, as the lowest index among them."""
        n = len(unit_xy)
        idx = np.full(n, -1, dtype=np.int64)
        out = np.full(n, np.inf)
        if len(site_xy) == 0 or n == 0:
            return idx, out
        units = np.asarray(unit_xy, dtype=np.float64)
        sites = np.asarray(site_xy, dtype=np.float64)
        spots, first = _distinct_points(sites)
        _, hit = cKDTree(spots, balanced_tree=False).query(units, k=1)
        if first is not None:
            hit = np.where(hit < len(spots), first[np.minimum(hit, len(spots) - 1)], len(sites))
        found = hit < len(sites)  # a unit with non-finite coordinates has no nearest site
        if found.all():
            idx = hit.astype(np.int64)
            chosen = sites[idx]
            return idx, np.hypot(units[:, 0] - chosen[:, 0], units[:, 1] - chosen[:, 1])
        idx[found] = hit[found]
        chosen = sites[idx[found]]
        out[found] = np.hypot(units[found, 0] - chosen[:, 0], units[found, 1] - chosen[:, 1])
        return idx, out

    def within(self, unit_xy: Array, site_xy: Array, radii: Array
               ) -> tuple[IntArray, IntArray, Array]:
        """Pairs within each site's radius via a cKDTree over the units, by site then unit."""
        radii = np.asarray(radii, dtype=np.float64)
        keep = np.flatnonzero(np.isfinite(radii) & (radii > 0))
        if len(unit_xy) == 0 or len(keep) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        units = np.asarray(unit_xy, dtype=np.float64)
        sites = np.asarray(site_xy, dtype=np.float64)
        tree = cKDTree(units, balanced_tree=False)  # unbalanced: a faster build, same answers
        # a hair wider than the radius, so rounding in the tree never loses a pair that the
        # np.hypot ≤ rule below keeps
        found = tree.query_ball_point(sites[keep], r=radii[keep] * (1 + 1e-9),
                                      return_sorted=True)
        counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
        u = np.fromiter(itertools.chain.from_iterable(found), dtype=np.int64,
                        count=int(counts.sum()))
        s = np.repeat(keep.astype(np.int64), counts)
        d = np.hypot(units[u, 0] - sites[s, 0], units[u, 1] - sites[s, 1])
        ok = d <= radii[s]
        return u[ok], s[ok], d[ok]


DEFAULT_MODEL: DistanceModel = PlanarDistance()
