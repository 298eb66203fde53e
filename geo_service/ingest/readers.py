"""Read a bureau's file (GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX) into rows."""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo_service.errors import InputFileError
from geo_service.spreadsheets import read_cell

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb"}
TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
SUPPORTED = sorted(VECTOR_SUFFIXES | TABLE_SUFFIXES)
_CSV_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass
class SourceTable:
    """The rows of a file: attribute strings, per-row geometry (if a vector file), labels."""

    frame: pd.DataFrame
    geometries: list[BaseGeometry | None] | None
    labels: list[str]
    file_crs: str | None
    sha256: str
    is_tabular: bool


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_source(path: Path, sheet: str | None = None) -> SourceTable:
    """Read any supported file; every attribute comes back as a string (or '')."""
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in VECTOR_SUFFIXES | TABLE_SUFFIXES:
        raise InputFileError(
            f"{path.name}: unsupported file type {suffix or '(none)'}; "
            f"use one of {', '.join(SUPPORTED)}"
        )
    sha = file_sha256(path)
    if suffix in TABLE_SUFFIXES:
        frame = _read_table(path, sheet)
        labels = [f"row {i + 2}" for i in range(len(frame))]
        return SourceTable(frame, None, labels, None, sha, is_tabular=True)
    return _read_vector(path, sha)


def _read_table(path: Path, sheet: str | None) -> pd.DataFrame:
    """CSV (UTF-8 or GB18030) or an Excel sheet, all cells as stripped strings (the
    apostrophe our exports put before formula-like text is taken off)."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        try:
            frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=str, keep_default_na=False)
        except ValueError as exc:
            raise InputFileError(f"{path.name}: {exc}") from exc
        except Exception as exc:  # openpyxl raises many types for a broken workbook
            raise InputFileError(f"{path.name}: not a readable Excel workbook ({exc})") from exc
    else:
        frame = None
        for encoding in _CSV_ENCODINGS:
            try:
                frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding,
                                    skipinitialspace=True)
                break
            except UnicodeDecodeError:
                continue
            except pd.errors.ParserError as exc:
                raise InputFileError(f"{path.name}: not a readable CSV ({exc})") from exc
            except pd.errors.EmptyDataError as exc:
                raise InputFileError(f"{path.name}: the file is empty") from exc
        if frame is None:
            raise InputFileError(f"{path.name}: text is neither UTF-8 nor GB18030")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.map(lambda v: read_cell(str(v).strip()) if v is not None else "")


def _vector_target(path: Path) -> str:
    """The GDAL path of a vector file; a .zip must hold exactly one shapefile or GeoPackage."""
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX")]
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{path.name}: not a valid zip archive") from exc
    layers = [n for n in names if n.lower().endswith((".shp", ".gpkg", ".geojson"))]
    if len(layers) != 1:
        raise InputFileError(
            f"{path.name}: the zip must hold exactly one .shp (with .dbf/.shx/.prj), "
            f"found {len(layers)}: {', '.join(layers) or 'none'}"
        )
    if layers[0].lower().endswith(".shp"):
        stem = layers[0][:-4]
        missing = [ext for ext in (".dbf", ".shx") if not any(
            n.lower() == (stem + ext).lower() for n in names)]
        if missing:
            raise InputFileError(f"{path.name}: {layers[0]} lacks {', '.join(missing)}")
    return f"/vsizip/{path}/{layers[0]}"


def _read_vector(path: Path, sha: str) -> SourceTable:
    """A GDAL-readable vector file via pyogrio."""
    import pyogrio

    target = _vector_target(path)
    try:
        info = pyogrio.read_info(target)
        try:
            table = pyogrio.read_dataframe(target)
        except UnicodeDecodeError:  # a shapefile in GBK without a .cpg saying so
            table = pyogrio.read_dataframe(target, encoding="gb18030")
    except Exception as exc:  # GDAL errors come as several exception types
        raise InputFileError(f"{path.name}: cannot read as a vector layer ({exc})") from exc
    crs = info.get("crs")
    geometries = [None if g is None or (isinstance(g, float) and math.isnan(g)) else g
                  for g in table.geometry]
    frame = pd.DataFrame(table.drop(columns=table.geometry.name))
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.map(_cell_text)
    labels = [f"feature {i + 1}" for i in range(len(frame))]
    return SourceTable(frame, geometries, labels, crs, sha, is_tabular=False)


def _cell_text(value: object) -> str:
    """A vector attribute as text ('' for null/NaN), integers without '.0'."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer():
            return str(int(value))
    if isinstance(value, (list, dict, tuple)) or type(value).__name__ == "ndarray":
        return json.dumps(value.tolist() if hasattr(value, "tolist") else value,
                          ensure_ascii=False)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def parse_wkt(text: str) -> BaseGeometry:
    """Geometry from WKT text (raises ValueError with GEOS's reason)."""
    try:
        return shapely.from_wkt(text)
    except shapely.errors.GEOSException as exc:
        raise ValueError(str(exc)) from exc
