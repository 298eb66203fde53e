"""OGC API – Features Part 2: the CRSs offered, their axis order, and turning them into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from geo_service.crs import STORAGE_CRS_URI, STORAGE_SRID, geometry_to_storage, parse_crs
from geo_service.crs import to_storage_xy as _to_storage_xy
from geo_service.errors import GeoServiceError

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
# Offered output CRSs (EPSG codes); CRS84 is the default. WGS84 and CGCS2000 share a datum
# here (they differ by well under a metre), so 4326 and CRS84 are 4490 with its axis order.
OUTPUT_CODES = (4490, 4326, 3857, 4544)
_SAME_DATUM = {4490, 4326}


class CRSParameterError(GeoServiceError):
    """A crs, bbox-crs or filter-crs the service does not offer."""

    status_code = 400


@dataclass(frozen=True)
class OgcCRS:
    """One offered CRS: its URI, the PostGIS SRID to project to, and its axis order."""

    uri: str
    srid: int
    lat_first: bool

    @property
    def geographic(self) -> bool:
        """True when coordinates are degrees."""
        return self.srid == STORAGE_SRID

    @property
    def decimals(self) -> int:
        """Digits kept in output: 1e-9 ° ≈ 0.1 mm; 1e-4 m = 0.1 mm."""
        return 9 if self.geographic else 4


@lru_cache
def _epsg(code: int) -> OgcCRS:
    """The offered CRS with this EPSG code; axis order as the EPSG registry defines it."""
    crs = parse_crs(f"EPSG:{code}").pyproj_crs
    assert crs is not None
    first = crs.axis_info[0].direction.lower()
    srid = STORAGE_SRID if code in _SAME_DATUM else code
    return OgcCRS(EPSG_URI.format(code), srid, first in ("north", "south"))


CRS84 = OgcCRS(CRS84_URI, STORAGE_SRID, False)


def offered() -> list[OgcCRS]:
    """Every CRS offered for output, bbox and filters (CRS84 first)."""
    return [CRS84, *(_epsg(code) for code in OUTPUT_CODES)]


def offered_uris() -> list[str]:
    """The URIs of the offered CRSs."""
    return [c.uri for c in offered()]


def storage_crs_uri() -> str:
    """The CRS the data are stored in."""
    return STORAGE_CRS_URI


def parse_ogc_crs(value: str | None, parameter: str = "crs") -> OgcCRS:
    """A CRS URI (or EPSG:n, [EPSG:n], CRS84) → an offered CRS; 400 naming the parameter."""
    if value is None or value.strip() == "":
        return CRS84
    text = value.strip().strip("[]")
    upper = text.upper()
    if upper in ("CRS84", "OGC:CRS84") or text == CRS84_URI:
        return CRS84
    code: str | None = None
    if upper.startswith("EPSG:"):
        code = text[5:]
    elif text.startswith(("http://www.opengis.net/def/crs/EPSG/", "https://www.opengis.net/def/crs/EPSG/")):
        code = text.rstrip("/").rsplit("/", 1)[-1]
    if code is not None and code.isdigit() and int(code) in OUTPUT_CODES:
        return _epsg(int(code))
    raise CRSParameterError(
        f"{parameter}: CRS {value!r} is not offered; use one of {', '.join(offered_uris())}")


def output_geometry(column: ColumnElement, crs: OgcCRS) -> ColumnElement:
    """SQL for the stored geometry in `crs`, with the CRS's own axis order."""
    geom = column if crs.srid == STORAGE_SRID else func.ST_Transform(column, crs.srid)
    return func.ST_FlipCoordinates(geom) if crs.lat_first else geom


def _xy(values: list[float], crs: OgcCRS) -> tuple[float, float, float, float]:
    """A 4-value box in the CRS's axis order → (minx, miny, maxx, maxy) with x = lon/easting."""
    a1, a2, b1, b2 = values
    return (a2, a1, b2, b1) if crs.lat_first else (a1, a2, b1, b2)


def parse_bbox(text: str, crs: OgcCRS, parameter: str = "bbox") -> tuple[float, ...]:
    """bbox=x1,y1,x2,y2 (or 6 values with heights) in `crs` → storage lon/lat box."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise CRSParameterError(
            f"{parameter}: {text!r} is not 4 or 6 comma-separated numbers") from None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4 or not all(np.isfinite(values)):
        raise CRSParameterError(
            f"{parameter}: {text!r} is not 4 or 6 comma-separated numbers") from None
    minx, miny, maxx, maxy = _xy(values, crs)
    if miny > maxy or (minx > maxx and not crs.geographic):
        raise CRSParameterError(f"{parameter}: lower corner above or right of upper corner")
    if crs.geographic:
        order = "lat,lon" if crs.lat_first else "lon,lat"
        if not (-90 <= miny <= 90 and -90 <= maxy <= 90):
            raise CRSParameterError(f"{parameter}: latitude outside -90..90 (axis order of "
                                    f"{crs.uri} is {order})")
        if not (-180 <= minx <= 180 and -180 <= maxx <= 180):
            raise CRSParameterError(f"{parameter}: longitude outside -180..180 (axis order of "
                                    f"{crs.uri} is {order})")
        return (minx, miny, maxx, maxy)
    return box_to_storage((minx, miny, maxx, maxy), crs)


def antimeridian_parts(box: tuple[float, ...]) -> list[tuple[float, ...]]:
    """A lon/lat box whose west edge lies east of its east edge spans the antimeridian
    (Part 1 allows it): its two parts, west..180 and -180..east; else the box itself."""
    west, south, east, north = box
    if west <= east:
        return [box]
    return [(west, south, 180.0, north), (-180.0, south, east, north)]


def box_to_storage(box: tuple[float, float, float, float], crs: OgcCRS) -> tuple[float, ...]:
    """A projected box (x = easting) → the storage lon/lat box covering it (edges densified)."""
    minx, miny, maxx, maxy = box
    steps = np.linspace(0.0, 1.0, 21)
    xs = np.concatenate([minx + (maxx - minx) * steps, np.full(21, maxx),
                         maxx - (maxx - minx) * steps, np.full(21, minx)])
    ys = np.concatenate([np.full(21, miny), miny + (maxy - miny) * steps,
                         np.full(21, maxy), maxy - (maxy - miny) * steps])
    lon, lat = _to_storage_xy(xs, ys, parse_crs(f"EPSG:{crs.srid}"))
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise CRSParameterError(f"box {box} lies outside the area of use of {crs.uri}")
    return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))


def geometry_in_storage(geom: shapely.Geometry, crs: OgcCRS) -> shapely.Geometry:
    """A geometry written in `crs` (its axis order) → storage lon/lat."""
    if crs.lat_first:
        geom = shapely.transform(geom, lambda c: c[:, ::-1])
    if crs.srid == STORAGE_SRID:
        return geom
    return geometry_to_storage(geom, parse_crs(f"EPSG:{crs.srid}"))


def content_crs_header(crs: OgcCRS) -> str:
    """The Content-Crs header value."""
    return f"<{crs.uri}>"
