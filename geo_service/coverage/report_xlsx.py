"""The planners' XLSX workbook in Chinese: 摘要 (parameters first), 镇街, 村(社区), 未覆盖 ….

Shares are stored as exact ratios with a percentage format (Excel shows 51.9%, the cell
holds 14/27); booleans are 是/否; distances are whole metres; text from the data is never a
formula.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from geo_service.coverage.labels import (
    COVERED_BY_TITLES,
    DECAY_TITLES,
    GAP_REPORT_MIN_KM2,
    ILLUSTRATIVE_NOTE_ZH,
    RADIUS_BY_TITLES,
    RULE_TITLES,
    STATUS_TITLES,
    distance_title,
    layer_title,
    weight_title,
    whole,
    yes_no,
)
from geo_service.coverage.service import CoverageResult
from geo_service.spreadsheets import safe_row

PCT = "0.0%"
MAX_WIDTH = 60
Cell = Any  # a value openpyxl writes (text, number or empty)


def display_width(text: str) -> int:
    """Columns a text takes: CJK and full-width characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet(wb: Workbook, title: str, headers: list[str], rows: list[list[Cell]],
           formats: dict[int, str] | None = None, wrap: set[int] | None = None) -> Worksheet:
    ws = wb.create_sheet(title)
    ws.append(safe_row(list(headers)))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF4")
    for r in rows:
        ws.append(safe_row(r))
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            fmt = (formats or {}).get(cell.column - 1)
            if fmt and isinstance(cell.value, int | float):
                cell.number_format = fmt
            if cell.column - 1 in (wrap or set()):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A2"
    for i, col in enumerate(ws.columns):
        values = [str(c.value) for c in col[:300] if c.value is not None]
        if (formats or {}).get(i) == PCT:
            values = [v if len(v) < 8 else "100.0%" for v in values]
        width = max([display_width(v) for v in values] + [display_width(headers[i])])
        ws.column_dimensions[col[0].column_letter].width = min(MAX_WIDTH, width + 2)
    return ws


def _summary_rows(result: CoverageResult) -> list[list[Cell]]:
    meta = result.metadata()
    d = result.district
    w = result.weight
    wt = weight_title(w)
    changes = meta["whatif"]
    added = "；".join(f"{a['name']}({a['kind']}，经度 {a['lon']:.6f}，纬度 {a['lat']:.6f}"
                     + (f"，半径 {a['radius_m']:.0f} 米" if a["radius_m"] else "") + ")"
                     for a in changes["added"]) or "无"
    removed = "；".join(f"{r['id']} {r['name']}({r['kind']})" for r in changes["removed"]) or "无"
    access = result.request.access
    as_of = result.study.data_as_of
    rows: list[list[Cell]] = [
        ["行政区", f"{d['name']}({d['code']})"],
        ["设施图层", layer_title(meta["layer"])],
        ["参与分析的设施类型", "、".join(meta["kinds"])],
        ["是否计入在建设施", yes_no(meta["include_under_construction"])],
        ["需求指标", wt],
        ["距离算法", distance_title(meta["distance_model"])],
        ["服务半径取值规则", RADIUS_BY_TITLES.get(meta["radius_by"], meta["radius_by"])],
        ["取值规则依据", meta["radius_by_source"]],
        ["村(社区)数", d["units"]], ["已覆盖村(社区)数", d["covered_units"]],
        ["未覆盖村(社区)数", d["uncovered_units"]],
        [f"{wt}(人)", d[w]], [f"已覆盖{wt}(人)", d[f"covered_{w}"]],
        [f"{wt}覆盖率", d["coverage_share"]],
        ["参与计算的设施数", meta["sites_used"]],
        ["假设新增设施", added], ["假设撤除设施", removed],
        ["可达性(两步移动搜索法 2SFCA)",
         "未计算" if access is None else f"每千名{wt}拥有的床位数"],
    ]
    if access is not None:
        rows += [["2SFCA 集水半径(米)", whole(access.catchment_m)],
                 ["2SFCA 距离衰减", DECAY_TITLES.get(access.decay, access.decay)]]
    rows += [
        ["覆盖空白", f"列出面积不小于 {GAP_REPORT_MIN_KM2:g} 平方公里的空白区"],
        ["数据更新至", as_of.astimezone().strftime("%Y-%m-%d %H:%M") if as_of else "—"],
        ["生成时间", datetime.now().strftime("%Y-%m-%d %H:%M")],
    ]
    if meta.get("illustrative"):
        rows.append(["说明", ILLUSTRATIVE_NOTE_ZH])
    return rows


def write_workbook(result: CoverageResult, path: Path, indicators: dict | None = None) -> Path:
    """Write the analysis as a Chinese .xlsx planners can forward."""
    wb = Workbook()
    for sheet in list(wb.worksheets):
        wb.remove(sheet)
    w = result.weight
    wt = weight_title(w)
    summary = _summary_rows(result)
    share_row = next(i for i, r in enumerate(summary) if r[0] == f"{wt}覆盖率")
    ws = _sheet(wb, "摘要", ["项目", "内容"], summary, wrap={1})
    ws.cell(row=share_row + 2, column=2).number_format = PCT
    ws.column_dimensions["B"].width = MAX_WIDTH + 20
    _sheet(wb, "镇街",
           ["镇街", "区划代码", "村(社区)数", "已覆盖村(社区)数", "未覆盖村(社区)数", f"{wt}(人)",
            f"已覆盖{wt}(人)", "覆盖率"],
           [[t["name"], t["code"], t["units"], t["covered_units"], t["uncovered_units"], t[w],
             t[f"covered_{w}"], t["coverage_share"]] for t in result.townships],
           formats={7: PCT})
    has_access = "access" in result.units
    headers = ["区划代码", "村(社区)", "所属镇街", "城乡", "经度", "纬度", "常住人口",
               "60岁及以上人口", "0–17岁人口", "最近设施编号", "最近设施", "最近设施类型",
               "到最近设施距离(米)", "是否覆盖", "覆盖方式"]
    if has_access:
        headers.append(f"可达性(每千名{wt}床位数)")
    rows: list[list[Cell]] = []
    for r in result.units.to_dict("records"):
        row: list[Cell] = [
            r["code"], r["name"], r["township"], "城镇" if r["urban"] else "农村",
            round(r["lon"], 6), round(r["lat"], 6), int(r["population"]),
            int(r["population_60plus"]), int(r["population_0_17"]), r["nearest_id"],
            r["nearest_name"], r["nearest_kind"], whole(r["nearest_distance_m"]),
            yes_no(r["covered"]),
            COVERED_BY_TITLES.get(r["covered_by"], "未覆盖") if r["covered"] else "未覆盖"]
        if has_access:
            row.append(round(float(r["access"]), 2))
        rows.append(row)
    _sheet(wb, "村(社区)", headers, rows, formats={12: "0", 15: "0.00"})
    _sheet(wb, "未覆盖", ["序号", "区划代码", "村(社区)", "所属镇街", f"{wt}(人)", "最近设施",
                       "到最近设施距离(米)"],
           [[i + 1, r.code, r.name, r.township, int(getattr(r, w)), r.nearest_name,
             whole(float(r.nearest_distance_m))]  # type: ignore[arg-type]
            for i, r in enumerate(result.uncovered().itertuples())])
    towns = dict(zip(result.study.townships.code, result.study.townships.name, strict=True))
    gaps = [g for g in result.gaps if g["area_km2"] >= GAP_REPORT_MIN_KM2]
    _sheet(wb, "覆盖空白", ["序号", "面积(平方公里)", "涉及镇街", "范围 WKT(EPSG:4490)"],
           [[i + 1, round(g["area_km2"], 2),
             "、".join(towns.get(c, c) for c in g["township_codes"]),
             g["geometry"].wkt if len(g["geometry"].wkt) < 32000 else "(范围过大，单元格放不下)"]
            for i, g in enumerate(gaps)], formats={1: "0.00"})
    _sheet(wb, "服务半径", ["设施类型", "规则", "城镇半径(米)", "农村半径(米)", "依据"],
           [[r.kind, RULE_TITLES.get(r.rule, r.rule), whole(r.urban_m), whole(r.rural_m),
             r.source] for r in result.rules.values()], wrap={4})
    if indicators:
        _indicator_sheet(wb, indicators)
    path = Path(path)
    wb.save(path)
    return path


def _indicator_sheet(wb: Workbook, indicators: dict) -> None:
    rows: list[list[Cell]] = []
    for scope in [indicators["district"], *indicators["townships"]]:
        for r in scope["indicators"]:
            share = r["unit"] == "share"
            value = r["value"]
            rows.append([scope["name"], scope["code"], r["title"],
                         value if share or value is None else round(value, 1),
                         r["target"], {">=": "不低于", "<=": "不高于"}.get(r["compare"], "—"),
                         STATUS_TITLES.get(r["status"], r["status"]),
                         "百分比" if share else r["unit"].replace("beds per 100 aged 60+",
                                                                "张/百名老年人")
                         .replace("beds", "张")])
    ws = _sheet(wb, "规划指标", ["范围", "区划代码", "指标", "现值", "2025年目标", "比较", "状态",
                             "单位"], rows)
    for row in ws.iter_rows(min_row=2):
        if row[7].value == "百分比":
            for c in (row[3], row[4]):
                if isinstance(c.value, int | float):
                    c.number_format = PCT
    for letter in "DE":  # exact ratios are long numbers but show as 51.9%
        ws.column_dimensions[letter].width = 12
