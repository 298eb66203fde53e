"""Geometry helpers of the boundary work: hashing, GeoJSON in/out, metric lengths."""

from __future__ import annotations

import hashlib
from typing import Any, overload

import shapely
from geoalchemy2.elements import WKBElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geo_service.boundaries.errors import BoundaryInputError
from geo_service.crs import STORAGE_SRID, geodesic_distance_m, to_metric


def geom_hash(geom: BaseGeometry) -> str:
    """Direction- and start-independent sha256 of a geometry at ~1 cm (1e-7°) precision."""
    norm = shapely.normalize(shapely.set_precision(geom, 1e-7))
    return hashlib.sha256(shapely.to_wkb(norm, hex=False)).hexdigest()


def metric_length_m(geom: BaseGeometry) -> float:
    """Length in metres on the Gauss-Krüger CM 105°E plane (EPSG:4544)."""
    return float(to_metric(geom).length)


def to_db(geom: BaseGeometry):
    """A shapely geometry as a CGCS2000 database value."""
    return from_shape(geom, srid=STORAGE_SRID)


@overload
def from_db(value: None) -> None: ...
@overload
def from_db(value: WKBElement) -> BaseGeometry: ...
def from_db(value: WKBElement | None) -> BaseGeometry | None:
    """A database geometry (WKB element) as shapely, or None."""
    return None if value is None else to_shape(value)


def point_of(value) -> shapely.Point:
    """A stored point geometry as a shapely Point."""
    point = from_db(value)
    if not isinstance(point, shapely.Point):
        raise ValueError(f"expected a stored point, got {type(point).__name__}")
    return point


def as_geojson(geom: BaseGeometry | None, precision: int = 7) -> dict[str, Any] | None:
    """GeoJSON geometry dict with rounded coordinates."""
    if geom is None:
        return None
    return mapping(shapely.set_precision(geom, 10 ** -precision) if precision else geom)


def parse_geojson(value: Any, field: str, allowed: tuple[str, ...]) -> BaseGeometry:
    """A GeoJSON geometry from a request body: valid, of an allowed type, in lon/lat range."""
    if not isinstance(value, dict) or "type" not in value:
        raise BoundaryInputError(f"{field}: expected a GeoJSON geometry object")
    try:
        geom = shape(value)
    except Exception as exc:  # shapely raises several types for malformed input
        raise BoundaryInputError(f"{field}: not a valid GeoJSON geometry ({exc})") from exc
    if geom.geom_type not in allowed:
        raise BoundaryInputError(
            f"{field}: geometry type {geom.geom_type} not allowed (use {', '.join(allowed)})")
    if geom.is_empty:
        raise BoundaryInputError(f"{field}: empty geometry")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise BoundaryInputError(f"{field}: coordinates outside lon/lat range (use EPSG:4490)")
    if not geom.is_valid:
        raise BoundaryInputError(f"{field}: invalid geometry ({shapely.is_valid_reason(geom)})")
    return geom


def point_from(lon: Any, lat: Any, field: str) -> shapely.Point:
    """A CGCS2000 point from lon/lat numbers, checked for range and order."""
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        raise BoundaryInputError(f"{field}: lon and lat must be numbers") from exc
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise BoundaryInputError(f"{field}: lon {x}, lat {y} out of range")
    if 0 < x < 60 and 60 < y < 140:
        raise BoundaryInputError(f"{field}: lon/lat look swapped ({x}, {y})")
    return shapely.Point(x, y)


def displacement_m(registered: shapely.Point, measured: shapely.Point) -> float:
    """Geodesic distance in metres between a registered and a measured position."""
    return float(geodesic_distance_m(registered.x, registered.y, measured.x, measured.y))
