"""The public care map as ONE self-contained HTML file (folium, no CDN, no tile server)."""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import cast

import folium
import shapely
from branca.element import Figure
from folium.plugins import MarkerCluster
from sqlalchemy import Engine

from geo_service.maps import care_data
from geo_service.maps.categories import CATEGORIES, Category
from geo_service.maps.offline import new_map, render_self_contained
from geo_service.settings import DEFAULT_DISTRICT_CODE

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
.cm-legend{position:fixed;z-index:1000;left:10px;bottom:40px;background:#fff;color:#1a1a1a;
padding:4px 10px;border:1px solid #555;border-radius:6px;font:14px/1.6 sans-serif;max-width:320px;
max-height:45vh;overflow-y:auto}
.cm-legend .cm-sym{display:inline-flex;width:20px;height:20px;font-size:12px;margin-right:6px;
vertical-align:middle}
.cm-credits{font-size:12px;color:#333;margin-top:4px}
.cm-marker{display:flex;align-items:center;justify-content:center}
.leaflet-container .leaflet-popup-content a,.cm-legend a{color:#0b4f8a}
.cm-top{position:fixed;z-index:1001;left:56px;right:56px;top:8px;background:#fff;color:#1a1a1a;
border:1px solid #555;border-radius:6px;padding:4px 8px;font:15px/1.4 sans-serif;
max-height:60vh;overflow-y:auto}
.cm-top h1{font-size:1.1em;margin:0 0 4px}
#cm-search{display:flex;flex-wrap:wrap;gap:4px}
#cm-q{flex:1 1 8em;min-width:0;font:inherit;min-height:40px;padding:2px 6px;border:2px solid #777;
border-radius:6px}
.cm-btn{font:inherit;min-height:40px;padding:2px 10px;border:2px solid #1f4e9c;border-radius:6px;
background:#fff;color:#1f4e9c;cursor:pointer}
.cm-btn[aria-pressed="true"]{background:#1f4e9c;color:#fff}
#cm-status{margin:4px 0 0}#cm-status:empty{display:none}
#cm-hits{list-style:none;margin:4px 0 0;padding:0}#cm-hits li{margin:0 0 4px}
.cm-hit{width:100%;text-align:left}
.cm-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.cm-legend summary{cursor:pointer;font-weight:bold;min-height:32px}
html.elder .cm-top,html.elder .cm-legend,html.elder .cm-credits,html.elder .leaflet-container,
html.elder .leaflet-control-scale-line,html.elder .leaflet-control-attribution{font-size:20px}
html.elder .cm-btn,html.elder #cm-q,html.elder .cm-legend summary{min-height:60px}
html.elder .cm-top{left:80px;right:80px}
html.elder .leaflet-popup-content{font-size:20px}
html.elder .leaflet-container a.leaflet-popup-close-button{width:60px;height:60px;font:32px/60px
sans-serif}
html.elder .cm-marker,html.elder .cm-cluster{width:60px!important;height:60px!important;
margin-left:-30px!important;margin-top:-30px!important}
html.elder .cm-marker .cm-sym{width:40px;height:40px;font-size:20px}
html.elder .cm-cluster .cm-sym{width:60px!important;height:60px!important;font-size:20px}
html.elder .cm-legend .cm-sym{width:28px;height:28px;font-size:18px}
html.elder .leaflet-control-zoom a{width:60px;height:60px;line-height:60px;font-size:30px}
html.elder .leaflet-control-layers-toggle{width:60px;height:60px}
</style>"""


# the file's own top panel: title, search over the facilities, 长辈模式 (remembered)
_TOP_PANEL = """<header class="cm-top"><h1>大足区关爱地图</h1>
<form id="cm-search" role="search"><label for="cm-q" class="cm-sr">搜索设施名称</label>
<input id="cm-q" type="search" placeholder="搜索设施名称" maxlength="100" autocomplete="off">
<button type="submit" class="cm-btn">搜索</button>
<button type="button" id="cm-elder" class="cm-btn" aria-pressed="false">长辈模式</button></form>
<p id="cm-status" role="status" aria-live="polite"></p><ol id="cm-hits"></ol></header>"""
_TOP_SCRIPT = """
window.addEventListener("load", function () {
  var INDEX = __INDEX__, map = __MAP__, root = document.documentElement;
  var $ = function (id) { return document.getElementById(id); };
  function setElder(on) {
    root.classList.toggle("elder", on);
    $("cm-elder").setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem("careMap.elder", on ? "1" : "0"); } catch (e) {}
    map.invalidateSize();
  }
  var remembered = false;
  try { remembered = localStorage.getItem("careMap.elder") === "1"; } catch (e) {}
  setElder(remembered);
  $("cm-elder").addEventListener("click", function () {
    setElder(!root.classList.contains("elder"));
  });
  if (window.innerWidth >= 700) $("cm-legend").open = true;
  function show(hit) {
    var marker = window[hit[2]], group = window[hit[3]];
    group.zoomToShowLayer(marker, function () { marker.openPopup(); });
  }
  $("cm-search").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = $("cm-q").value.trim(), list = $("cm-hits");
    list.innerHTML = "";
    if (!q) { $("cm-status").textContent = "请输入设施名称。"; return; }
    var hits = INDEX.filter(function (h) { return h[0].indexOf(q) >= 0 || h[1].indexOf(q) >= 0; });
    $("cm-status").textContent = hits.length ? "找到 " + hits.length + " 处" +
      (hits.length > 8 ? "，列出前 8 处" : "") + "。" : "没有找到“" + q + "”。";
    hits.slice(0, 8).forEach(function (h) {
      var li = document.createElement("li"), b = document.createElement("button");
      b.type = "button"; b.className = "cm-btn cm-hit"; b.textContent = h[0] + "(" + h[1] + ")";
      b.addEventListener("click", function () { show(h); });
      li.appendChild(b); list.appendChild(li);
    });
    if (hits.length) show(hits[0]);
  });
});
"""


def _symbol(cat: Category, extra: str = "") -> str:
    return (f'<span class="cm-sym cm-{cat.shape}" style="background:{cat.colour}">'
            f"<b>{escape(cat.letter)}</b></span>{extra}")


def _cluster_js(cat: Category) -> str:
    """Cluster icons in the category's colour, with its letter (colour is not the only cue)."""
    return ("function(c){return L.divIcon({className:'cm-cluster',iconSize:[40,40],html:"
            f"'<div class=\"cm-sym cm-circle\" style=\"width:40px;height:40px;background:"
            f"{cat.colour}\"><b>{cat.letter}</b>'+c.getChildCount()+'</div>'}})}}")


def _card(row: dict, cat: Category) -> str:
    lines = [f"<b>{escape(row['name'])}</b>", escape(cat.title)]
    for field, title in _CARD_FIELDS:
        value = row.get(field)
        if value in (None, "", [], 0):  # no 「床位数：0」 on a canteen
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


def build_care_map(engine: Engine, categories: tuple[Category, ...] = CATEGORIES,
                   district_code: str = DEFAULT_DISTRICT_CODE) -> folium.Map:
    """A folium care map: own background layers, clustered public facilities, legend."""
    m = new_map(zoom_snap=0.25)
    with engine.connect() as conn:
        background = care_data.background(conn, district_code=district_code)
        credits = care_data.attribution(conn)
        rows = {cat.id: care_data.public_rows(conn, cat) for cat in categories}
    areas = [f for f in background["features"]
             if f["properties"].get("level") in ("district", "township")]
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
    index: list[list[str]] = []  # [name, category, marker variable, cluster variable]
    for cat in categories:
        group = MarkerCluster(name=f"{cat.title} ({len(rows[cat.id])})",
                              icon_create_function=_cluster_js(cat)).add_to(m)
        for row in rows[cat.id]:
            star = f" ★{row['star_rating']}" if row.get("star_rating") else ""
            marker = folium.Marker(
                (row["lat"], row["lon"]), tooltip=escape(row["name"] + star),
                popup=folium.Popup(_card(row, cat), max_width=320),
                icon=folium.DivIcon(html=_symbol(cat), icon_size=(40, 40), icon_anchor=(20, 20),
                                    class_name="cm-marker"),
            ).add_to(group)
            index.append([row["name"], cat.title, marker.get_name(), group.get_name()])
        legend.append(f"<div>{_symbol(cat)}{escape(cat.title)}：{len(rows[cat.id])} 处</div>")
    district = [f for f in areas if f["properties"]["level"] == "district"]
    if district:  # open on the whole district, on a phone as on a desktop
        x0, y0, x1, y1 = shapely.geometry.shape(district[0]["geometry"]).bounds
        m.fit_bounds([[y0, x0], [y1, x1]], padding=(4, 4))
    folium.LayerControl(collapsed=True).add_to(m)
    root = cast(Figure, m.get_root())
    note = f'<div class="cm-credits">{escape(credits["text"])}</div>'
    root.header.add_child(folium.Element(_MARKER_CSS))
    root.html.add_child(folium.Element(_TOP_PANEL))
    root.html.add_child(folium.Element(
        f'<details class="cm-legend" id="cm-legend"><summary>图例和数据来源</summary>'
        f"{''.join(legend)}{note}</details>"))
    index_json = json.dumps(index, ensure_ascii=False).replace("</", "<\\/")
    root.script.add_child(folium.Element(
        _TOP_SCRIPT.replace("__INDEX__", index_json).replace("__MAP__", m.get_name())))
    root.title = "大足区关爱地图"
    return m


def phone_ready(html: str) -> str:
    """Chinese page language, pinch-zoom allowed, a metric scale bar."""
    html = html.replace("<html>", '<html lang="zh-CN">', 1)
    html = re.sub(r'<meta name="viewport"[^>]*>',
                  '<meta name="viewport" content="width=device-width, initial-scale=1">', html,
                  count=1)
    return html.replace("L.control.scale()", "L.control.scale({imperial: false})")


def export_care_map(engine: Engine, path: str | Path,
                    categories: tuple[Category, ...] = CATEGORIES,
                    district_code: str = DEFAULT_DISTRICT_CODE) -> Path:
    """Write the self-contained care map HTML file; returns its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_self_contained(build_care_map(engine, categories, district_code))
    target.write_text(phone_ready(page), encoding="utf-8")
    return target
