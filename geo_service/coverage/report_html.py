"""The planners' HTML report, in Chinese: parameters, map, chart and tables — fully offline."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from geo_service.coverage.labels import (
    DECAY_TITLES,
    GAP_REPORT_MIN_KM2,
    ILLUSTRATIVE_NOTE_ZH,
    RADIUS_BY_TITLES,
    RULE_TITLES,
    STATUS_TITLES,
    distance_title,
    layer_title,
    metres,
    pct,
    solution_text,
    weight_title,
    whole,
)
from geo_service.coverage.mapview import (
    AREA,
    COVERED,
    GAP,
    NEW_SITE,
    SITE,
    UNCOVERED,
    coverage_map_html,
)
from geo_service.coverage.request import AccessOptions
from geo_service.coverage.service import CoverageResult

__all__ = ["render_report", "township_chart", "weight_title"]

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px}th{background:#f0f0f0}td.n{text-align:right}.note{background:#fff3cd;
padding:6px 10px;border:1px solid #e0c36a}.met{color:#1a7f37}.notmet{color:#b42318}
iframe.map{width:100%;height:620px;border:1px solid #aaa}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}
table.params td:first-child{white-space:nowrap;background:#fafafa}
"""
UNIT_ROWS = 60  # the report lists at most this many uncovered units / sites (all are in JSON)


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def township_chart(townships: list[dict], weight: str, width: int = 760) -> str:
    """Inline SVG: one bar per township, covered vs uncovered demand, with the share."""
    row, label_w = 22, 110
    total = max((t[weight] for t in townships), default=0) or 1
    bar_w = width - label_w - 70
    parts = [f'<svg class="chart" width="{width}" height="{row * len(townships) + 10}" '
             f'role="img" aria-label="各镇街覆盖情况">']
    for i, t in enumerate(townships):
        y = 5 + i * row
        got = t[f"covered_{weight}"]
        cov = got / total * bar_w
        unc = (t[weight] - got) / total * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f'{_e(t["name"])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{cov:.1f}" height="14" fill="{COVERED}">'
            f'<title>{_e(t["name"])} 已覆盖 {got} 人</title></rect>'
            f'<rect x="{label_w + cov:.1f}" y="{y + 3}" width="{unc:.1f}" height="14" '
            f'fill="{UNCOVERED}"><title>未覆盖 {t[weight] - got} 人</title></rect>'
            f'<text x="{label_w + cov + unc + 4:.1f}" y="{y + 14}" font-size="11">'
            f'{pct(got, t[weight])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(headers: list[str], rows: Sequence[Sequence[object]], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_e(c)}</td>' if isinstance(c, int | float) else f"<td>{_e(c)}</td>"
            for c in r) + "</tr>" for r in rows)
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><tr>{head}</tr>{body}</table>"


def _indicator_value(r: dict, key: str) -> str:
    value = r[key]
    if value is None:
        return "—"
    if r["unit"] == "share":
        return pct(value)
    if r["unit"] == "beds":
        return f"{whole(value)} 张"
    return f"{value:.1f}"


def indicator_table(indicators: dict) -> str:
    """The district's plan indicators with target and status."""
    rows = []
    for r in indicators["district"]["indicators"]:
        target = "—" if r["target"] is None else (
            f'{"≥" if r["compare"] == ">=" else "≤"} {_indicator_value(r, "target")}')
        rows.append([r["title"], _indicator_value(r, "value"), target,
                     STATUS_TITLES.get(r["status"], r["status"])])
    return _table(["指标", "现值", "2025 年目标", "状态"], rows)


def _changes(result: CoverageResult) -> str:
    ch = result.whatif_changes()
    added = "；".join(f"{a['name']}({a['kind']}，{a['lon']:.5f}, {a['lat']:.5f}"
                     + (f"，半径 {a['radius_m']:.0f} 米" if a["radius_m"] else "") + ")"
                     for a in ch["added"]) or "无"
    removed = "；".join(f"{r['id']} {r['name']}({r['kind']})" for r in ch["removed"]) or "无"
    return f"假设新增 {len(ch['added'])} 处：{added}。假设撤除 {len(ch['removed'])} 处：{removed}。"


def _catchment(a: AccessOptions) -> str:
    """The 2SFCA catchment in words: minutes along the roads, or metres."""
    if a.catchment_minutes is not None:
        return f"集水范围沿道路 {a.catchment_minutes:g} 分钟"
    return f"集水半径 {metres(a.catchment_m)} 米"


def _params(result: CoverageResult) -> str:
    meta = result.metadata()
    as_of = result.study.data_as_of
    rows = [["设施图层", layer_title(meta["layer"])], ["设施类型", "、".join(meta["kinds"])],
            ["需求指标", weight_title(result.weight)],
            ["距离算法", distance_title(meta["distance_model"])],
            ["服务半径取值", f"{RADIUS_BY_TITLES.get(meta['radius_by'], meta['radius_by'])}。"
                       f"{meta['radius_by_source']}"],
            *([["沿道路的服务半径",
                 f"各类型统一为 {result.request.minutes:g} 分钟（取代下方“服务半径”表的米数）"
                 if result.request.minutes is not None
                 else "下方“服务半径”表的米数沿道路计，以步行速度换算为分钟"]]
              if result.network else []),
            ["参与计算的设施", f"{len(result.sites)} 处"
             + ("(含在建)" if meta["include_under_construction"] else "(仅运营中)")],
            ["假设情景(不写入数据库)", _changes(result)],
            ["数据更新至", as_of.astimezone().strftime("%Y-%m-%d %H:%M") if as_of else "—"],
            ["生成时间", f"{datetime.now():%Y-%m-%d %H:%M}"]]
    if result.request.access:
        a = result.request.access
        rows.insert(4, ["可达性(2SFCA)", f"{_catchment(a)}，{DECAY_TITLES.get(a.decay, a.decay)}"])
    return _table(["项目", "内容"], rows, "params")


def _legend() -> str:
    items = [(COVERED, "已覆盖的村(社区)"), (UNCOVERED, "未覆盖的村(社区)"), (SITE, "现有设施"),
             (NEW_SITE, "新增设施(建议或假设，紫色菱形)"), (AREA, "服务范围"),
             (GAP, "覆盖空白(全区减去服务范围)")]
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(t)}</span>' for c, t in items) + "</p>"


def _gaps(result: CoverageResult) -> str:
    towns = dict(zip(result.study.townships.code, result.study.townships.name, strict=True))
    big = [g for g in result.gaps if g["area_km2"] >= GAP_REPORT_MIN_KM2]
    total = sum(g["area_km2"] for g in result.gaps)
    rows = [[i + 1, f"{g['area_km2']:.2f}", "、".join(towns.get(c, c) for c in g["township_codes"])]
            for i, g in enumerate(big[:30])]
    return (f"<p>覆盖空白共 {total:.1f} 平方公里；下表列出面积不小于 {GAP_REPORT_MIN_KM2:g} "
            f"平方公里的 {len(big)} 处中最大的 {len(rows)} 处。</p>"
            + _table(["序号", "面积(平方公里)", "涉及镇街"], rows))


def _access(result: CoverageResult) -> str:
    a = result.request.access
    if a is None or "access" not in result.units:
        return ""
    w = result.weight
    wt = weight_title(w)
    u = result.units
    rows = []
    for t in result.townships:
        part = u[u.township_code == t["code"]]
        weights = part[w].to_numpy(float)
        mean = float(np.average(part.access, weights=weights)) if weights.sum() else None
        rows.append([t["name"], "—" if mean is None else f"{mean:.2f}",
                     f"{part.access.min():.2f}", f"{part.access.max():.2f}"])
    low = u.sort_values(["access", w], ascending=[True, False]).head(15)
    return (f"<h2>可达性：每千名{_e(wt)}拥有的床位数(两步移动搜索法 2SFCA)</h2>"
            f"<p>{_e(_catchment(a))}，{_e(DECAY_TITLES.get(a.decay, a.decay))}；"
            f"床位取参与计算设施的床位数。</p>"
            + _table(["镇街", f"按{wt}加权平均", "最低", "最高"], rows)
            + "<h3>可达性最低的 15 个村(社区)</h3>"
            + _table(["村(社区)", "镇街", f"{wt}(人)", "每千人床位数"],
                     [[r.name, r.township, int(getattr(r, w)), f"{r.access:.2f}"]
                      for r in low.itertuples()]))


def _site_table(rows: list[dict], towns: dict[str, str], wt: str, limit: int) -> str:
    body = []
    for s in rows[:limit]:
        radius = (metres(s["radius_m"]) if s.get("radius_m") is not None else
                  f"城镇 {metres(s['urban_radius_m'])} / 农村 {metres(s['rural_radius_m'])}")
        body.append([s["rank"], s["name"], towns.get(s["township_code"] or "", "—"),
                     f"{s['lon']:.5f}", f"{s['lat']:.5f}", radius, whole(s["added_weight"]),
                     whole(s["covered_weight"])])
    return _table(["序号", "名称", "所在镇街", "经度", "纬度", "服务半径(米)",
                   f"新增覆盖{wt}(按序不重复计)", f"单独可覆盖{wt}"], body)


def _suggestion(result: CoverageResult, s: dict) -> str:
    w = result.weight
    wt = weight_title(w)
    towns = dict(zip(result.study.townships.code, result.study.townships.name, strict=True))
    b, a = s["before"], s["after"]
    m = s["mclp"]
    gained = a[f"covered_{w}"] - b[f"covered_{w}"]
    parts = [
        f"<h2>建议新增{_e(s['new_kind'])} {len(s['sites'])} 处</h2>",
        _table(["", "村(社区)已覆盖", f"已覆盖{wt}(人)", "覆盖率"], [
            ["新增前", f"{b['covered_units']} / {b['units']}", b[f"covered_{w}"],
             pct(b[f"covered_{w}"], b[w])],
            ["新增后", f"{a['covered_units']} / {a['units']}", a[f"covered_{w}"],
             pct(a[f"covered_{w}"], a[w])],
            ["变化", f"+{a['covered_units'] - b['covered_units']}", f"+{gained}",
             f"+{(a[f'covered_{w}'] - b[f'covered_{w}']) / b[w] * 100:.1f} 个百分点"
             if b[w] else "—"]]),
        f"<p>求解方法：{_e(solution_text(m))}。候选点 {s['candidate_count']} 个"
        f"({'村(社区)委员会所在地' if s['candidates'] == 'units' else '全区网格点'})，"
        f"需求为现有设施未覆盖的 {s['uncovered_units']} 个村(社区)；"
        f"{_e(RADIUS_BY_TITLES.get(s['radius_by'], s['radius_by']))}。</p>",
    ]
    parts += [f'<p class="note">{_e(n)}</p>' for n in m.get("notes", [])]
    parts.append(_site_table(s["sites"], towns, wt, UNIT_ROWS))
    sc = s.get("set_cover")
    if sc:
        parts += [
            "<h2>全覆盖最少需新增</h2>",
            f"<p>要让现有设施未覆盖、且有候选点可达的 {sc['reachable_units']} 个村(社区)全部覆盖，"
            f"至少需新增 {sc['sites_needed']} 处{_e(s['new_kind'])}"
            f"(已逐一核验全部覆盖：{'是' if sc['complete'] else '否'}"
            + (f"；另有 {sc['unreachable_units']} 个村(社区)任何候选点都够不到"
               if sc["unreachable_units"] else "")
            + f")。求解方法：{_e(solution_text(sc))}。</p>",
            _site_table(sc["sites"], towns, wt, UNIT_ROWS)]
        if len(sc["sites"]) > UNIT_ROWS:
            parts.append(f"<p>(仅列出前 {UNIT_ROWS} 处，完整名单见 JSON 结果)</p>")
    return "\n".join(parts)


def network_section(result: CoverageResult) -> str:
    """Along-road analyses: mode, speeds, isochrone areas, islands and snapping (else '')."""
    net = result.network
    if not net:
        return ""
    mode = {"walk": "步行", "drive": "驾车"}.get(net["distance"], net["distance"])
    rows = [[f["properties"]["minutes"], f["properties"]["area_km2"]]
            for f in reversed((result.isochrones or {"features": []})["features"])]
    radius = (f"{net['minutes']:g} 分钟" if net["minutes"] is not None
              else "按“服务半径”表的米数沿道路计，以步行速度换算为分钟")
    warn = "".join(f'<p class="note">{_e(w)}</p>' for w in net["warnings"])
    snap, site_snap = net["snap_m"], net["site_snap_m"]
    return (f"<h2>沿道路的{mode}时间</h2><p>距离沿道路网计算（{mode}）；服务半径：{_e(radius)}；"
            f"步行速度 {net['speeds']['walk_kmh']:g} 公里/小时（老年人）。"
            "村(社区)代表点到最近道路的直线距离按步行速度计入"
            f"（平均 {_e(snap['mean'])} 米，最大 {_e(snap['max'])} 米；"
            f"设施平均 {_e(site_snap['mean'])} 米）。地图上蓝色由深到浅为 5/10/15 分钟等时圈"
            f"（道路两侧各 {net['isochrone_buffer_m']:g} 米）。</p>{warn}"
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
                   [[r.kind, RULE_TITLES.get(r.rule, r.rule), metres(r.urban_m),
                     metres(r.rural_m), r.source] for r in result.rules.values()])
    towns = _table(
        ["镇街", "区划代码", "村(社区)数", "已覆盖", "未覆盖", f"{wt}(人)", f"已覆盖{wt}(人)",
         "覆盖率"],
        [[t["name"], t["code"], t["units"], t["covered_units"], t["uncovered_units"], t[w],
          t[f"covered_{w}"], pct(t[f"covered_{w}"], t[w])] for t in result.townships])
    unc = result.uncovered()
    uncovered = _table(
        ["序号", "村(社区)", "镇街", f"{wt}(人)", "最近设施", "距离(米)"],
        [[i + 1, r.name, r.township, int(getattr(r, w)), r.nearest_name or "—",
          whole(float(r.nearest_distance_m)) or "—"]  # type: ignore[arg-type]
         for i, r in enumerate(unc.head(UNIT_ROWS).itertuples())])
    if "nearest_minutes" in unc:  # along roads: minutes and the straight line beside
        top = unc.head(UNIT_ROWS)
        figures = zip(top.itertuples(), top.nearest_distance_m.to_numpy(float),
                      top.nearest_minutes.to_numpy(float), top.nearest_straight_m.to_numpy(float),
                      strict=True)
        uncovered = _table(
            ["序号", "村(社区)", "镇街", f"{wt}(人)", "最近设施", "路程(米)", "时间(分钟)",
             "直线(米)"],
            [[i + 1, r.name, r.township, int(getattr(r, w)), r.nearest_name or "—",
              metres(road), "—" if np.isnan(mins) else f"{mins:.1f}", metres(line)]
             for i, (r, road, mins, line) in enumerate(figures)])
    more = (f"<p>(共 {len(unc)} 个，仅列出前 {UNIT_ROWS} 个；完整名单见工作簿或 JSON)</p>"
            if len(unc) > UNIT_ROWS else "")
    meta = result.metadata()
    title = f"{d['name']}{layer_title(result.request.layer)}覆盖分析"
    sections = [
        f"<h1>{_e(title)}：{_e('、'.join(result.kinds))}</h1>",
        f'<p class="note">{_e(ILLUSTRATIVE_NOTE_ZH)}</p>' if meta.get("illustrative") else "",
        "<h2>分析参数</h2>", _params(result),
        f"<h2>全区{'(新增建议站点后)' if suggestion else ''}</h2>"
        f"<p>{d['units']} 个村(社区)中 {d['covered_units']} 个已覆盖；"
        f"{wt}覆盖率 {pct(d[f'covered_{w}'], d[w])}"
        f"({d[f'covered_{w}']} / {d[w]} 人)。</p>",
        "<h2>地图</h2>", map_html, _legend(), network_section(result),
        "<h2>各镇街覆盖情况</h2>",
        "<p>绿色条：已覆盖的" + _e(wt) + "；红色条：未覆盖；右侧为覆盖率。</p>",
        township_chart(result.townships, w), towns,
        f"<h2>未覆盖的村(社区)(按{_e(wt)}从多到少)</h2>", uncovered, more,
        "<h2>最大的覆盖空白区</h2>", _gaps(result), _access(result),
        "<h2>服务半径</h2>", radii,
    ]
    if suggestion:
        sections.insert(4, _suggestion(result, suggestion))
    if indicators:
        sections += ["<h2>规划指标(2025 年)</h2>", indicator_table(indicators)]
    body = "\n".join(sections)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>{_e(title)}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")
