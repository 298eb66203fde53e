"""A printable A4 sheet of QR labels for a line's markers (3 × 8 labels of 70 × 37 mm)."""

from __future__ import annotations

from datetime import datetime
from html import escape as e
from urllib.parse import urlencode

import segno
from sqlalchemy import Connection, select

from geo_service.boundaries.report import BEIJING, beijing_time
from geo_service.db.models import boundary_lines, boundary_markers
from geo_service.errors import NotFoundError

PER_SHEET = 24


def field_url(base_url: str, marker_id: int) -> str:
    """The field form opened on one marker (what a label's QR code holds)."""
    return f"{base_url.rstrip('/')}/boundaries/field/?{urlencode({'marker': marker_id})}"


def render(conn: Connection, line_id: int, base_url: str,
           generated_at: datetime | None = None) -> str:
    """The label sheet of a line's markers as standalone HTML (prints on A4)."""
    line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
    if line is None:
        raise NotFoundError(f"boundary line {line_id} not found")
    rows = conn.execute(select(boundary_markers).where(boundary_markers.c.line_id == line_id)
                        .order_by(boundary_markers.c.number)).all()
    sides = f"{e(line.side_a_name)}—{e(line.side_b_name)}"
    labels = []
    for m in rows:
        qr = segno.make(field_url(base_url, m.id), error="m").svg_inline(
            scale=3, dark="#000", light=None, omitsize=True)
        retired = "" if m.status != "已废止" else "<div class='retired'>已废止</div>"
        labels.append(
            f"<div class='label'><div class='qr'>{qr}</div><div class='text'>"
            f"<div class='number'>{e(m.number)}</div><div>{e(m.marker_type)} · {e(m.status)}"
            f"</div><div>{sides}</div><div class='hint'>扫码打开外业表单</div>{retired}"
            "</div></div>")
    pages = ["".join(labels[i:i + PER_SHEET]) for i in range(0, len(labels), PER_SHEET)]
    body = "".join(f"<section class='sheet'>{p}</section>" for p in pages) or \
        "<p>这条界线还没有登记界桩。</p>"
    now = beijing_time(generated_at or datetime.now(BEIJING))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>界桩二维码标签 {sides}</title>
<style>
@page{{size:A4;margin:10mm 0 0 0}}
body{{margin:0;font-family:"Noto Sans CJK SC","WenQuanYi Micro Hei",system-ui,sans-serif;
color:#000}}
header{{padding:4mm 10mm;font-size:10pt}} header h1{{font-size:13pt;margin:0 0 1mm}}
.sheet{{display:grid;grid-template-columns:repeat(3,70mm);grid-auto-rows:37mm;
width:210mm;break-after:page}}
.label{{box-sizing:border-box;border:.2mm dashed #999;padding:2.5mm;display:flex;gap:2mm;
align-items:center;overflow:hidden}}
.qr svg{{width:30mm;height:30mm;display:block}}
.text{{font-size:8.5pt;line-height:1.35}} .number{{font-size:12pt;font-weight:bold}}
.hint{{color:#444;font-size:7.5pt}} .retired{{color:#b00;font-weight:bold}}
@media print{{header{{display:none}}}}
</style></head><body>
<header><h1>界桩二维码标签 · {sides} (界线 #{line.id})</h1>
共 {len(rows)} 个界桩, 每页 {PER_SHEET} 个 (70 × 37 mm);
扫码在手机上打开该界桩的外业表单 (需界管员登录)。
生成时间 {e(now)}。打印时请选 A4、实际大小 (100%)。</header>
{body}
</body></html>"""
