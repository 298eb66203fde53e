"""The planners' XLSX workbook: summary, townships, units, uncovered, gaps, radii, indicators."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font

from geo_service.coverage.service import CoverageResult
from geo_service.spreadsheets import safe_row


def _sheet(wb: Workbook, title: str, headers: list[str], rows: list[list]) -> None:
    ws = wb.create_sheet(title)
    ws.append(safe_row(list(headers)))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(safe_row(r))
    ws.freeze_panes = "A2"
    for col, h in zip(ws.columns, headers, strict=False):
        width = max([len(str(h)), *(len(str(c.value or "")) for c in col[:200])])
        ws.column_dimensions[col[0].column_letter].width = min(40, width + 2)


def write_workbook(result: CoverageResult, path: Path, indicators: dict | None = None) -> Path:
    """Write the analysis as an .xlsx planners can forward."""
    wb = Workbook()
    wb.remove(wb.active)
    w = result.weight
    meta = result.metadata()
    d = result.district
    _sheet(wb, "摘要 summary", ["item", "value"], [
        ["district", f"{d['name']} {d['code']}"], ["layer", meta["layer"]],
        ["kinds", "、".join(meta["kinds"])], ["distance", meta["distance_model"]],
        ["units", d["units"]], ["covered units", d["covered_units"]],
        ["uncovered units", d["uncovered_units"]], [w, d[w]], [f"covered {w}", d[f"covered_{w}"]],
        ["coverage share", d["coverage_share"]], ["sites used", meta["sites_used"]],
        ["what-if added", meta["whatif_added"]],
        ["what-if removed", ", ".join(meta["whatif_removed"])],
        ["note", meta.get("note", "")]])
    _sheet(wb, "镇街 townships",
           ["code", "name", "units", "covered_units", "uncovered_units", w, f"covered_{w}",
            "coverage_share"],
           [[t["code"], t["name"], t["units"], t["covered_units"], t["uncovered_units"], t[w],
             t[f"covered_{w}"], t["coverage_share"]] for t in result.townships])
    recs = result.unit_records()
    cols = list(recs[0]) if recs else []
    _sheet(wb, "村社区 units", cols, [[r[c] for c in cols] for r in recs])
    _sheet(wb, "未覆盖 uncovered", ["rank", "code", "name", "township", w, "nearest_distance_m"],
           [[i + 1, r.code, r.name, r.township, int(getattr(r, w)), r.nearest_distance_m]
            for i, r in enumerate(result.uncovered().itertuples())])
    _sheet(wb, "空白 gaps", ["rank", "area_km2", "township_codes", "wkt (EPSG:4490)"],
           [[i + 1, g["area_km2"], ", ".join(g["township_codes"]),
             g["geometry"].wkt if len(g["geometry"].wkt) < 32000 else "(too long for a cell)"]
            for i, g in enumerate(result.gaps)])
    _sheet(wb, "半径 radii", ["kind", "rule", "urban_m", "rural_m", "source"],
           [[r.kind, r.rule, r.urban_m, r.rural_m, r.source] for r in result.rules.values()])
    if indicators:
        _sheet(wb, "指标 indicators", ["scope", "code", "indicator", "value", "target", "compare",
                                       "status"],
               [[scope["name"], scope["code"], r["title"], r["value"], r["target"],
                 r["compare"], r["status"]]
                for scope in [indicators["district"], *indicators["townships"]]
                for r in scope["indicators"]])
    path = Path(path)
    wb.save(path)
    return path
