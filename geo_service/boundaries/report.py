"""联检报告: the formal inspection report of one record (HTML that prints on A4, and PDF).

Everything comes from the record's content — frozen once a side has signed — so a signed-off
record's report reads the same whatever later happens to markers, lines or areas.
"""

from __future__ import annotations

import base64
import math
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, select

from geo_service.boundaries import inspections
from geo_service.boundaries import photos as photo_store
from geo_service.crs import to_metric
from geo_service.db.models import boundary_lines
from geo_service.db.models import inspections as inspections_table
from geo_service.errors import NotFoundError

COLOURS = {"完好": "#2e7d32", "损坏": "#ef6c00", "丢失": "#c62828", "移位": "#6a1b9a",
           None: "#546e7a"}
STATES = {"draft": "草稿(未签认)", "partly_signed": "一方已签认",
          "signed_off": "双方签认(不可更改)"}
LEVELS = {"township": "乡级界线", "county": "县级界线", "provincial": "省级界线"}
_W, _H, _PAD = 720.0, 400.0, 24.0
BEIJING = ZoneInfo("Asia/Shanghai")
_BOX_END = ('<span class="date">日期: 　　年　　月　　日</span>'
            '<span class="seal">(盖章)</span>')


def beijing_time(stamp: str | datetime) -> str:
    """A stored time as Beijing time to the minute: '2026-11-23 07:23 (北京时间)'."""
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M} (北京时间)"


def _nice(value: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ) not above `value`."""
    exp = 10 ** math.floor(math.log10(value))
    return max(m * exp for m in (1, 2, 5) if m * exp <= value)


def _svg(line_geom: Any, marker_points: list[tuple[str, Any, str | None]]) -> str:
    """An SVG map of the line (Gauss-Krüger metres, north up) with the markers and a legend."""
    geom_m = to_metric(line_geom)
    pts_m = [(n, to_metric(p), c) for n, p, c in marker_points]
    minx, miny, maxx, maxy = shapely.union_all([geom_m, *[p for _, p, _ in pts_m]]).bounds
    scale = min((_W - 2 * _PAD) / max(maxx - minx, 1.0),
                (_H - 2 * _PAD - 40) / max(maxy - miny, 1.0))

    def xy(x: float, y: float) -> tuple[float, float]:
        return _PAD + (x - minx) * scale, _H - _PAD - 30 - (y - miny) * scale

    paths = "".join(
        '<polyline points="' + " ".join("{:.1f},{:.1f}".format(*xy(x, y)) for x, y in part.coords)
        + '" fill="none" stroke="#c62828" stroke-width="3" stroke-dasharray="10 4 2 4"/>'
        for part in shapely.get_parts(geom_m))
    dots = ""
    for n, p, c in pts_m:
        px, py = xy(p.x, p.y)
        dots += (f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{COLOURS.get(c, COLOURS[None])}"'
                 f' stroke="#fff" stroke-width="1.5"/><text x="{px + 8:.1f}" y="{py - 8:.1f}" '
                 f'font-size="12">{escape(n)}</text>')
    bar_m = _nice(0.25 * (maxx - minx or 1.0))
    label = f"{bar_m / 1000:g} 千米" if bar_m >= 1000 else f"{bar_m:g} 米"
    legend, x = "", _PAD
    for text, colour in (("完好", COLOURS["完好"]), ("损坏", COLOURS["损坏"]),
                         ("丢失", COLOURS["丢失"]), ("移位", COLOURS["移位"]),
                         ("未检查", COLOURS[None])):
        legend += (f'<circle cx="{x + 6:.0f}" cy="{_H - 12}" r="6" fill="{colour}"/>'
                   f'<text x="{x + 16:.0f}" y="{_H - 8}" font-size="12">界桩 {text}</text>')
        x += 86
    legend += (f'<line x1="{x:.0f}" y1="{_H - 12}" x2="{x + 30:.0f}" y2="{_H - 12}" '
               f'stroke="#c62828" stroke-width="3" stroke-dasharray="10 4 2 4"/>'
               f'<text x="{x + 36:.0f}" y="{_H - 8}" font-size="12">行政区域界线</text>')
    return (f'<svg viewBox="0 0 {_W:.0f} {_H:.0f}" class="map" role="img" '
            f'aria-label="界线示意图">{paths}{dots}'
            f'<line x1="{_W - _PAD - bar_m * scale:.1f}" y1="{_H - 40}" x2="{_W - _PAD}" '
            f'y2="{_H - 40}" stroke="#000" stroke-width="2"/><text x="{_W - _PAD}" '
            f'y="{_H - 46}" text-anchor="end" font-size="12">比例尺 {label}</text>'
            f'<text x="{_W - _PAD}" y="{_PAD}" text-anchor="end" font-size="14">北 ↑</text>'
            f'<line x1="{_PAD}" y1="{_H - 26}" x2="{_W - _PAD}" y2="{_H - 26}" stroke="#bbb"/>'
            f'{legend}</svg>')


def _gk(lon: float, lat: float) -> tuple[float, float]:
    """CGCS2000 / 3° Gauss-Krüger CM 105°E (EPSG:4544): X northing, Y easting, metres."""
    point = to_metric(shapely.Point(lon, lat))
    return point.y, point.x


def _refs(marker: dict) -> str:
    return "<br>".join(f"{escape(r['name'])} 方位 {float(r['bearing_deg']):.0f}° "
                       f"距离 {float(r['distance_m']):.1f} 米" for r in marker["references"]) or "—"


def verify_url(base_url: str, record: dict) -> str:
    """Where the QR code leads: the verify endpoint with the record's content hash."""
    return (f"{base_url.rstrip('/')}/boundaries/inspections/{record['id']}/verify"
            f"?hash={record['content_hash']}")


def render(conn: Connection, line_id: int, round_: str | None, *,
           embed_from: Path | None = None, base_url: str = "",
           generated_at: datetime | None = None) -> str:
    """The report of a line's round: its latest signed-off record (never a draft)."""
    line = conn.execute(select(boundary_lines.c.id).where(boundary_lines.c.id == line_id)).first()
    if line is None:
        raise NotFoundError(f"boundary line {line_id} not found")
    query = (select(inspections_table.c.id).where(inspections_table.c.line_id == line_id,
                                                  inspections_table.c.signed_off_at.is_not(None))
             .order_by(inspections_table.c.signed_off_at.desc(), inspections_table.c.id.desc()))
    if round_ is not None:
        query = query.where(inspections_table.c.round == round_)
    found = conn.execute(query).scalars().first()
    if found is None:
        drafts = list(conn.execute(select(inspections_table.c.id).where(
            inspections_table.c.line_id == line_id,
            *([inspections_table.c.round == round_] if round_ is not None else []))
            .order_by(inspections_table.c.id)).scalars())
        raise NotFoundError(
            f"line {line_id} has no signed-off inspection" + (f" in round {round_!r}"
                                                             if round_ else "")
            + (f"; unsigned records: {', '.join(f'#{d}' for d in drafts)} (report one with "
               "--inspection ID or /boundaries/inspections/ID/report)" if drafts else ""))
    return render_inspection(conn, found, embed_from=embed_from, base_url=base_url,
                             generated_at=generated_at)


def render_inspection(conn: Connection, inspection_id: int, *, embed_from: Path | None = None,
                      base_url: str = "", generated_at: datetime | None = None) -> str:
    """The formal 联检报告 of one record.

    With `embed_from` (the media folder) the photos are inlined as data URIs, so the file
    stands alone (for filing, sending or printing to PDF without access to the service).
    """
    record = inspections.get(conn, inspection_id)
    body = record["content"]
    line = body["line"]
    e = escape
    by_marker = {f["marker_id"]: f for f in body["findings"]}
    markers = list(body["line_markers"])
    listed = {m["id"] for m in markers}
    markers += [f["marker"] for f in body["findings"] if f["marker_id"] not in listed]
    shown = {m["id"]: by_marker[m["id"]]["marker"] if m["id"] in by_marker else m
             for m in markers}  # a finding's marker is shown as the version inspected
    ordered = sorted(shown.values(), key=lambda m: m["number"])
    points = [(m["number"], shapely.Point(float(m["lon"]), float(m["lat"])),
               by_marker.get(m["id"], {}).get("condition")) for m in ordered]
    illustrative = (line["geometry_accuracy"] == "illustrative"
                    or any(m["geometry_accuracy"] == "illustrative" for m in ordered))
    registry, results = [], []
    for m in ordered:
        lon, lat = float(m["lon"]), float(m["lat"])
        gx, gy = _gk(lon, lat)
        elevation = "—" if m.get("elevation_m") is None else f"{float(m['elevation_m']):.2f}"
        registry.append(
            f"<tr><td class='no'>{e(m['number'])}</td><td class='no'>{e(m['marker_type'])}</td>"
            f"<td class='num'>{gx:.3f}</td><td class='num'>{gy:.3f}</td>"
            f"<td class='num'>{lon:.7f}</td><td class='num'>{lat:.7f}</td>"
            f"<td class='num'>{elevation}</td><td class='refs'>{_refs(m)}</td></tr>")
        f = by_marker.get(m["id"])
        measured = f and f["measured"]
        where = f"{measured['lon']:.7f}, {measured['lat']:.7f}" if measured else "—"
        accuracy = (f"±{f['measured_accuracy_m']:.0f}" if f and f.get("measured_accuracy_m")
                    else ("未记录" if measured else "—"))
        moved = "—" if not f or f["displacement_m"] is None else f"{f['displacement_m']:.2f}"
        colour = COLOURS.get(f and f["condition"], COLOURS[None])
        results.append(
            f"<tr><td class='no'>{e(m['number'])}</td><td class='no'>v{m['version']}</td>"
            f"<td class='no' style='color:{colour}'>{e(f['condition']) if f else '未检查'}</td>"
            f"<td class='num'>{where}</td><td class='num'>{accuracy}</td>"
            f"<td class='num'>{moved}</td><td>{e((f and f['note']) or '')}</td></tr>")
    notes = "".join(f"<li><b>{e(n['category'])}</b>: {e(n['note'])}</li>"
                    for n in body["segment_notes"]) or "<li>无</li>"
    marker_of = {f["id"]: f["marker_number"] for f in body["findings"]}

    def caption(p: dict) -> str:
        parts = [f"界桩 {marker_of[p['finding_id']]}" if p["finding_id"] in marker_of else "",
                 p["caption"] or "",
                 f"拍摄于 {beijing_time(p['taken_at'])}" if p.get("taken_at") else ""]
        return " · ".join(x for x in parts if x) or "沿线照片"

    def source(p: dict) -> str:
        if embed_from is None:
            return f"{base_url}{p['url']}"
        path, content_type = photo_store.lookup(conn, p["sha256"], embed_from)
        return f"data:{content_type};base64,{base64.b64encode(path.read_bytes()).decode()}"

    pics = "".join(
        f"<figure><img src='{e(source(p))}' alt='{e(caption(p))}'"
        f"{'' if embed_from is not None else ' loading=lazy'}>"
        f"<figcaption>{e(caption(p))} · SHA-256 {e(p['sha256'][:12])}…</figcaption>"
        f"</figure>" for p in body["photos"]) or "<p>无照片</p>"

    def signed(side: str) -> str:
        who, at = record[f"side_{side}_signed_by"], record[f"side_{side}_signed_at"]
        if not who:
            return "未签认"
        name = record.get(f"side_{side}_signer_name") or who
        return f"{e(name)}(账号 {e(who)})于 {e(beijing_time(at))} 签认"

    officers_a = "、".join(body["side_a_officers"]) or "—"
    officers_b = "、".join(body["side_b_officers"]) or "—"
    unsigned = ("" if record["state"] == "signed_off" else
                "<p class='warn'>本记录尚未经双方签认, 不是正式文件。</p>")
    warning = unsigned + (
        "<p class='warn'>示意数据: 本界线和/或界桩为系统生成的示例数据, 不是实测成果, "
        "不得作为法定依据。</p>" if illustrative else "")
    correction = (f"<p>本记录更正联检记录 #{body['corrects_id']}。</p>"
                  if body["corrects_id"] else "")
    now = beijing_time(generated_at or datetime.now(BEIJING))
    doc = record["document_number"]
    qr = segno.make(verify_url(base_url or "", record), error="m").svg_inline(
        scale=2, dark="#000", light=None)
    length_km = float(line["length_m"]) / 1000
    side_a, side_b = e(line["side_a_name"]), e(line["side_b_name"])
    footer = e(f"{doc}  生成时间 {now}")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>联检报告 {side_a}—{side_b} {e(body['round'])} {e(doc)}</title>
<style>
body{{font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",system-ui,sans-serif;margin:2em auto;
max-width:62em;padding:0 1em;color:#222;font-size:10.5pt}}
h1{{font-size:1.5em;text-align:center;margin-bottom:.2em}} h2{{font-size:1.15em;margin:1em 0 .4em}}
.docno{{text-align:center;margin-top:0}}
table{{border-collapse:collapse;width:100%;font-size:.85em}}
th,td{{border:1px solid #999;padding:.25em .4em;text-align:left;vertical-align:top}}
th{{background:#f0f0f0;white-space:nowrap}} .num{{text-align:right;white-space:nowrap}}
.no{{white-space:nowrap}} .refs{{font-size:.92em}}
.map{{width:100%;border:1px solid #999;background:#fafafa}} .warn{{background:#fff3cd;
padding:.5em;border:1px solid #e0c36b}} figure{{display:inline-block;margin:.5em;width:14em;
vertical-align:top}} figure img{{width:100%}} figcaption{{font-size:.8em}}
.boxes{{display:flex;gap:1em}} .box{{flex:1;border:1px solid #444;height:11em;padding:.5em;
position:relative}} .box .seal{{position:absolute;right:.8em;bottom:.6em;color:#666}}
.box .date{{position:absolute;left:.6em;bottom:.6em}}
.verify{{display:flex;gap:1em;align-items:center;border:1px solid #999;padding:.5em}}
.hash{{font-family:"WenQuanYi Micro Hei Mono",monospace;word-break:break-all;font-size:.9em}}
.keep{{break-inside:avoid}}
@page{{size:A4;margin:14mm 12mm 16mm 12mm;
@bottom-left{{content:"{footer}";font-size:8pt;color:#444}}
@bottom-right{{content:"第 " counter(page) " 页 共 " counter(pages) " 页";font-size:8pt}}}}
@media print{{body{{margin:0;max-width:none}} figure,tr,.keep{{break-inside:avoid}}
thead{{display:table-header-group}}}}
</style></head><body>
<h1>行政区域界线联合检查记录</h1>
<p class="docno">文件编号 {e(doc)} · 生成时间 {e(now)}</p>
{warning}
<table class="keep">
<tr><th>界线</th><td>#{line['id']}(第 {line['version']} 版)
{side_a}({e(line['side_a_code'])})— {side_b}({e(line['side_b_code'])})</td>
<th>级别</th><td class="no">{e(LEVELS.get(line['level'], line['level']))}</td>
<th>长度</th><td class="no">{length_km:.3f} 千米</td></tr>
<tr><th>联检轮次</th><td>{e(body['round'])}</td>
<th>检查日期</th><td class="no">{e(body['inspected_on'])}</td>
<th>记录号</th><td class="no">#{record['id']}</td></tr>
<tr><th>状态</th><td colspan="5">{e(STATES[record['state']])}</td></tr>
</table>
{correction}
<h2>界线示意图</h2>
{_svg(shape(line['geom']), points)}
<h2>界桩登记信息(CGCS2000)</h2>
<table><thead><tr><th>界桩编号</th><th>类型</th><th>高斯-克吕格 X(北, 米)</th>
<th>Y(东, 米)</th><th>经度(°)</th><th>纬度(°)</th><th>高程(米)</th><th>方位物</th></tr></thead>
<tbody>{''.join(registry) or '<tr><td colspan=8>该界线无界桩</td></tr>'}</tbody></table>
<p><small>平面坐标: CGCS2000 / 3° 高斯-克吕格投影 中央经线 105°E(EPSG:4544),
X 为北坐标, Y 为东坐标。</small></p>
<h2>界桩检查情况</h2>
<table><thead><tr><th>界桩编号</th><th>界桩版本</th><th>状况</th><th>实测位置(经度, 纬度)</th>
<th>GPS 精度(米)</th><th>位移(米)</th><th>说明</th></tr></thead>
<tbody>{''.join(results) or '<tr><td colspan=7>该界线无界桩</td></tr>'}</tbody></table>
<p><small>位移为登记位置与实测位置在 CGCS2000 椭球面上的大地线距离, 由系统计算;
GPS 精度为外业手机报告的定位精度。</small></p>
<h2>沿线情况</h2><ul>{notes}</ul>
<h2>双方意见</h2><p>{e(body['summary'] or '—')}</p>
<h2>照片</h2>{pics}
<div class="keep">
<h2>双方签认</h2>
<table><tr><th></th><th>甲方 {side_a}</th><th>乙方 {side_b}</th></tr>
<tr><th>参检人员</th><td>{e(officers_a)}</td><td>{e(officers_b)}</td></tr>
<tr><th>系统签认</th><td>{signed('a')}</td><td>{signed('b')}</td></tr></table>
<h2>手写签字及盖章</h2>
<div class="boxes">
<div class="box">甲方({side_a})界线管理人员签字:{_BOX_END}</div>
<div class="box">乙方({side_b})界线管理人员签字:{_BOX_END}</div>
</div>
<h2>内容校验</h2>
<div class="verify"><div class="qr">{qr}</div><div>
<p>内容哈希(SHA-256):<br><span class="hash">{e(record['content_hash'])}</span></p>
<p>扫描二维码, 或打开 {e(f"/boundaries/inspections/{record['id']}/verify")}
并填入上面的哈希值, 可核验本文件与系统存档是否一致。</p>
</div></div>
</div>
</body></html>"""


def verify_page(result: dict) -> str:
    """The verify answer as a small Chinese page (what the QR code opens)."""
    e = escape
    colour = "#2e7d32" if result["matches"] else "#c62828"
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>联检记录核验</title>
</head><body style="font-family:system-ui,'Noto Sans CJK SC',sans-serif;margin:2em">
<h1>联检记录核验</h1><p>文件编号 {e(result['document_number'])} · 记录 #{result['inspection_id']}
· 状态 {e(STATES[result['state']])}</p>
<p style="font-size:1.3em;color:{colour}"><b>{e(result['message'])}</b></p></body></html>"""
