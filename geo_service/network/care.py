"""Walking time along roads for the care map's nearest list and card (public facilities)."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, func, select

from geo_service.coverage.distance import PlanarDistance
from geo_service.db.models import roads
from geo_service.network import paths
from geo_service.network.speeds import Speeds
from geo_service.network.store import has_roads, network_model


def walking(engine: Engine, lon: float, lat: float, site_lon: np.ndarray, site_lat: np.ndarray,
            walk_kmh: float | None = None) -> tuple[list[dict | None], dict] | None:
    """Per site: walking minutes and metres from the point along the roads (None: no roads)."""
    if not has_roads(engine, public_only=True):
        return None
    speeds = Speeds() if walk_kmh is None else Speeds(walk_kmh=walk_kmh)
    model = network_model(engine, "walk", speeds, public_only=True)  # the anonymous view's roads
    plane = PlanarDistance()
    origin = np.column_stack(plane.project(np.array([lon]), np.array([lat])))[0]
    targets = np.column_stack(plane.project(np.asarray(site_lon, dtype=np.float64),
                                            np.asarray(site_lat, dtype=np.float64)))
    found = paths.from_point(model.net, origin, targets)
    per_site: list[dict | None] = [
        None if not np.isfinite(s) else
        {"walk_minutes": round(float(s) / 60.0, 1), "walk_m": round(float(r + k), 0)}
        for s, r, k in zip(found.seconds, found.road_m, found.snap_m, strict=True)]
    with engine.connect() as conn:
        illustrative = bool(conn.execute(select(func.bool_or(
            roads.c.geometry_accuracy == "illustrative")).where(roads.c.is_public.is_(True))
        ).scalar())
    about = {"mode": "walk", "speed_kmh": model.speeds.walk_kmh,
             "note": f"沿道路步行时间(老年人步速 {model.speeds.walk_kmh:g} 公里/小时)"
             + (";道路网为示意数据" if illustrative else ""),
             "roads_illustrative": illustrative}
    return per_site, about
