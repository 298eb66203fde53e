"""联检报告: the HTML inspection report of one line and round (prints on A4)."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import shapely
from sqlalchemy import Connection, select

from geo_service.boundaries import inspections, markers
from geo_service.boundaries import photos as photo_store
from geo_service.boundaries.geometry import from_db
from geo_service.crs import to_metric
from geo_service.db.models import boundary_lines
from geo_service.db.models import inspections as inspections_table
from geo_service.errors import NotFoundError

COLOURS = {"完好": "#2e7d32", "损坏": "#ef6c00", "丢失": "#c62828", "移位": "#6a1b9a",
           None: "#546e7a"}
STATES = {"draft": "草稿 draft", "partly_signed": "一方已签 signed by one side",
          "signed_off": "双方签认 signed off (不可更改)"}
_W, _H, _PAD = 720.0, 420.0, 24.0
BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_time(stamp: str | datetime) -> str:
    """A stored time as Beijing time to the minute: '2026-11-23 07:23 (北京时间)'."""
    moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
    return f"{moment.astimezone(BEIJING):%Y-%m-%d %H:%M} (北京时间)"


def _svg(line_geom, marker_points: list[tuple[str, object, str | None]]) -> str:
    """An SVG map of the line (Gauss-Krüger metres, north up) with the markers."""
    geom_m = to_metric(line_geom)
    pts_m = [(n, to_metric(p), c) for n, p, c in marker_points]
    minx, miny, maxx, maxy = shapely.union_all([geom_m, *[p for _, p, _ in pts_m]]).bounds
    scale = min((_W - 2 * _PAD) / max(maxx - minx, 1.0), (_H - 2 * _PAD) / max(maxy - miny, 1.0))

    def xy(x: float, y: float) -> str:
        return f"{_PAD + (x - minx) * scale:.1f},{_H - _PAD - (y - miny) * scale:.1f}"

    paths = "".join(
        f'<polyline points="{" ".join(xy(x, y) for x, y in part.coords)}" fill="none" '
        f'stroke="#c62828" stroke-width="3" stroke-dasharray="10 4 2 4"/>'
        for part in shapely.get_parts(geom_m))
    dots = "".join(
        f'<circle cx="{xy(p.x, p.y).split(",")[0]}" cy="{xy(p.x, p.y).split(",")[1]}" r="6" '
        f'fill="{COLOURS.get(c, COLOURS[None])}" stroke="#fff" stroke-width="1.5"/>'
        f'<text x="{float(xy(p.x, p.y).split(",")[0]) + 8:.1f}" '
        f'y="{float(xy(p.x, p.y).split(",")[1]) - 8:.1f}" font-size="12">{escape(n)}</text>'
        for n, p, c in pts_m)
    bar_m = _nice(0.25 * (maxx - minx or 1.0))
    bar_px = bar_m * scale
    label = f"{bar_m / 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    return (f'<svg viewBox="0 0 {_W:.0f} {_H:.0f}" class="map" role="img" '
            f'aria-label="界线示意图">{paths}{dots}'
            f'<line x1="{_PAD}" y1="{_H - 8}" x2="{_PAD + bar_px:.1f}" y2="{_H - 8}" '
            f'stroke="#000" stroke-width="2"/><text x="{_PAD + bar_px + 6:.1f}" '
            f'y="{_H - 4}" font-size="12">{label}</text>'
            f'<text x="{_W - _PAD}" y="{_PAD}" text-anchor="end" font-size="14">N ↑</text></svg>')


def _nice(value: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10ⁿ) not above `value`."""
    import math

    exp = 10 ** math.floor(math.log10(value))
    return max(m * exp for m in (1, 2, 5) if m * exp <= value)


def render(conn: Connection, line_id: int, round_: str | None, *,
           embed_photos: bool = False) -> str:
    """The report page of the line's inspection in `round_` (default: the newest round).

    With `embed_photos` the photos are inlined as data URIs, so the file stands alone
    (for filing, sending or printing to PDF without access to the service).
    """
    line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
    if line is None:
        raise NotFoundError(f"boundary line {line_id} not found")
    query = (select(inspections_table.c.id).where(inspections_table.c.line_id == line_id)
             .order_by(inspections_table.c.inspected_on.desc(), inspections_table.c.id.desc()))
    if round_ is not None:
        query = query.where(inspections_table.c.round == round_)
    ids = list(conn.execute(query).scalars())
    if not ids:
        raise NotFoundError(f"line {line_id} has no inspection"
                            + (f" in round {round_!r}" if round_ else ""))
    # the newest record of the round (a correction supersedes what it corrects)
    record = inspections.get(conn, ids[0])
    line_markers = markers.list_markers(conn, line_id)
    by_marker = {f["marker_id"]: f for f in record["findings"]}
    points = [(m["number"], shapely.Point(m["lon"], m["lat"]),
               by_marker.get(m["id"], {}).get("condition")) for m in line_markers]
    illustrative = (line.geometry_accuracy == "illustrative"
                    or any(m["geometry_accuracy"] == "illustrative" for m in line_markers))
    e = escape
    rows = []
    for m in line_markers:
        f = by_marker.get(m["id"])
        measured = f and f["measured"]
        where = f"{measured['lon']:.6f}, {measured['lat']:.6f}" if measured else "—"
        moved = f["displacement_m"] if f else None
        moved_text = "" if moved is None else f"{moved:.2f}"
        rows.append(
            f"<tr><td>{e(m['number'])}</td><td>{e(m['marker_type'])}</td>"
            f"<td>{m['lon']:.6f}, {m['lat']:.6f}</td>"
            f"<td style='color:{COLOURS.get(f and f['condition'], COLOURS[None])}'>"
            f"{e(f['condition']) if f else '未检查'}</td>"
            f"<td>{where}</td><td class='num'>{moved_text}</td>"
            f"<td>{e((f and f['note']) or '')}</td></tr>")
    notes = "".join(f"<li><b>{e(n['category'])}</b>: {e(n['note'])}</li>"
                    for n in record["segment_notes"]) or "<li>无</li>"
    marker_of = {f["id"]: f["marker_number"] for f in record["findings"]}

    def caption(p: dict) -> str:
        parts = [f"界桩 {marker_of[p['finding_id']]}" if p["finding_id"] in marker_of else "",
                 p["caption"] or ""]
        return " · ".join(x for x in parts if x) or "沿线照片"

    def source(p: dict) -> str:
        if not embed_photos:
            return p["url"]
        path, content_type = photo_store.lookup(conn, p["sha256"])
        return f"data:{content_type};base64,{base64.b64encode(path.read_bytes()).decode()}"

    pics = "".join(
        f"<figure><img src='{e(source(p))}' alt='{e(caption(p))}'"
        f"{'' if embed_photos else ' loading=lazy'}>"
        f"<figcaption>{e(caption(p))} · sha256 {e(p['sha256'][:12])}…</figcaption>"
        f"</figure>" for p in record["photos"]) or "<p>无照片</p>"

    def signed(side: str) -> str:
        who, at = record[f"side_{side}_signed_by"], record[f"side_{side}_signed_at"]
        return f"{e(who)} · {e(beijing_time(at))}" if who else "未签认"

    officers_a = "、".join(record["side_a_officers"]) or "—"
    officers_b = "、".join(record["side_b_officers"]) or "—"
    warning = ("<p class='warn'>示意数据 ILLUSTRATIVE: the township line and/or markers are "
               "generated for the sample, not surveyed.</p>" if illustrative else "")
    correction = (f"<p>本记录更正联检记录 #{record['corrects_id']} (correction of "
                  f"#{record['corrects_id']}).</p>" if record["corrects_id"] else "")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>联检报告 {e(line.side_a_name)}—{e(line.side_b_name)} {e(record['round'])}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC",sans-serif;margin:2em auto;max-width:60em;
padding:0 1em;color:#222}}
h1{{font-size:1.5em}} table{{border-collapse:collapse;width:100%;font-size:.9em}}
th,td{{border:1px solid #999;padding:.3em .5em;text-align:left}} .num{{text-align:right}}
.map{{width:100%;border:1px solid #999;background:#fafafa}} .warn{{background:#fff3cd;
padding:.5em;border:1px solid #e0c36b}} figure{{display:inline-block;margin:.5em;width:14em}}
figure img{{width:100%}} figcaption{{font-size:.8em}} .sign td{{height:3em}}
@media print{{@page{{size:A4;margin:15mm}} body{{margin:0;max-width:none}}
figure{{break-inside:avoid}}}}
</style></head><body>
<h1>行政区域界线联合检查报告(联检报告)</h1>
{warning}
<p>界线 #{line.id}: <b>{e(line.side_a_name)}</b>({e(line.side_a_code)})—
<b>{e(line.side_b_name)}</b>({e(line.side_b_code)}) · 级别 {e(line.level)} ·
长度 {line.length_m / 1000:.3f} km</p>
<p>联检轮次 {e(record['round'])} · 检查日期 {e(record['inspected_on'])} ·
记录 #{record['id']} · 状态 {e(STATES[record['state']])}</p>
{correction}
{_svg(from_db(line.geom), points)}
<h2>界桩检查情况</h2>
<table><thead><tr><th>界桩编号</th><th>类型</th><th>登记位置 (CGCS2000)</th><th>状况</th>
<th>实测位置</th><th class="num">位移 (m)</th><th>说明</th></tr></thead>
<tbody>{''.join(rows) or '<tr><td colspan=7>该界线无界桩</td></tr>'}</tbody></table>
<h2>沿线情况</h2><ul>{notes}</ul>
<h2>照片</h2>{pics}
<h2>双方签认</h2>
<table class="sign"><tr><th></th><th>{e(line.side_a_name)}</th><th>{e(line.side_b_name)}</th></tr>
<tr><td>参检人员</td><td>{e(officers_a)}</td><td>{e(officers_b)}</td></tr>
<tr><td>签认</td><td>{signed('a')}</td><td>{signed('b')}</td></tr></table>
<p><small>Displacements are geodesic distances on the CGCS2000 ellipsoid between the
registered and the measured position, computed by the service.</small></p>
</body></html>"""
