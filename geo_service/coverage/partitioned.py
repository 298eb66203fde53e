"""The same assignment partitioned with dask-geopandas, for national-scale demand.

Demand units are sorted along a Hilbert curve and split into spatially coherent
partitions; the site arrays are shipped once to every worker. Each partition runs the
in-process `engine.assign` with all sites for the nearest search and, for the radius
pairs, only the sites whose circle reaches the partition's bounding box — so the result
equals the in-process one exactly.
"""

from __future__ import annotations

import dask
import dask_geopandas
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.coverage.distance import DEFAULT_MODEL, Array, DistanceModel
from geo_service.coverage.engine import Assignment, assign
from geo_service.crs import METRIC_SRID

_META = pd.DataFrame({"order": pd.Series(dtype=np.int64),
                      "nearest": pd.Series(dtype=np.int64),
                      "distance": pd.Series(dtype=np.float64),
                      "covered": pd.Series(dtype=bool),
                      "covered_by": pd.Series(dtype=object),
                      "sites_within": pd.Series(dtype=np.int64)})


def _partition(part: gpd.GeoDataFrame, sites: dict, model: DistanceModel) -> pd.DataFrame:
    """engine.assign on one partition (radius pairs only from sites reaching its bbox)."""
    if len(part) == 0:
        return _META.copy()
    xy = shapely.get_coordinates(part.geometry.values)
    x0, y0 = xy.min(axis=0)
    x1, y1 = xy.max(axis=0)
    sx, sy, r = sites["xy"][:, 0], sites["xy"][:, 1], sites["radius"]
    reach = (sx + r >= x0) & (sx - r <= x1) & (sy + r >= y0) & (sy - r <= y1)
    radius = np.where(reach, r, np.nan)
    a = assign(xy, part["township_code"].to_numpy(), sites["xy"], sites["township"], radius,
               sites["rule"], model)
    return pd.DataFrame({"order": part["order"].to_numpy(), "nearest": a.nearest,
                         "distance": a.distance, "covered": a.covered,
                         "covered_by": a.covered_by, "sites_within": a.sites_within},
                        index=part.index)


def assign_partitioned(
    unit_xy: Array, unit_township: np.ndarray, site_xy: Array, site_township: np.ndarray,
    radius: Array, rule: np.ndarray, npartitions: int, model: DistanceModel = DEFAULT_MODEL,
    shuffle: bool = True,
) -> Assignment:
    """`engine.assign` over dask-geopandas partitions (on the current Dask scheduler/client)."""
    units = gpd.GeoDataFrame(
        {"order": np.arange(len(unit_xy), dtype=np.int64),
         "township_code": np.asarray(unit_township, dtype=object)},
        geometry=shapely.points(unit_xy), crs=f"EPSG:{METRIC_SRID}")
    if shuffle and npartitions > 1 and len(units) > 1:
        units = units.iloc[np.argsort(units.geometry.hilbert_distance().to_numpy(),
                                      kind="stable")]
    frame = dask_geopandas.from_geopandas(units, npartitions=npartitions, sort=False)
    sites = dask.delayed({"xy": np.asarray(site_xy, dtype=np.float64),
                          "township": np.asarray(site_township, dtype=object),
                          "radius": np.asarray(radius, dtype=np.float64),
                          "rule": np.asarray(rule, dtype=object)}, traverse=False)
    out = frame.map_partitions(_partition, sites, model, meta=_META).compute()
    out = out.sort_values("order")
    return Assignment(out.nearest.to_numpy(np.int64), out.distance.to_numpy(np.float64),
                      out.covered.to_numpy(bool),
                      out.covered_by.astype(object).where(out.covered_by.notna(), None)
                      .to_numpy(object),
                      out.sites_within.to_numpy(np.int64))
