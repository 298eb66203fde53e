"""The public care map as ONE self-contained HTML file (folium, no CDN, no tile server)."""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

import folium
from folium.plugins import MarkerCluster
from sqlalchemy import Engine

from geo_service.maps import care_data
from geo_service.maps.categories import CATEGORIES, Category
from geo_service.maps.offline import new_map, render_self_contained

_CARD_FIELDS = (("kind", "类型"), ("address", "地址"), ("phone", "电话"),
                ("opening_hours", "开放时间"), ("services", "服务内容"), ("beds", "床位数"),
                ("star_rating", "星级"), ("operator_type", "运营方式"), ("capacity", "容量"))
_MARKER_CSS = """<style>
.cm-sym{display:flex;align-items:center;justify-content:center;width:26px;height:26px;color:#fff;
font:bold 14px sans-serif;border:2px solid #fff;box-shadow:0 0 0 1px #333}
.cm-square{border-radius:3px}.cm-circle{border-radius:50%}.cm-diamond{transform:rotate(45deg)}
.cm-diamond b{transform:rotate(-45deg)}.cm-pin{border-radius:50% 50% 50% 0;transform:rotate(-45deg)}
.cm-pin b{transform:rotate(45deg)}.cm-octagon{clip-path:polygon(30% 0,70% 0,100% 30%,100% 70%,
70% 100%,30% 100%,0 70%,0 30%)}
.cm-legend{position:fixed;z-index:1000;left:10px;bottom:56px;background:#fff;color:#1a1a1a;
padding:8px 10px;border:1px solid #555;border-radius:6px;font:14px/1.6 sans-serif;max-width:320px}
.cm-legend .cm-sym{display:inline-flex;width:20px;height:20px;font-size:12px;margin-right:6px;
vertical-align:middle}
.cm-credits{font-size:12px;color:#333;margin-top:4px}
</style>"""


def _symbol(cat: Category, extra: str = "") -> str:
    return (f'<span class="cm-sym cm-{cat.shape}" style="background:{cat.colour}">'
            f"<b>{escape(cat.letter)}</b></span>{extra}")


def _cluster_js(cat: Category) -> str:
    """Cluster icons in the category's colour, with its letter (colour is not the only cue)."""
    return ("function(c){return L.divIcon({className:'',iconSize:[36,36],html:"
            f"'<div class=\"cm-sym cm-circle\" style=\"width:36px;height:36px;background:"
            f"{cat.colour}\"><b>{cat.letter}</b>'+c.getChildCount()+'</div>'}})}}")


def _card(row: dict, cat: Category) -> str:
    lines = [f"<b>{escape(row['name'])}</b>", escape(cat.title)]
    for field, title in _CARD_FIELDS:
        value = row.get(field)
        if value in (None, "", []):
            continue
        text = "、".join(value) if isinstance(value, list) else str(value)
        if field == "phone":
            text = f'<a href="tel:{escape(text)}">{escape(text)}</a>'
        else:
            text = escape(text)
        lines.append(f"{title}：{text}")
    if row.get("geometry_accuracy") == "illustrative":
        lines.append("<i>位置为示意(示例数据)</i>")
    return "<br>".join(lines)


def build_care_map(engine: Engine, categories: tuple[Category, ...] = CATEGORIES) -> folium.Map:
    """A folium care map: own background layers, clustered public facilities, legend."""
    m = new_map()
    with engine.connect() as conn:
        background = care_data.background(conn)
        credits = care_data.attribution(conn)
        rows = {cat.id: care_data.public_rows(conn, cat) for cat in categories}
    areas = [f for f in background["features"] if f["properties"].get("level")]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": areas}, name="镇街",
        style_function=lambda f: {
            "color": "#333" if f["properties"]["level"] == "district" else "#777",
            "weight": 3 if f["properties"]["level"] == "district" else 1,
            "fillColor": "#fbfaf6", "fillOpacity": 0 if f["properties"]["level"] == "district"
            else 1},
        tooltip=folium.GeoJsonTooltip(fields=["name"], labels=False),
    ).add_to(m)
    legend = []
    for cat in categories:
        group = MarkerCluster(name=f"{cat.title} ({len(rows[cat.id])})",
                              icon_create_function=_cluster_js(cat)).add_to(m)
        for row in rows[cat.id]:
            star = f" ★{row['star_rating']}" if row.get("star_rating") else ""
            folium.Marker(
                (row["lat"], row["lon"]), tooltip=escape(row["name"] + star),
                popup=folium.Popup(_card(row, cat), max_width=320),
                icon=folium.DivIcon(html=_symbol(cat), icon_size=(26, 26), icon_anchor=(13, 13),
                                    class_name="cm-marker"),
            ).add_to(group)
        legend.append(f"<div>{_symbol(cat)}{escape(cat.title)}：{len(rows[cat.id])} 处</div>")
    district = [f for f in areas if f["properties"]["level"] == "district"]
    if district:  # open on the whole district, on a phone as on a desktop
        bounds = folium.GeoJson(district[0]).get_bounds()
        m.fit_bounds(bounds, padding=(4, 4))
    folium.LayerControl(collapsed=True).add_to(m)
    note = f'<div class="cm-credits">{escape(credits["text"])}</div>'
    m.get_root().header.add_child(folium.Element(_MARKER_CSS))
    m.get_root().html.add_child(folium.Element(
        f'<div class="cm-legend" role="region" aria-label="图例"><b>大足区关爱地图</b>'
        f"{''.join(legend)}{note}</div>"))
    m.get_root().title = "大足区关爱地图"
    return m


def phone_ready(html: str) -> str:
    """Chinese page language, pinch-zoom allowed, a metric scale bar."""
    html = html.replace("<html>", '<html lang="zh-CN">', 1)
    html = re.sub(r'<meta name="viewport"[^>]*>',
                  '<meta name="viewport" content="width=device-width, initial-scale=1">', html,
                  count=1)
    return html.replace("L.control.scale()", "L.control.scale({imperial: false})")


def export_care_map(engine: Engine, path: str | Path,
                    categories: tuple[Category, ...] = CATEGORIES) -> Path:
    """Write the self-contained care map HTML file; returns its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(phone_ready(render_self_contained(build_care_map(engine, categories))),
                      encoding="utf-8")
    return target
