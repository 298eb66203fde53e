"""Read a bureau's file (GeoJSON, GeoPackage, Shapefile, KML/KMZ, CSV, XLSX) into rows."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import struct
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo_service.errors import InputFileError
from geo_service.spreadsheets import read_cell

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml", ".kmz",
                   ".pbf"}  # .pbf: OpenStreetMap extracts (roads)
TABLE_SUFFIXES = {".csv", ".txt", ".xlsx", ".xlsm"}
SUPPORTED = sorted(VECTOR_SUFFIXES | TABLE_SUFFIXES)
_CSV_ENCODINGS = ("utf-8-sig", "gb18030")
HEADER_SCAN_ROWS = 20
_TOTAL_WORDS = ("合计", "总计", "小计", "共计", "累计")
_TOTAL_FIRST = re.compile("[" + "".join(sorted({word[0] for word in _TOTAL_WORDS})) + "]")
_UNIT_BRACKETS = re.compile(r"[(\[【〔][^()\[\]【】〔〕]*[)\]】〕]")
HeaderScore = Callable[[str], bool]
_KML_NAMES = {"name": "名称", "description": "描述"}
_KML_STYLE = {"timestamp", "begin", "end", "altitudemode", "tessellate", "extrude", "visibility",
              "draworder", "icon", "snippet"}


@dataclass
class SourceTable:
    """The rows of a file: attribute strings, per-row geometry (if a vector file), labels."""

    frame: pd.DataFrame
    geometries: list[BaseGeometry | None] | None
    labels: list[str]
    file_crs: str | None
    sha256: str
    is_tabular: bool
    notes: list[str] = field(default_factory=list)
    is_extract: bool = False  # a regional extract: features outside the district are left out


def normalise_header(text: str) -> str:
    """A header as compared with aliases: half-width, no spaces, no bracketed unit, lower case.

    `床位数（张）` → `床位数`, `位置精度(illustrative = 示意)` → `位置精度`, `Ｎａｍｅ` → `name`.
    """
    cleaned = unicodedata.normalize("NFKC", str(text))
    cleaned = re.sub(r"\s+", "", cleaned)
    stripped = _UNIT_BRACKETS.sub("", cleaned)
    return (stripped or cleaned).lower()


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_source(
    path: Path,
    sheet: str | None = None,
    *,
    layer: str | None = None,
    header_row: int | None = None,
    is_header: HeaderScore | None = None,
) -> SourceTable:
    """Read any supported file; every attribute comes back as a string (or '')."""
    if not path.exists():
        raise InputFileError(f"{path}：文件不存在")
    suffix = path.suffix.lower()
    if suffix not in VECTOR_SUFFIXES | TABLE_SUFFIXES:
        raise InputFileError(
            f"{path.name}：不支持的文件类型 {suffix or '（无扩展名）'}；"
            f"可用的类型：{'、'.join(SUPPORTED)}"
        )
    sha = file_sha256(path)
    if suffix in TABLE_SUFFIXES:
        grid = _xlsx_grid(path, sheet) if suffix in {".xlsx", ".xlsm"} else _csv_grid(path)
        return _table_from_grid(grid, path.name, sha, header_row, is_header or (lambda _: False))
    if suffix == ".pbf":
        from geo_service.network.osm import read_osm_pbf

        return read_osm_pbf(path, sha)
    return _read_vector(path, sha, layer)


# ---------------------------------------------------------------- tables (CSV, XLSX)

def _csv_grid(path: Path) -> list[list[str]]:
    """The cells of a CSV file (UTF-8 or GB18030)."""
    data = path.read_bytes()
    for encoding in _CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InputFileError(f"{path.name}：文字编码既不是 UTF-8 也不是 GB18030")
    try:
        rows = csv.reader(io.StringIO(text))
        if "'" not in text:  # nothing for read_cell to take off: the common, faster case
            return [list(map(str.strip, row)) for row in rows]
        return [[read_cell(cell.strip()) for cell in row] for row in rows]
    except csv.Error as exc:
        raise InputFileError(f"{path.name}：不是可读的 CSV 文件（{exc}）") from exc


def _xlsx_text(value: object) -> str:
    """An Excel cell as text: whole numbers without '.0', dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return read_cell(str(value).strip())  # our exports' apostrophe before "=…" comes off


def _xlsx_grid(path: Path, sheet: str | None) -> list[list[str]]:
    """The cells of one sheet, merged cells filled with their value (an empty sheet is an error)."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise InputFileError(f"{path.name}：不是可读的 Excel 工作簿（{exc}）") from exc
    names = book.sheetnames
    if sheet is not None and sheet not in names:
        raise InputFileError(f"{path.name}：没有名为「{sheet}」的工作表；"
                             f"工作表有：{_sheet_list(book)}")
    ws = book[sheet] if sheet is not None else book[names[0]]
    grid = [[_xlsx_text(v) for v in row] for row in ws.iter_rows(values_only=True)]
    for merged in ws.merged_cells.ranges:
        value = grid[merged.min_row - 1][merged.min_col - 1] if merged.min_row <= len(grid) else ""
        for r in range(merged.min_row - 1, min(merged.max_row, len(grid))):
            for c in range(merged.min_col - 1, min(merged.max_col, len(grid[r]))):
                grid[r][c] = value
    if not any(any(cell for cell in row) for row in grid):
        raise InputFileError(f"{path.name}：工作表「{ws.title}」是空的；工作表有："
                             f"{_sheet_list(book)}；用 --sheet 选择有数据的工作表")
    return grid


def _sheet_list(book) -> str:
    """The sheets of a workbook with how many filled rows each has."""
    parts = []
    for ws in book.worksheets:
        filled = sum(1 for row in ws.iter_rows(values_only=True)
                     if any(v not in (None, "") for v in row))
        parts.append(f"{ws.title}（{filled} 行）")
    return "、".join(parts)


def _pick_header(grid: list[list[str]], header_row: int | None, is_header: HeaderScore,
                 name: str) -> int:
    """Index of the header row: given (1-based), else the early row with most known headers."""
    if header_row is not None:
        if not 1 <= header_row <= len(grid):
            raise InputFileError(f"{name}：--header-row {header_row} 超出范围（文件共 "
                                 f"{len(grid)} 行）")
        return header_row - 1
    best, best_score = None, 0
    for index, row in enumerate(grid[:HEADER_SCAN_ROWS]):
        score = sum(1 for cell in row if cell and is_header(cell))
        if score > best_score:
            best, best_score = index, score
    if best is not None:
        return best
    return next((i for i, row in enumerate(grid) if any(row)), 0)


def is_total_row(cells: list[str]) -> str | None:
    """The word (合计/总计/小计…) if the row's first filled cells say it is a total row."""
    filled = [c for c in cells if c][:3]
    if not _TOTAL_FIRST.search("".join(filled)):
        return None  # the common case: no total word can start in these cells
    for cell in filled:
        squeezed = re.sub(r"\s+", "", cell)
        for word in _TOTAL_WORDS:
            if squeezed == word or re.fullmatch(word + r"[:：(（].*", squeezed):
                return word
    return None


def _table_from_grid(grid: list[list[str]], name: str, sha: str, header_row: int | None,
                     is_header: HeaderScore) -> SourceTable:
    """Rows under the detected header; blank rows dropped, total rows skipped with a note."""
    if not any(any(row) for row in grid):
        raise InputFileError(f"{name}：文件是空的")
    top = _pick_header(grid, header_row, is_header, name)
    notes: list[str] = []
    if top > 0:
        above = "；".join(" ".join(c for c in row if c) for row in grid[:top] if any(row))
        notes.append(f"表头在第 {top + 1} 行；上方的内容（{above}）不是数据，已跳过")
    width = max(len(row) for row in grid[top:])
    header = list(grid[top]) + [""] * (width - len(grid[top]))
    rows: list[list[str]] = []
    labels: list[str] = []
    totals: list[str] = []
    for number, row in enumerate(grid[top + 1:], start=top + 2):
        joined = "".join(row)
        if not joined:
            continue
        cells = row if len(row) == width else list(row) + [""] * (width - len(row))
        word = is_total_row(cells) if _TOTAL_FIRST.search(joined) else None
        if word:
            totals.append(f"第 {number} 行（{word}）")
            continue
        rows.append(cells)
        labels.append(f"第 {number} 行")
    if totals:
        notes.append(f"合计行不是设施，已跳过：{'、'.join(totals)}")
    columns = [[row[i] for row in rows] for i in range(width)]
    used = [i for i in range(width) if header[i] or any(columns[i])]
    names: list[str] = []
    for i in used:
        base = header[i] or f"第{i + 1}列"
        label, n = base, 2
        while label in names:
            label, n = f"{base}_{n}", n + 1
        names.append(label)
    frame = pd.DataFrame({name: pd.Series(columns[i], dtype=object)
                          for name, i in zip(names, used, strict=True)},
                         columns=names, dtype=object)
    if len(frame) == 0:
        raise InputFileError(f"{name}：表头（第 {top + 1} 行）下面没有数据行")
    return SourceTable(frame, None, labels, None, sha, is_tabular=True, notes=notes)


# ---------------------------------------------------------------- vector files

def _vector_target(path: Path) -> str:
    """The GDAL path of a vector file; a .zip must hold exactly one shapefile or GeoPackage."""
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.startswith("__MACOSX")]
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{path.name}：不是有效的 zip 压缩包") from exc
    layers = [n for n in names if n.lower().endswith((".shp", ".gpkg", ".geojson", ".kml"))]
    if len(layers) != 1:
        raise InputFileError(
            f"{path.name}：压缩包里应正好有一个 .shp（带 .dbf/.shx/.prj），"
            f"找到 {len(layers)} 个：{'、'.join(layers) or '无'}"
        )
    if layers[0].lower().endswith(".shp"):
        stem = layers[0][:-4]
        missing = [ext for ext in (".dbf", ".shx") if not any(
            n.lower() == (stem + ext).lower() for n in names)]
        if missing:
            raise InputFileError(f"{path.name}：{layers[0]} 缺少 {'、'.join(missing)}")
    return f"/vsizip/{path}/{layers[0]}"


def _shapefile_parts(path: Path) -> tuple[bytes | None, bool]:
    """(the .dbf bytes, whether a .cpg names the encoding) of a shapefile, plain or zipped."""
    suffix = path.suffix.lower()
    if suffix == ".shp":
        dbf = next((p for p in path.parent.glob(path.stem + ".*") if p.suffix.lower() == ".dbf"),
                   None)
        cpg = any(p.suffix.lower() == ".cpg" for p in path.parent.glob(path.stem + ".*"))
        return (dbf.read_bytes() if dbf else None), cpg
    if suffix != ".zip":
        return None, False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        shp = [n for n in names if n.lower().endswith(".shp")]
        if not shp:
            return None, False
        stem = shp[0][:-4].lower()
        member = next((n for n in names if n.lower() == stem + ".dbf"), None)
        has_cpg = any(n.lower() == stem + ".cpg" for n in names)
        return (archive.read(member) if member else None), has_cpg


def dbf_text_encoding(dbf: bytes) -> str | None:
    """GB18030 when a DBF without a code page (language byte 0) holds text that is not UTF-8."""
    if len(dbf) < 32 or dbf[29] != 0:
        return None  # the language byte names the code page: GDAL honours it
    header_len, record_len = struct.unpack("<HH", dbf[8:12])
    texts: list[bytes] = []
    offset, start = 32, 1
    spans = []
    while offset + 32 <= header_len and dbf[offset] != 0x0D:
        descriptor = dbf[offset:offset + 32]
        texts.append(descriptor[:11].split(b"\0")[0])
        length = descriptor[16]
        if descriptor[11:12] == b"C":
            spans.append((start, start + length))
        start += length
        offset += 32
    body = dbf[header_len:]
    for at in range(0, len(body) - record_len + 1, record_len):
        record = body[at:at + record_len]
        texts.extend(record[a:b] for a, b in spans)
    blob = b"\n".join(texts)
    try:
        blob.decode("utf-8")
    except UnicodeDecodeError:
        return "GB18030"
    return None


def _vector_layers(path: Path, target: str, layer: str | None) -> list[str | None]:
    """The layers to read: the chosen one, every KML folder, or the only one."""
    import pyogrio

    try:
        found = [str(name) for name, _ in pyogrio.list_layers(target)]
    except Exception as exc:  # GDAL errors come as several exception types
        raise InputFileError(f"{path.name}：无法作为矢量图层读取（{exc}）") from exc
    if layer is not None:
        if layer not in found:
            raise InputFileError(f"{path.name}：没有名为「{layer}」的图层；图层有："
                                 f"{'、'.join(found)}")
        return [layer]
    if path.suffix.lower() in {".kml", ".kmz"}:
        return list(found)
    if len(found) > 1:
        raise InputFileError(f"{path.name}：文件里有 {len(found)} 个图层（{'、'.join(found)}），"
                             "用 --layer 选择要导入的一个")
    return [None]


def _read_vector(path: Path, sha: str, layer: str | None) -> SourceTable:
    """A GDAL-readable vector file via pyogrio (KML folders become a 文件夹 column)."""
    import pyogrio

    target = _vector_target(path)
    notes: list[str] = []
    encoding = None
    if path.suffix.lower() in {".shp", ".zip"}:
        dbf, has_cpg = _shapefile_parts(path)
        if dbf is not None and not has_cpg:
            encoding = dbf_text_encoding(dbf)
            if encoding:
                notes.append("Shapefile 没有 .cpg 编码说明，文字不是 UTF-8：按 GB18030（GBK）读取")
    is_kml = path.suffix.lower() in {".kml", ".kmz"} or target.lower().endswith(".kml")
    frames: list[pd.DataFrame] = []
    geometries: list[BaseGeometry | None] = []
    crs = None
    chosen = _vector_layers(path, target, layer)
    for name in chosen:
        try:
            info = pyogrio.read_info(target, layer=name)
            table = pyogrio.read_dataframe(target, layer=name, encoding=encoding)
        except Exception as exc:  # GDAL errors come as several exception types
            raise InputFileError(f"{path.name}：无法作为矢量图层读取（{exc}）") from exc
        crs = crs or info.get("crs")
        if len(table) == 0:
            continue
        geometries += [None if g is None or (isinstance(g, float) and math.isnan(g))
                       else shapely.force_2d(g) for g in table.geometry]
        frame = pd.DataFrame(table.drop(columns=table.geometry.name))
        if is_kml:
            frame = frame.rename(columns=lambda c: _KML_NAMES.get(str(c).lower(), c))
            frame = frame[[c for c in frame.columns
                           if str(c).lower() not in _KML_STYLE and frame[c].notna().any()]]
            if len(chosen) > 1:
                frame["文件夹"] = name
        frames.append(frame)
    if not frames:
        raise InputFileError(f"{path.name}：文件里没有要素")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.map(_cell_text)
    labels = [f"第 {i + 1} 个要素" for i in range(len(frame))]
    return SourceTable(frame, geometries, labels, crs, sha, is_tabular=False, notes=notes)


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
