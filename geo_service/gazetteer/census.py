"""The place-name census's tabular layout (地名普查成果表): Excel with Chinese headers.

Export writes every column the loader reads back (headers are aliases in
layers/catalogue.toml), so ``geo-service load place_names <export>.xlsx`` re-imports it
unchanged. Points go to 经度/纬度, lines and polygons to 几何 (WKT), all in CGCS2000.
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import Engine, text

from geo_service.access import ANONYMOUS, Principal
from geo_service.spreadsheets import safe_cell

# (header, column) in census order; the headers are the catalogue's aliases.
CENSUS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("编号", "external_id"),
    ("标准名称", "name"),
    ("罗马字母拼写", "pinyin"),
    ("地名代码", "code"),
    ("地名类别", "category"),
    ("类别代码", "category_code"),
    ("所在行政区划代码", "admin_code"),
    ("含义", "meaning"),
    ("来历", "origin"),
    ("历史沿革", "history"),
    ("曾用名", "aliases"),
    ("历史地名保护名录", "historic_list"),
    ("批次", "historic_batch"),
    ("公布年份", "historic_year"),
    ("保护类别", "historic_category"),
    ("入选标准", "historic_criteria"),
    ("保护措施", "protection_measures"),
    ("是否仍在使用", "still_in_use"),
    ("经度", "lon"),
    ("纬度", "lat"),
    ("几何", "wkt"),
    ("位置精度", "geometry_accuracy"),
    ("来源", "source"),
    ("是否公开", "is_public"),
)
_NOTES = (
    "大足区标准地名和历史地名保护名录 (geo_service 导出)",
    "坐标系: CGCS2000 (EPSG:4490), 经度/纬度为点位, 线和面见“几何”(WKT)",
    "曾用名: JSON 数组, 每项 name, type (former=曾用名, alias=别名), from_year, to_year",
    "位置精度 illustrative 表示示意位置(非实测); 重新导入: geo-service load place_names 本文件",
)


def export_rows(engine: Engine, principal: Principal = ANONYMOUS) -> list[dict]:
    """Place-name records in census order (public ones only for the anonymous caller)."""
    visible = "true" if principal.sees_private else "is_public"
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT *, CASE WHEN GeometryType(geom) = 'POINT' THEN ST_X(geom) END AS lon, "
            "CASE WHEN GeometryType(geom) = 'POINT' THEN ST_Y(geom) END AS lat, "
            "CASE WHEN GeometryType(geom) <> 'POINT' THEN ST_AsText(geom) END AS wkt "
            f"FROM place_names WHERE {visible} ORDER BY admin_code NULLS LAST, code, id"
        )).mappings().all()
    return [dict(row) for row in rows]


def _cell(column: str, value: object) -> object:
    """A database value as the census sheet writes it (formula-like text made safe)."""
    if value is None:
        return None
    if column == "aliases":
        return safe_cell(json.dumps(value, ensure_ascii=False)) if value else None
    if isinstance(value, bool):
        return "是" if value else "否"
    return safe_cell(value)


def write_xlsx(rows: list[dict], target: Path | BinaryIO) -> int:
    """Write the census sheet (地名) and a notes sheet (说明); returns the row count."""
    book = Workbook()
    book.remove(book.worksheets[0])
    sheet = book.create_sheet("地名")
    sheet.append([header for header, _ in CENSUS_COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append([_cell(column, row.get(column)) for _, column in CENSUS_COLUMNS])
    sheet.freeze_panes = "C2"
    notes = book.create_sheet("说明")
    for line in _NOTES:
        notes.append([line])
    book.save(target)
    return len(rows)


def export_xlsx_bytes(engine: Engine, principal: Principal = ANONYMOUS) -> bytes:
    """The census workbook as bytes (for HTTP downloads)."""
    buffer = BytesIO()
    write_xlsx(export_rows(engine, principal), buffer)
    return buffer.getvalue()
