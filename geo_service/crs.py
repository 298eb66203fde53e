"""Coordinate reference systems: the one module that converts, projects and measures.

Storage is CGCS2000 geographic (EPSG:4490, lon/lat order in the database). Metric work
uses CGCS2000 / 3-degree Gauss-Krüger CM 105°E (EPSG:4544) or the CGCS2000 spheroid.
Inputs may be any EPSG CRS, or the Chinese obfuscated systems GCJ-02 (Amap, Tencent)
and BD-09 (Baidu), which have no EPSG code and are inverted here by iteration.

CGCS2000 and WGS84 are treated as the same datum: their realisations differ by well
under a metre (plate motion since epoch 2000.0), below the accuracy of the sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import CRS, Geod, Transformer
from pyproj.exceptions import CRSError

STORAGE_SRID = 4490
METRIC_SRID = 4544
STORAGE_CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/4490"
CGCS2000_GEOD = Geod(ellps="GRS80")

# Krasovsky 1940, the ellipsoid the GCJ-02 offset formula is written for.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOLERANCE_DEG = 1e-10  # about 0.01 mm
_INVERSE_MAX_STEPS = 30

Array = NDArray[np.float64]


class UnknownCRSError(ValueError):
    """The CRS text names no CRS this service can convert from."""


@dataclass(frozen=True)
class InputCRS:
    """A CRS that data can arrive in: an EPSG/OGC CRS, or GCJ-02 / BD-09."""

    name: str
    pyproj_crs: CRS | None = None

    @property
    def is_obfuscated(self) -> bool:
        """True for GCJ-02 and BD-09, which no EPSG code describes."""
        return self.pyproj_crs is None


GCJ02 = InputCRS("gcj02")
BD09 = InputCRS("bd09")
_ALIASES = {
    "gcj02": GCJ02, "gcj-02": GCJ02, "gcj": GCJ02, "amap": GCJ02, "tencent": GCJ02,
    "bd09": BD09, "bd-09": BD09, "bd09ll": BD09, "baidu": BD09,
}


def parse_crs(text: str | int | None) -> InputCRS:
    """Turn 'EPSG:4326', '4490', 'gcj02', 'bd09' or an OGC CRS URI into an InputCRS."""
    if text is None or text == "":
        return InputCRS(f"EPSG:{STORAGE_SRID}", CRS.from_epsg(STORAGE_SRID))
    key = str(text).strip()
    if key.lower() in _ALIASES:
        return _ALIASES[key.lower()]
    if key.isdigit():
        key = f"EPSG:{key}"
    try:
        crs = CRS.from_user_input(key)
    except CRSError as exc:
        raise UnknownCRSError(
            f"unknown CRS {text!r}: use EPSG:<code>, gcj02 (Amap/Tencent) or bd09 (Baidu)"
        ) from exc
    code = crs.to_epsg()
    return InputCRS(f"EPSG:{code}" if code else crs.name, crs)


def _out_of_china(lon: Array, lat: Array) -> NDArray[np.bool_]:
    """GCJ-02 applies only inside China's rough bounding box; outside it is identity."""
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj_delta(lon: Array, lat: Array) -> tuple[Array, Array]:
    """The GCJ-02 offset (degrees) to add to a WGS84 position."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + common
        + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + common
        + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_KRASOVSKY_A * (1 - _KRASOVSKY_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = dlon * 180.0 / (_KRASOVSKY_A / sqrt_magic * np.cos(rad) * math.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _as_arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84/CGCS2000 → GCJ-02 (the forward formula, exact by definition)."""
    lon, lat = _as_arrays(lon, lat)
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _invert(forward, lon: Array, lat: Array) -> tuple[Array, Array]:
    """Invert a near-identity forward map by fixed-point iteration to ~0.01 mm."""
    x, y = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_STEPS):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        if not (np.nanmax(np.abs(ex), initial=0.0) > _INVERSE_TOLERANCE_DEG
                or np.nanmax(np.abs(ey), initial=0.0) > _INVERSE_TOLERANCE_DEG):
            break
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → WGS84/CGCS2000, iterated until the forward map reproduces the input."""
    return _invert(wgs84_to_gcj02, *_as_arrays(lon, lat))


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 → BD-09 (Baidu's forward formula)."""
    x, y = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 → GCJ-02, iterated (the usual one-step inverse is off by up to a metre)."""
    return _invert(gcj02_to_bd09, *_as_arrays(lon, lat))


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84/CGCS2000 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 → WGS84/CGCS2000, both steps inverted exactly."""
    return _invert(wgs84_to_bd09, *_as_arrays(lon, lat))


@lru_cache(maxsize=64)
def transformer(source: str | int, target: str | int) -> Transformer:
    """A cached lon/lat-ordered (always_xy) pyproj transformer between two CRSs."""
    src = CRS.from_user_input(source if not isinstance(source, int) else f"EPSG:{source}")
    dst = CRS.from_user_input(target if not isinstance(target, int) else f"EPSG:{target}")
    return Transformer.from_crs(src, dst, always_xy=True)


def to_storage_xy(x: ArrayLike, y: ArrayLike, crs: InputCRS) -> tuple[Array, Array]:
    """Coordinates in `crs` (x=lon/easting, y=lat/northing) → CGCS2000 lon/lat."""
    x, y = _as_arrays(x, y)
    if crs is GCJ02:
        return gcj02_to_wgs84(x, y)
    if crs is BD09:
        return bd09_to_wgs84(x, y)
    assert crs.pyproj_crs is not None
    if crs.pyproj_crs.to_epsg() == STORAGE_SRID:
        return x, y
    out = transformer(crs.pyproj_crs.to_wkt(), f"EPSG:{STORAGE_SRID}").transform(x, y)
    return np.asarray(out[0]), np.asarray(out[1])


def from_storage_xy(lon: ArrayLike, lat: ArrayLike, crs: InputCRS) -> tuple[Array, Array]:
    """CGCS2000 lon/lat → coordinates in `crs` (x first)."""
    lon, lat = _as_arrays(lon, lat)
    if crs is GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if crs is BD09:
        return wgs84_to_bd09(lon, lat)
    assert crs.pyproj_crs is not None
    out = transformer(f"EPSG:{STORAGE_SRID}", crs.pyproj_crs.to_wkt()).transform(lon, lat)
    return np.asarray(out[0]), np.asarray(out[1])


def _apply_xy(geoms, fn):
    """Apply an (x, y) → (x, y) array function to every coordinate of shapely geometries."""
    def wrapped(coords: Array) -> Array:
        nx, ny = fn(coords[:, 0], coords[:, 1])
        return np.column_stack([nx, ny])

    return shapely.transform(geoms, wrapped)


def geometry_to_storage(geoms, crs: InputCRS):
    """Shapely geometry (or array of them) in `crs` → CGCS2000 lon/lat."""
    return _apply_xy(geoms, lambda x, y: to_storage_xy(x, y, crs))


def geometry_from_storage(geoms, crs: InputCRS):
    """CGCS2000 lon/lat shapely geometry (or array) → `crs`, x first."""
    return _apply_xy(geoms, lambda x, y: from_storage_xy(x, y, crs))


def to_metric(geoms):
    """CGCS2000 lon/lat geometry → Gauss-Krüger CM 105°E metres (EPSG:4544, x=easting)."""
    t = transformer(f"EPSG:{STORAGE_SRID}", f"EPSG:{METRIC_SRID}")
    return _apply_xy(geoms, lambda x, y: t.transform(x, y))


def from_metric(geoms):
    """Gauss-Krüger CM 105°E metres → CGCS2000 lon/lat."""
    t = transformer(f"EPSG:{METRIC_SRID}", f"EPSG:{STORAGE_SRID}")
    return _apply_xy(geoms, lambda x, y: t.transform(x, y))


def geodesic_distance_m(
    lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike
) -> Array:
    """Distance in metres on the CGCS2000 (GRS80) spheroid."""
    _, _, dist = CGCS2000_GEOD.inv(lon1, lat1, lon2, lat2)
    return np.asarray(dist, dtype=np.float64)


def geodesic_area_m2(geom) -> float:
    """Area in square metres of a CGCS2000 lon/lat polygon, on the spheroid."""
    area, _ = CGCS2000_GEOD.geometry_area_perimeter(geom)
    return abs(float(area))
