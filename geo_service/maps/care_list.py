"""The care map as text: every public facility of a category, grouped by township, no map."""

from __future__ import annotations

from html import escape

from sqlalchemy import Connection, select

from geo_service.access import ANONYMOUS, row_filter
from geo_service.db.models import admin_areas
from geo_service.maps import care_data
from geo_service.maps.categories import CATEGORIES, Category

NO_TOWNSHIP = "未注明镇街"


def township_names(conn: Connection) -> dict[str, str]:
    """Public township codes → names."""
    query = select(admin_areas.c.code, admin_areas.c.name).where(admin_areas.c.level == "township")
    public = row_filter(admin_areas, ANONYMOUS)
    return dict(conn.execute(query if public is None else query.where(public)).tuples().all())


def by_township(conn: Connection, cat: Category) -> list[tuple[str, list[dict]]]:
    """(township name, facilities sorted by name) in township-code order; unknown last."""
    names = township_names(conn)
    groups: dict[str, list[dict]] = {}
    for row in care_data.public_rows(conn, cat):
        code = row.get("township_code")
        groups.setdefault(code if code in names else "", []).append(row)
    ordered = sorted(groups, key=lambda c: (c == "", c))
    return [(names.get(code, NO_TOWNSHIP), sorted(groups[code], key=lambda r: r["name"]))
            for code in ordered]


def _facts(row: dict) -> str:
    """The facts of one facility people choose by, as one line of text."""
    parts = [escape(row["kind"])]
    if row.get("star_rating"):
        parts.append(f"{row['star_rating']}星级")
    if row.get("beds") and row.get("occupied_beds") is not None and row["kind"] != "老年食堂":
        free = max(row["beds"] - row["occupied_beds"], 0)
        parts.append(f"床位 {row['beds']} 张，空余 {free} 张"
                     f"(截至 {row['updated_at'].date().isoformat()})" if row.get("updated_at")
                     else f"床位 {row['beds']} 张，空余 {free} 张")
    if row.get("services"):
        parts.append("服务：" + "、".join(escape(s) for s in row["services"]))
    if row.get("operator_type"):
        parts.append(escape(row["operator_type"]))
    return " · ".join(parts)


def render_list(conn: Connection, cat: Category, css_href: str) -> str:
    """The text list page (Chinese, 长辈模式 remembered from the map, no script needed)."""
    links = []
    for c in CATEGORIES:
        mark = ' class="btn primary" aria-current="page"' if c.id == cat.id else ' class="btn"'
        links.append(f'<a{mark} href="list?category={c.id}">{escape(c.title)}</a>')
    nav = " ".join(links)
    sections = []
    total = 0
    for township, rows in by_township(conn, cat):
        total += len(rows)
        items = []
        for row in rows:
            phone = (f'<br>电话：<a href="tel:{escape(row["phone"])}">{escape(row["phone"])}</a>'
                     if row.get("phone") else "")
            address = f"<br>地址：{escape(row['address'])}" if row.get("address") else ""
            items.append(f'<li><a href="../map?f={cat.layer}%3A{row["id"]}"><b>'
                         f'{escape(row["name"])}</b></a><br>{_facts(row)}{address}{phone}</li>')
        sections.append(f"<section><h2>{escape(township)}({len(rows)} 处)</h2>"
                        f'<ul class="text-list">{"".join(items)}</ul></section>')
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(cat.title)}(按镇街) - 大足区关爱地图</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="{escape(css_href)}">
<script>try {{ if (localStorage.getItem("careMap.elder") === "1")
document.documentElement.classList.add("elder"); }} catch (e) {{}}</script>
<style>.text-page{{max-width:760px;margin:0 auto;padding:8px 12px 24px}}
.text-page nav{{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}}
.text-page nav a,.text-page .back{{display:inline-flex;align-items:center;text-decoration:none}}
.text-list{{padding-left:1.2em}}.text-list li{{margin:0 0 10px}}
.text-list a{{display:inline-flex;align-items:center;min-height:var(--tap)}}</style>
</head><body><main class="text-page">
<p><a class="btn back" href="../map">返回地图</a></p>
<h1>{escape(cat.title)}：{total} 处(按镇街列出)</h1>
<nav aria-label="设施类别">{nav}</nav>
{"".join(sections) or "<p>暂无公开的设施。</p>"}
</main></body></html>"""
