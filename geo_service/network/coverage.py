"""What a coverage analysis needs from the road network: the model, time radii, route columns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo_service.coverage.distance import DEFAULT_MODEL, Array, DistanceModel
from geo_service.errors import GeoServiceError
from geo_service.network.isochrones import ISOCHRONE_BUFFER_M, isochrones_geojson, service_area
from geo_service.network.model import NetworkDistanceModel

if TYPE_CHECKING:
    from geo_service.coverage.data import Study
    from geo_service.coverage.request import CoverageRequest

ROUTE_COLUMNS = ["nearest_minutes", "nearest_road_m", "nearest_snap_m", "nearest_straight_m"]


def pick_model(study: Study, req: CoverageRequest) -> DistanceModel:
    """Straight lines, or walking/driving on the study's road layer, as the request asks."""
    if req.distance == "straight":
        if req.minutes is not None or (req.access and req.access.catchment_minutes):
            raise GeoServiceError("按分钟的半径需要沿道路计算: minutes (--minutes) need "
                                  "--distance walk or drive, a straight line has no travel time")
        return DEFAULT_MODEL
    if study.engine is None:
        raise GeoServiceError(f"沿道路计算需要道路图层: --distance {req.distance} needs the "
                              "database's road layer")
    from geo_service.network.store import network_model

    return network_model(study.engine, req.distance, study.speeds)


def cost_radii(model: DistanceModel, req: CoverageRequest, sites: pd.DataFrame,
               radius_m: Array) -> Array:
    """Each site's radius in the model's unit: metres, or seconds for a network model."""
    if not isinstance(model, NetworkDistanceModel):
        return radius_m
    own = (sites.radius_m.to_numpy(float) if "radius_m" in sites
           else np.full(len(sites), np.nan))
    if req.minutes is not None:
        out = np.where(np.isfinite(radius_m), req.minutes * 60.0, np.nan)
        has_own = np.isfinite(own)
        if has_own.any():
            out[has_own] = _metres_as_seconds(model, own[has_own], "add_sites radius_m")
        return out
    return _metres_as_seconds(model, radius_m, "the service radii")


def candidate_radii(model: DistanceModel, req: CoverageRequest, radius_m: Array) -> Array:
    """Radii of candidate new sites (MCLP, set cover) in the model's unit."""
    if not isinstance(model, NetworkDistanceModel):
        return radius_m
    if req.minutes is not None:
        return np.full(len(radius_m), req.minutes * 60.0)
    return _metres_as_seconds(model, radius_m, "the new sites' radius")


def whatif_radius_m(req: CoverageRequest, metres: float | None) -> float | None:
    """A suggested site's own radius: none when the request's minutes decide it."""
    return None if req.distance != "straight" and req.minutes is not None else metres


def _metres_as_seconds(model: NetworkDistanceModel, metres: Array, what: str) -> Array:
    """Metres along the road as walking seconds; driving radii must come in minutes."""
    if model.mode == "drive" and np.isfinite(metres).any():
        raise GeoServiceError(f"驾车请按分钟给出半径: --distance drive: give {what} in minutes "
                              "(--minutes), a driving radius in metres has no fixed time")
    return model.radius_seconds(metres)


def catchment(model: DistanceModel, req: CoverageRequest) -> float:
    """The 2SFCA catchment in the model's unit."""
    assert req.access is not None
    if not isinstance(model, NetworkDistanceModel):
        return req.access.catchment_m
    if req.access.catchment_minutes is not None:
        return req.access.catchment_minutes * 60.0
    return float(_metres_as_seconds(model, np.array([req.access.catchment_m]),
                                    "the 2SFCA catchment")[0])


def route_columns(model: NetworkDistanceModel, unit_xy: Array, site_xy: Array,
                  units: pd.DataFrame) -> tuple[np.ndarray, Array]:
    """Fill the per-unit route columns; → (nearest site index, seconds) for the engine."""
    found = model.routes(unit_xy, site_xy)
    has = found.site >= 0
    pick = found.site.clip(0)
    straight = np.hypot(unit_xy[:, 0] - site_xy[pick, 0], unit_xy[:, 1] - site_xy[pick, 1]) \
        if len(site_xy) else np.full(len(unit_xy), np.nan)
    units["nearest_minutes"] = np.where(has, np.round(found.seconds / 60.0, 3), np.nan)
    units["nearest_road_m"] = np.where(has, np.round(found.road_m, 1), np.nan)
    units["nearest_snap_m"] = np.where(has, np.round(found.snap_m, 1), np.nan)
    units["nearest_straight_m"] = np.where(has, np.round(straight, 1), np.nan)
    return found.site, found.seconds


def travelled_m(units: pd.DataFrame) -> Array:
    """Metres travelled to the nearest site: along the roads plus the walks to and from them."""
    return (units.nearest_road_m + units.nearest_snap_m).to_numpy(float)


def network_area(model: NetworkDistanceModel, site_xy: Array, radius_s: Array,
                 rule: np.ndarray, rural_s: Array | None = None,
                 urban_zone: BaseGeometry | None = None) -> BaseGeometry:
    """Metric service area of the radius-rule sites: their isochrones along the roads.

    With `rural_s` and `urban_zone` (the residents' rule), isochrones of `radius_s` count
    inside the urban zone and those of `rural_s` outside it."""
    def area(radii: Array) -> BaseGeometry:
        has = (rule == "radius") & np.isfinite(radii)
        return service_area(model.net, site_xy[has], radii[has])

    if rural_s is None or urban_zone is None or np.array_equal(radius_s, rural_s,
                                                               equal_nan=True):
        return area(radius_s)
    return shapely.union_all([shapely.intersection(area(radius_s), urban_zone),
                              shapely.difference(area(rural_s), urban_zone)])


def _snap_stats(model: NetworkDistanceModel, xy: Array) -> dict:
    """How far points lie from the nearest usable road (metres, walked at walking speed)."""
    snap = model.net.snap(xy)
    ok = np.isfinite(snap.dist_m)
    return {"snapped": int(ok.sum()),
            "mean": round(float(snap.dist_m[ok].mean()), 1) if ok.any() else None,
            "max": round(float(snap.dist_m[ok].max()), 1) if ok.any() else None}


def metadata(model: NetworkDistanceModel, req: CoverageRequest, unit_xy: Array,
             units: pd.DataFrame, site_xy: Array) -> dict:
    """How the network answered: mode, speeds, radii in minutes, snapping and islands."""
    comp = model.graph.components(model.mode, model.speeds)
    unreached = int(units.nearest_minutes.isna().sum())
    out: dict[str, Any] = {"distance": req.distance, "minutes": req.minutes,
           "radius_unit": "minutes" if req.minutes is not None else "metres along the road",
           "speeds": model.speeds.as_dict(),
           "graph": {k: comp[k] for k in ("components", "nodes", "edges", "km",
                                           "largest_share", "islands_total")},
           "snap_m": _snap_stats(model, unit_xy), "site_snap_m": _snap_stats(model, site_xy),
           "units_without_route": unreached,
           "isochrone_buffer_m": ISOCHRONE_BUFFER_M}
    warnings = []
    if comp["components"] > 1:
        warnings.append(f"道路网有 {comp['components'] - 1} 个孤立部分(未连通), 未被自动连接")
    if unreached:
        warnings.append(f"{unreached} 个村(社区)沿道路到不了任何设施")
    out["warnings"] = warnings
    return out


def report_isochrones(model: NetworkDistanceModel, req: CoverageRequest, site_xy: Array,
                      rule: np.ndarray) -> dict:
    """Nested isochrones (5/10/15 minutes and the request's) of the radius-rule sites."""
    top = req.minutes or 15.0
    marks = sorted({m for m in (5.0, 10.0, 15.0) if m <= top} | {float(top)})
    has = rule == "radius"
    return isochrones_geojson(model.net, site_xy[has], marks,
                              {"layer": req.layer, "sites": int(has.sum())})
