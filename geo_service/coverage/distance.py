"""Distance models: the seam between the coverage engine and how distance is measured.

`PlanarDistance` measures straight lines on the CGCS2000 Gauss-Krüger plane (EPSG:4544,
CM 105°E), vectorised with shapely 2's STRtree. A road-network model (shortest paths on a
road layer) would implement the same protocol; none exists yet because there is no road
layer, and straight-line distance is never presented as road distance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import shapely
from numpy.typing import NDArray

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
        """Nearest site per unit via an STRtree over the sites (-1, inf when no site)."""
        n = len(unit_xy)
        if len(site_xy) == 0 or n == 0:
            return np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
        tree = shapely.STRtree(np.asarray(shapely.points(site_xy)))
        (u, s), dist = tree.query_nearest(shapely.points(unit_xy), return_distance=True,
                                          all_matches=False)
        idx = np.full(n, -1, dtype=np.int64)
        out = np.full(n, np.inf)
        idx[u] = s
        out[u] = dist
        return idx, out

    def within(self, unit_xy: Array, site_xy: Array, radii: Array
               ) -> tuple[IntArray, IntArray, Array]:
        """Pairs within each site's radius via an STRtree over the units (dwithin)."""
        radii = np.asarray(radii, dtype=np.float64)
        keep = np.flatnonzero(np.isfinite(radii) & (radii > 0))
        if len(unit_xy) == 0 or len(keep) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        tree = shapely.STRtree(np.asarray(shapely.points(unit_xy)))
        s, u = tree.query(shapely.points(site_xy[keep]), predicate="dwithin",
                          distance=radii[keep])
        s = keep[s]
        d = np.hypot(unit_xy[u, 0] - site_xy[s, 0], unit_xy[u, 1] - site_xy[s, 1])
        ok = d <= radii[s]  # GEOS and numpy agree; this makes the ≤ rule explicit
        return u[ok].astype(np.int64), s[ok].astype(np.int64), d[ok]


DEFAULT_MODEL: DistanceModel = PlanarDistance()
