"""The planners' HTML report: summary, map, per-township chart and tables — fully offline."""

from __future__ import annotations

import html
from datetime import datetime

from geo_service.coverage.mapview import coverage_map_html
from geo_service.coverage.service import CoverageResult

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px}th{background:#f0f0f0}td.n{text-align:right}.note{background:#fff3cd;
padding:6px 10px;border:1px solid #e0c36a}.met{color:#1a7f37}.notmet{color:#b42318}
iframe.map{width:100%;height:620px;border:1px solid #aaa}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


WEIGHT_TITLES = {"population_60plus": "60岁及以上人口", "population_0_17": "0–17岁人口",
                 "population": "常住人口"}
RULE_TITLES = {"radius": "服务半径", "township": "本镇街全覆盖", "district": "全区覆盖"}
STATUS_TITLES = {"met": "达标", "not met": "未达标", "no data": "无数据", "info": "参考"}
ILLUSTRATIVE_NOTE_ZH = ("示意数据：本报告所用大足示例数据中的设施位置、镇街和村(社区)边界及人口"
                        "均为示意，并非实测或官方数据，不能据此作决策。")


def weight_title(weight: str) -> str:
    """The demand weight as a planner reads it (60岁及以上人口), else the column name."""
    return WEIGHT_TITLES.get(weight, weight)


def township_chart(townships: list[dict], weight: str, width: int = 760) -> str:
    """Inline SVG: one bar per township, covered vs uncovered demand, with the share."""
    row, label_w = 22, 110
    total = max((t[weight] for t in townships), default=0) or 1
    bar_w = width - label_w - 70
    parts = [f'<svg class="chart" width="{width}" height="{row * len(townships) + 10}" '
             f'role="img" aria-label="各镇街覆盖情况">']
    for i, t in enumerate(townships):
        y = 5 + i * row
        cov = t[f"covered_{weight}"] / total * bar_w
        unc = (t[weight] - t[f"covered_{weight}"]) / total * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f'{_e(t["name"])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{cov:.1f}" height="14" fill="#1a9850">'
            f'<title>{_e(t["name"])} 已覆盖 {t[f"covered_{weight}"]}</title></rect>'
            f'<rect x="{label_w + cov:.1f}" y="{y + 3}" width="{unc:.1f}" height="14" '
            f'fill="#d73027"><title>未覆盖 {t[weight] - t[f"covered_{weight}"]}</title></rect>'
            f'<text x="{label_w + cov + unc + 4:.1f}" y="{y + 14}" font-size="11">'
            f'{_pct(t["coverage_share"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_e(c)}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>"
            for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def indicator_table(indicators: dict) -> str:
    """The district's plan indicators with target and status."""
    rows = []
    for r in indicators["district"]["indicators"]:
        value = r["value"]
        shown = _pct(value) if r["unit"] == "share" else value
        target = ("—" if r["target"] is None else
                  f'{r["compare"]} {_pct(r["target"]) if r["unit"] == "share" else r["target"]}')
        rows.append([r["title"], shown, target, STATUS_TITLES.get(r["status"], r["status"])])
    return _table(["指标", "现值", "2025 年目标", "状态"], rows)


def network_section(result: CoverageResult) -> str:
    """Along-road analyses: mode, speeds, isochrone areas, islands and snapping (else '')."""
    net = result.network
    if not net:
        return ""
    mode = {"walk": "步行", "drive": "驾车"}.get(net["distance"], net["distance"])
    rows = [[f["properties"]["minutes"], f["properties"]["area_km2"]]
            for f in reversed((result.isochrones or {"features": []})["features"])]
    radius = (f"{net['minutes']:g} 分钟" if net["minutes"] is not None
              else "服务半径按沿道路的米数(步行速度换算为分钟)")
    warn = "".join(f'<p class="note">{_e(w)}</p>' for w in net["warnings"])
    return (f"<h2>沿道路的{mode}时间</h2><p>距离沿道路网计算({mode}); 服务半径: {_e(radius)}; "
            f"步行速度 {net['speeds']['walk_kmh']:g} 公里/小时(老年人)。村(社区)代表点到最近道路的"
            f"直线距离按步行速度计入(平均 {_e(net['snap_m']['mean'])} 米, 最大 "
            f"{_e(net['snap_m']['max'])} 米; 设施平均 {_e(net['site_snap_m']['mean'])} 米)。"
            "地图上蓝色由深到浅为 5/10/15 分钟等时圈"
            f"(道路两侧各 {net['isochrone_buffer_m']:g} 米)。</p>{warn}"
            + _table(["等时圈(分钟)", "面积(平方公里)"], rows))


def render_report(result: CoverageResult, indicators: dict | None = None,
                  suggestion: dict | None = None) -> str:
    """The whole report as one self-contained HTML page (no external assets)."""
    w = result.weight
    wt = weight_title(w)
    d = result.district
    kind, map_doc = coverage_map_html(result)
    map_html = (f'<iframe class="map" title="覆盖地图" srcdoc="{html.escape(map_doc)}">'
                "</iframe>" if kind == "leaflet" else map_doc)
    radii = _table(["设施类型", "规则", "城镇半径(米)", "农村半径(米)", "依据"],
                   [[r.kind, RULE_TITLES.get(r.rule, r.rule), r.urban_m or "—",
                     r.rural_m or "—", r.source]
                    for r in result.rules.values()])
    towns = _table(
        ["镇街", "区划代码", "村(社区)数", "已覆盖", "未覆盖", wt, f"已覆盖{wt}", "覆盖率"],
        [[t["name"], t["code"], t["units"], t["covered_units"], t["uncovered_units"], t[w],
          t[f"covered_{w}"], _pct(t["coverage_share"])] for t in result.townships])
    unc = result.uncovered()
    uncovered = _table(
        ["序号", "村(社区)", "镇街", wt, "最近设施", "距离(米)"],
        [[i + 1, r.name, r.township, int(getattr(r, w)), r.nearest_name or "—",
          r.nearest_distance_m] for i, r in enumerate(unc.itertuples())])
    if "nearest_minutes" in unc:  # along roads: minutes and the straight line beside
        uncovered = _table(
            ["序号", "村(社区)", "镇街", wt, "最近设施", "路程(米)", "时间(分钟)", "直线(米)"],
            [[i + 1, r.name, r.township, int(getattr(r, w)), r.nearest_name or "—",
              r.nearest_distance_m, round(r.nearest_minutes, 1), r.nearest_straight_m]
             for i, r in enumerate(unc.itertuples())])
    gaps = _table(["序号", "面积(平方公里)", "涉及镇街代码"],
                  [[i + 1, g["area_km2"], ", ".join(g["township_codes"])]
                   for i, g in enumerate(result.gaps[:30])])
    meta = result.metadata()
    note = f"{ILLUSTRATIVE_NOTE_ZH}({meta['note']})" if meta.get("illustrative") else None
    sections = [
        f"<h1>{_e(d['name'])} 服务覆盖分析 — {_e(result.request.layer)}: "
        f"{_e('、'.join(result.kinds))}</h1>",
        f'<p class="note">{_e(note)}</p>' if note else "",
        f"<p>生成时间 {datetime.now():%Y-%m-%d %H:%M}。距离算法：{_e(result.model_name)}。"
        f"参与计算的设施 {len(result.sites)} 处(假设新增 {int(result.sites.whatif.sum())} 处，"
        f"假设撤除：{_e('、'.join(result.request.remove_sites) or '无')})。</p>",
        f"<h2>全区</h2><p>{d['units']} 个村(社区)中 {d['covered_units']} 个已覆盖；"
        f"{wt}覆盖率 {_pct(d['coverage_share'])}({d[f'covered_{w}']} / {d[w]})。</p>",
        "<h2>地图</h2>", map_html,
        "<p>绿色：已覆盖的村(社区)；红色：未覆盖；蓝点：设施；浅蓝：服务范围；"
        "橙色：覆盖空白(全区减去服务范围)。</p>",
        network_section(result),
        "<h2>各镇街覆盖情况</h2>",
        "<p>绿色条：已覆盖的" + _e(wt) + "；红色条：未覆盖；右侧为覆盖率。</p>",
        township_chart(result.townships, w), towns,
        f"<h2>未覆盖的村(社区)(按{_e(wt)}从多到少)</h2>", uncovered,
        "<h2>最大的覆盖空白区</h2>", gaps, "<h2>服务半径</h2>", radii,
    ]
    if indicators:
        sections += ["<h2>规划指标(2025 年)</h2>", indicator_table(indicators)]
    if suggestion:
        rows = [[s["rank"], s["name"], s["lon"], s["lat"], s["radius_m"], s["covered_weight"]]
                for s in suggestion["sites"]]
        sections += [f"<h2>建议新增的{_e(suggestion['new_kind'])}选址 "
                     f"({_e(suggestion['mclp']['method'])})</h2>",
                     _table(["序号", "名称", "经度", "纬度", "服务半径(米)", f"新增覆盖{wt}"],
                            rows)]
    body = "\n".join(sections)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>服务覆盖分析 {_e(d['name'])}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")
