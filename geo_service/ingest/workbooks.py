"""Workbooks for data clerks: the rejected rows to fix and resend, and a layer's blank template."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from geo_service.catalog import catalogue
from geo_service.ingest.readers import SourceTable
from geo_service.ingest.rows import ACCURACY_ALIASES, Problem

ERROR_COLUMN = "错误原因"
_HEADER_FONT = Font(bold=True)
_ERROR_FILL = PatternFill("solid", fgColor="FFF2CC")


def _text_cell(sheet: Any, value: Any, **style: Any) -> Any:
    """A cell that is always plain text or a number, never a formula."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # '=…' from a file stays text
    for name, setting in style.items():
        setattr(cell, name, setting)
    return cell


def write_errors(path: Path, table: SourceTable, problems: list[Problem]) -> int:
    """The rejected rows with their original columns and a 错误原因 column; returns how many."""
    by_row: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        where = f"列「{problem.column}」：" if problem.column else ""
        by_row[problem.row].append(where + problem.message)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("错误行")
    headers = [str(c) for c in table.frame.columns]
    sheet.append([_text_cell(sheet, h, font=_HEADER_FONT) for h in [ERROR_COLUMN, "原行号",
                                                                      *headers]])
    rows = table.frame.to_dict("records")
    written = 0
    for label, row in zip(table.labels, rows, strict=True):
        if label not in by_row:
            continue
        reason = "；".join(by_row[label])
        sheet.append([_text_cell(sheet, reason, fill=_ERROR_FILL), _text_cell(sheet, label),
                      *[_text_cell(sheet, row[h]) for h in headers]])
        written += 1
    general = [m for r, ms in by_row.items() if r not in table.labels for m in ms]
    for message in general:
        sheet.append([_text_cell(sheet, message)])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return written


_TYPE_HELP = {
    "text": "文字", "code": "12 位统计用区划代码", "int": "整数", "float": "数字",
    "bool": "是/否", "text[]": "多项用顿号（、）分隔", "json": "多项用顿号（、）分隔",
    "date": "日期，如 2024-05-01",
}


def template_columns(layer_id: str) -> list[tuple[str, str]]:
    """(header, how to fill it) for every column the loader recognises for the layer."""
    cat = catalogue()
    layer = cat.layer(layer_id)
    first = {name: names[0] for name, names in cat.common_aliases.items()}
    columns: list[tuple[str, str]] = [
        (first["external_id"], "本单位的唯一编号；再次导入时按编号更新，不会重复"),
        (first["name"], "必填"),
    ]
    if layer.has_kind:
        columns.append((first["kind"], "必填，从下拉列表选择：" + "、".join(layer.kinds)))
    for spec in layer.fields:
        if spec.name in {"rep_lon", "rep_lat"}:
            continue
        how = _TYPE_HELP.get(spec.type, "")
        if spec.choices:
            how = "从下拉列表选择：" + "、".join(spec.choices)
        if spec.required:
            how = "必填；" + how
        if not spec.public:
            how += "（内部字段，不对公众公开）"
        columns.append((spec.aliases[0] if spec.aliases else spec.title, how))
    if layer.geometry == "Point":
        columns += [(first["lon"],
                     "CGCS2000 经度（度），如 105.7212；可写 105°43'16\"、东经105.72"),
                    (first["lat"], "CGCS2000 纬度（度），如 29.7075")]
    else:
        columns.append((first["wkt"], "WKT 几何（CGCS2000 经纬度）"))
    columns += [
        (first["is_public"], "是/否；不填为 是"),
        (first["geometry_accuracy"], "位置精度：" + "、".join(ACCURACY_ALIASES)),
        (first["source"], "数据来源（固定的名称，如 龙水镇民政办2024年报）"),
    ]
    return columns


def write_template(layer_id: str, out: Path | None = None) -> Path:
    """An XLSX with the layer's headers, a 填写说明 sheet and drop-down lists for kinds."""
    cat = catalogue()
    layer = cat.layer(layer_id)
    path = out or Path(f"{layer.title}导入模板.xlsx")
    columns = template_columns(layer_id)
    book = Workbook()
    sheet: Any = book.active
    sheet.title = layer.title[:31]
    for index, (header, _) in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=index, value=header)
        cell.font = _HEADER_FONT
        sheet.column_dimensions[cell.column_letter].width = max(10, len(header) * 2 + 4)
    sheet.freeze_panes = "A2"
    lists = book.create_sheet("选项")
    choices: dict[str, tuple[str, ...]] = {}
    if layer.has_kind:
        choices[cat.common_aliases["kind"][0]] = layer.kinds
    for spec in layer.fields:
        if spec.choices:
            choices[spec.aliases[0] if spec.aliases else spec.title] = spec.choices
    choices[cat.common_aliases["is_public"][0]] = ("是", "否")
    headers = [h for h, _ in columns]
    for list_index, (header, values) in enumerate(choices.items(), start=1):
        if header not in headers:
            continue
        lists.cell(row=1, column=list_index, value=header)
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=list_index, value=value)
        letter = get_column_letter(list_index)
        check = DataValidation(type="list", allow_blank=True,
                               formula1=f"=选项!${letter}$2:${letter}${len(values) + 1}",
                               error=f"请从列表中选择{header}", errorTitle="不在列表中",
                               showErrorMessage=True)
        target = get_column_letter(headers.index(header) + 1)
        check.add(f"{target}2:{target}5000")
        sheet.add_data_validation(check)
    guide = book.create_sheet("填写说明")
    guide.append(["列名", "填写说明"])
    for header, how in columns:
        guide.append([header, how])
    guide.append([])
    for line in (
        "第一行是表头，请不要改动列名；可以在表头上方加标题行，导入时会自动识别表头。",
        "合计、小计行和空行会被跳过；合并的单元格按其内容向下填充。",
        "不需要的列可以删除：文件里没有的列，库中的值保持不变。",
        "空着的单元格也保持库中原值不变；要清空请在导入时加 --clear-empty。",
        "先用 geo-service load 图层 文件 --dry-run 预览，再正式导入；"
        "导入有误可用 --undo 导入编号 撤销。",
    ):
        guide.append([line])
    guide.column_dimensions["A"].width = 18
    guide.column_dimensions["B"].width = 80
    for row in guide.iter_rows(min_row=1, max_row=1):
        for cell in row:
            cell.font = _HEADER_FONT
    for row in guide.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
