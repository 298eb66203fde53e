"""Downloads of a collection or a filtered selection: GeoJSON, CSV, GeoPackage, XLSX.

The selection is the items query without paging (same visibility, bbox, datetime, CQL2
and prop=value rules). CSV and XLSX carry 经度/纬度 (lon/lat, CGCS2000 degrees) of the
point, or of a point inside a polygon; CSV also has a WKT column for non-point layers.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import shapely
from openpyxl import Workbook
from sqlalchemy import Connection, func, null, select

from geo_service.errors import GeoServiceError
from geo_service.ogc.crs_negotiation import CRS84, OgcCRS
from geo_service.ogc.features import ItemsQuery, feature_json
from geo_service.spreadsheets import safe_cell

MAX_ROWS = 200_000
GPKG_VERSION = "1.2"
FORMATS = {
    "geojson": ("application/geo+json", "geojson"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "gpkg": ("application/geopackage+sqlite3", "gpkg"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


class DownloadError(GeoServiceError):
    """A download format that is not offered, or a selection too large."""

    status_code = 400


def _plain(value: Any) -> Any:
    """A property value as one flat value (lists joined, JSON as text, dates ISO)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "、".join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _cell(value: Any) -> Any:
    """A property value as a spreadsheet cell (formula-like text made safe)."""
    return safe_cell(_plain(value))


def _rows(conn: Connection, query: ItemsQuery, with_wkb: bool, srid: int) -> list[Any]:
    table = query.collection.table
    geom = query.collection.geometry
    point = func.ST_PointOnSurface(geom)
    cols: list[Any] = [table.c.id, *(p.column for p in query.selected),
                       func.ST_X(point), func.ST_Y(point)]
    if with_wkb:
        out = geom if srid == 4490 else func.ST_Transform(geom, srid)
        cols.append(func.ST_AsBinary(out))
    else:
        cols.append(func.ST_AsText(geom) if query.collection.layer.geometry != "Point"
                    else null())
    stmt = (select(*cols).select_from(table).where(query.where()).order_by(*query.order)
            .limit(MAX_ROWS + 1))
    rows = list(conn.execute(stmt).all())
    if len(rows) > MAX_ROWS:
        raise DownloadError(f"the selection has more than {MAX_ROWS} features; narrow it with "
                            "bbox, filter or property=value")
    return rows


def _headers(query: ItemsQuery) -> list[str]:
    titles = {"name": "名称", "kind": "类型", "external_id": "编号"}
    return ["id", *(titles.get(p.name, p.title) for p in query.selected)]


def _csv(conn: Connection, query: ItemsQuery) -> bytes:
    rows = _rows(conn, query, False, 4490)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    points = query.collection.layer.geometry == "Point"
    writer.writerow([*_headers(query), "经度", "纬度", *([] if points else ["WKT"])])
    width = len(query.selected) + 1
    for row in rows:
        values = [_cell(v) for v in row[:width]]
        lon_lat = [round(row[width], 9), round(row[width + 1], 9)]
        writer.writerow([*values, *lon_lat, *([] if points else [safe_cell(row[width + 2])])])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx(conn: Connection, query: ItemsQuery) -> bytes:
    rows = _rows(conn, query, False, 4490)
    book = Workbook(write_only=True)
    sheet = book.create_sheet(query.collection.title[:31])
    sheet.append([*_headers(query), "经度", "纬度"])
    width = len(query.selected) + 1
    for row in rows:
        cells = [_cell(v) for v in row[:width]]
        sheet.append([*[c.replace(tzinfo=None) if isinstance(c, datetime) else c
                        for c in cells], row[width], row[width + 1]])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _gpkg(conn: Connection, query: ItemsQuery, crs: OgcCRS) -> bytes:
    rows = _rows(conn, query, True, crs.srid)
    width = len(query.selected) + 1
    names = ["id", *(p.name for p in query.selected)]
    records = [{n: _gpkg_value(v) for n, v in zip(names, row[:width], strict=True)}
               for row in rows]
    geoms: list[Any] = list(shapely.from_wkb([bytes(row[-1]) for row in rows])) if rows else []
    frame = gpd.GeoDataFrame(records, columns=names, geometry=geoms,
                             crs=f"EPSG:{crs.srid}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "download.gpkg"
        geometry_type = "Unknown" if query.collection.layer.geometry == "Geometry" else None
        # GeoPackage 1.2: GDAL 3.12 writes 1.4 by default, which older GDAL (3.6) and
        # QGIS 3.22 open only with a warning.
        frame.to_file(path, layer=query.collection.id, driver="GPKG", engine="pyogrio",
                      geometry_type=geometry_type, dataset_options={"VERSION": GPKG_VERSION})
        return path.read_bytes()


def _gpkg_value(value: Any) -> Any:
    if isinstance(value, list | dict | datetime):
        return _plain(value)
    return value


def download(conn: Connection, query: ItemsQuery, fmt: str) -> tuple[bytes, str, str]:
    """(body, media type, file name) of the whole selection in `fmt`."""
    if fmt not in FORMATS:
        raise DownloadError(f"format: {fmt!r} is not offered; use {', '.join(FORMATS)}")
    media, ext = FORMATS[fmt]
    name = f"{query.collection.id}.{ext}"
    if fmt == "geojson":
        stmt = (select(feature_json(query)).select_from(query.collection.table)
                .where(query.where()).order_by(*query.order)
                .limit(MAX_ROWS + 1))
        feats = list(conn.execute(stmt).scalars())
        if len(feats) > MAX_ROWS:
            raise DownloadError(f"the selection has more than {MAX_ROWS} features")
        body = '{"type":"FeatureCollection","features":[' + ",".join(feats) + "]}"
        return body.encode(), media, name
    if fmt == "csv":
        return _csv(conn, query), media, name
    if fmt == "xlsx":
        return _xlsx(conn, query), media, name
    gpkg_crs = query.crs if query.crs.srid != 4490 else CRS84
    return _gpkg(conn, replace(query, crs=gpkg_crs), gpkg_crs), media, name
