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


def township_chart(townships: list[dict], weight: str, width: int = 760) -> str:
    """Inline SVG: one bar per township, covered vs uncovered demand, with the share."""
    row, label_w = 22, 110
    total = max((t[weight] for t in townships), default=0) or 1
    bar_w = width - label_w - 70
    parts = [f'<svg class="chart" width="{width}" height="{row * len(townships) + 10}" '
             f'role="img" aria-label="coverage per township">']
    for i, t in enumerate(townships):
        y = 5 + i * row
        cov = t[f"covered_{weight}"] / total * bar_w
        unc = (t[weight] - t[f"covered_{weight}"]) / total * bar_w
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f'{_e(t["name"])}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{cov:.1f}" height="14" fill="#1a9850">'
            f'<title>{_e(t["name"])} covered {t[f"covered_{weight}"]}</title></rect>'
            f'<rect x="{label_w + cov:.1f}" y="{y + 3}" width="{unc:.1f}" height="14" '
            f'fill="#d73027"><title>uncovered {t[weight] - t[f"covered_{weight}"]}</title></rect>'
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
        rows.append([r["title"], shown, target, r["status"]])
    return _table(["指标 indicator", "现值 value", "2025 目标 target", "状态 status"], rows)


def render_report(result: CoverageResult, indicators: dict | None = None,
                  suggestion: dict | None = None) -> str:
    """The whole report as one self-contained HTML page (no external assets)."""
    w = result.weight
    d = result.district
    kind, map_doc = coverage_map_html(result)
    map_html = (f'<iframe class="map" title="coverage map" srcdoc="{html.escape(map_doc)}">'
                "</iframe>" if kind == "leaflet" else map_doc)
    radii = _table(["类型 kind", "rule", "urban m", "rural m", "source"],
                   [[r.kind, r.rule, r.urban_m or "—", r.rural_m or "—", r.source]
                    for r in result.rules.values()])
    towns = _table(
        ["镇街", "code", "units", "covered", "uncovered", w, f"covered {w}", "share"],
        [[t["name"], t["code"], t["units"], t["covered_units"], t["uncovered_units"], t[w],
          t[f"covered_{w}"], _pct(t["coverage_share"])] for t in result.townships])
    unc = result.uncovered()
    uncovered = _table(
        ["#", "村(社区)", "镇街", w, "nearest site", "distance m"],
        [[i + 1, r.name, r.township, int(getattr(r, w)), r.nearest_name or "—",
          r.nearest_distance_m] for i, r in enumerate(unc.itertuples())])
    gaps = _table(["#", "area km²", "townships"],
                  [[i + 1, g["area_km2"], ", ".join(g["township_codes"])]
                   for i, g in enumerate(result.gaps[:30])])
    note = result.metadata().get("note")
    sections = [
        f"<h1>{_e(d['name'])} 服务覆盖分析 — {_e(result.request.layer)}: "
        f"{_e('、'.join(result.kinds))}</h1>",
        f'<p class="note">{_e(note)}</p>' if note else "",
        f"<p>Generated {datetime.now():%Y-%m-%d %H:%M}. Distance: {_e(result.model_name)}. "
        f"Sites used: {len(result.sites)} (what-if added: {int(result.sites.whatif.sum())}, "
        f"removed: {_e(', '.join(result.request.remove_sites) or 'none')}).</p>",
        f"<h2>District</h2><p>{d['covered_units']} of {d['units']} villages/communities "
        f"covered; {_pct(d['coverage_share'])} of {w} ({d[f'covered_{w}']} of {d[w]}).</p>",
        "<h2>Map</h2>", map_html,
        "<p>Green: covered unit; red: uncovered; blue dots: sites; light blue: service "
        "areas; orange: gaps (district minus service areas).</p>",
        "<h2>Coverage per township</h2>", township_chart(result.townships, w), towns,
        f"<h2>Uncovered units, by {w}</h2>", uncovered,
        "<h2>Largest gap areas</h2>", gaps, "<h2>Service radii</h2>", radii,
    ]
    if indicators:
        sections += ["<h2>规划指标 Plan indicators (2025)</h2>", indicator_table(indicators)]
    if suggestion:
        rows = [[s["rank"], s["name"], s["lon"], s["lat"], s["radius_m"], s["covered_weight"]]
                for s in suggestion["sites"]]
        sections += [f"<h2>Suggested new {_e(suggestion['new_kind'])} sites "
                     f"({_e(suggestion['mclp']['method'])})</h2>",
                     _table(["#", "name", "lon", "lat", "radius m", f"new {w}"], rows)]
    body = "\n".join(sections)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
            f"<title>服务覆盖分析 {_e(d['name'])}</title><style>{STYLE}</style></head>"
            f"<body>{body}</body></html>")
