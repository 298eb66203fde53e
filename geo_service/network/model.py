"""`NetworkDistanceModel`: travel time along the roads behind the coverage `DistanceModel` seam."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from geo_service.coverage.distance import Array, IntArray, PlanarDistance
from geo_service.network import paths
from geo_service.network.graph import RoadGraph
from geo_service.network.speeds import Mode, Speeds

MODE_TITLES = {"walk": "步行", "drive": "驾车"}


@dataclass
class NetworkDistanceModel:
    """Seconds of walking or driving along the road graph (straight walk to the road included).

    Its `distance` unit is seconds: radii given to `within` are seconds too
    (`radius_seconds` turns metres along the road into walking seconds).
    """

    graph: RoadGraph
    mode: Mode = "walk"
    speeds: Speeds = field(default_factory=Speeds)
    unit: str = "s"

    def __post_init__(self) -> None:
        self.net = paths.ModeNetwork(self.graph, self.mode, self.speeds)
        self._last: tuple[tuple[bytes, bytes], paths.Nearest] | None = None
        self.name = (f"road network, {self.mode} ({MODE_TITLES[self.mode]}), shortest travel "
                     f"time; walking {self.speeds.walk_kmh:g} km/h; lengths on EPSG:4544")

    def project(self, lon: Array, lat: Array) -> tuple[Array, Array]:
        """lon/lat → EPSG:4544, the plane the graph is built on."""
        return PlanarDistance().project(lon, lat)

    def routes(self, unit_xy: Array, site_xy: Array) -> paths.Nearest:
        """Nearest site per unit with seconds, metres along roads and metres off-road."""
        key = (np.ascontiguousarray(unit_xy).tobytes(), np.ascontiguousarray(site_xy).tobytes())
        if self._last is None or self._last[0] != key:
            self._last = (key, paths.nearest(self.net, unit_xy, site_xy))
        return self._last[1]

    def nearest(self, unit_xy: Array, site_xy: Array) -> tuple[IntArray, Array]:
        """For each unit, the site reached soonest and the travel time in seconds."""
        found = self.routes(unit_xy, site_xy)
        return found.site, found.seconds

    def within(self, unit_xy: Array, site_xy: Array, radii: Array
               ) -> tuple[IntArray, IntArray, Array]:
        """All (unit, site, seconds) pairs with seconds ≤ the site's radius (in seconds)."""
        return paths.within(self.net, unit_xy, site_xy, radii)

    def radius_seconds(self, metres: Array) -> Array:
        """Metres along the road as walking seconds (the meaning of a metre radius here)."""
        return np.asarray(metres, dtype=np.float64) / self.speeds.walk_mps
