"""A gazetteer search query from HTTP or CLI parameters (one parser for both)."""

from __future__ import annotations

import math

from geo_service.errors import GeoServiceError
from geo_service.gazetteer.reverse import to_storage_point
from geo_service.gazetteer.search import SearchQuery


def split_list(value: str | None) -> tuple[str, ...]:
    """'a, b,c' → ('a', 'b', 'c'); full-width commas too."""
    if not value:
        return ()
    return tuple(part.strip() for part in value.replace("，", ",").split(",") if part.strip())


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """'minlon,minlat,maxlon,maxlat' → four finite floats, or a 400 naming the problem."""
    if not value:
        return None
    parts = split_list(value)
    try:
        numbers = tuple(float(p) for p in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise GeoServiceError(f"bbox: {value!r} is not four numbers "
                              "min lon,min lat,max lon,max lat")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def build_query(
    q: str, *, types: str | None, category: str | None, township: str | None,
    bbox: str | None, lon: float | None, lat: float | None, radius: float | None,
    crs: str | None, limit: int,
) -> SearchQuery:
    """A SearchQuery from HTTP/CLI parameters (the point converted to CGCS2000)."""
    if (lon is None) != (lat is None):
        raise GeoServiceError("lon/lat: give both or neither")
    near = to_storage_point(lon, lat, crs) if lon is not None and lat is not None else None
    return SearchQuery(q=q, types=split_list(types) or ("place",),
                       categories=split_list(category), township=township,
                       bbox=parse_bbox(bbox), near=near, radius_m=radius, limit=limit)
