"""The report's map: an offline folium (Leaflet) map, or an inline SVG fallback.

`coverage_map_html(result)` is the one call the report makes. The map has no tile layer and
loads nothing from the internet: geo_service.maps.offline (the shared offline folium
builder) inlines Leaflet from web_map/node_modules. If those packages are not installed the
report still gets a static SVG map.
"""

from __future__ import annotations

import html

import folium
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo_service import crs
from geo_service.coverage.labels import metres, weight_title
from geo_service.errors import GeoServiceError
from geo_service.maps.offline import new_map, render_self_contained

COVERED, UNCOVERED, SITE, GAP, AREA = "#1a9850", "#d73027", "#2c7fb8", "#fdae61", "#9ecae1"
ISO = {5.0: "#08519c", 10.0: "#4292c6", 15.0: "#9ecae1"}  # isochrones by minutes
ISO_OTHER = "#c6dbef"
NEW_SITE = "#7b3294"  # suggested / what-if sites: purple diamonds, larger than existing sites
DIAMOND_STYLE = (f"width:12px;height:12px;background:{NEW_SITE};border:2px solid #fff;"
                 "box-shadow:0 0 2px #000;transform:rotate(45deg)")
LABEL_STYLE = ("font-size:11px;color:#333;font-weight:bold;white-space:nowrap;"
               "text-shadow:0 0 3px #fff,0 0 3px #fff;transform:translate(-50%,-50%)")


def _geojson(geom: BaseGeometry) -> dict:
    return shapely.geometry.mapping(geom)


def coverage_map(result) -> folium.Map:
    """Townships, service areas, gaps, sites and covered/uncovered units on a tile-less map."""
    study = result.study
    minx, miny, maxx, maxy = study.district_geom.bounds
    m = new_map(location=[(miny + maxy) / 2, (minx + maxx) / 2], prefer_canvas=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    towns = folium.FeatureGroup(name="镇街", show=True).add_to(m)
    for code, name, geom in zip(study.townships.code, study.townships.name,
                                study.townships.geom, strict=True):
        folium.GeoJson(_geojson(geom), tooltip=f"{html.escape(name)} {code}",
                       style_function=lambda _: {"color": "#555", "weight": 1,
                                                 "fillColor": "#f7f7f7", "fillOpacity": 0.6,
                                                 }).add_to(towns)
    if result.service_area is not None and not result.service_area.is_empty:
        folium.GeoJson(_geojson(result.service_area), name="服务范围",
                       style_function=lambda _: {"color": AREA, "weight": 0.5,
                                                 "fillColor": AREA, "fillOpacity": 0.35}
                       ).add_to(m)
    if result.gaps:
        folium.GeoJson(result.gaps_geojson(), name="覆盖空白",
                       style_function=lambda _: {"color": GAP, "weight": 1, "fillColor": GAP,
                                                 "fillOpacity": 0.55},
                       tooltip=folium.GeoJsonTooltip(["area_km2"], aliases=["空白面积 km²"])
                       ).add_to(m)
    iso = getattr(result, "isochrones", None)
    if iso and iso["features"]:
        folium.GeoJson(iso, name="沿道路等时圈",
                       style_function=lambda f: {
                           "color": ISO.get(f["properties"]["minutes"], ISO_OTHER), "weight": 1,
                           "fillColor": ISO.get(f["properties"]["minutes"], ISO_OTHER),
                           "fillOpacity": 0.7},
                       tooltip=folium.GeoJsonTooltip(["minutes", "area_km2"],
                                                     aliases=["分钟", "面积 km²"])).add_to(m)
    sites = folium.FeatureGroup(name="现有设施").add_to(m)
    new_sites = folium.FeatureGroup(name="新增(建议/假设)设施").add_to(m)
    for r in result.sites.itertuples():
        tip = html.escape(f"{r.name}({r.kind})" + ("，新增" if r.whatif else ""))
        if r.whatif:  # a CSS diamond (core Leaflet DivIcon: nothing to fetch)
            folium.Marker([r.lat, r.lon], tooltip=tip, icon=folium.DivIcon(
                html=f'<div style="{DIAMOND_STYLE}"></div>', icon_size=(16, 16),
                icon_anchor=(8, 8))).add_to(new_sites)
        else:
            folium.CircleMarker([r.lat, r.lon], radius=3, color=SITE, fill=True,
                                fill_opacity=1, tooltip=tip).add_to(sites)
    units = folium.FeatureGroup(name="村(社区)").add_to(m)
    w = result.weight
    wt = weight_title(w)
    for r in result.units.itertuples():
        colour = COVERED if r.covered else UNCOVERED
        minutes = getattr(r, "nearest_minutes", None)  # along roads: the travel time too
        when = ("" if minutes is None or np.isnan(minutes)
                else f"(沿道路，约 {minutes:.1f} 分钟)")
        tip = (f"{html.escape(r.name)}<br>{wt}：{getattr(r, w)} 人<br>最近设施："
               f"{html.escape(r.nearest_name or '—')} {metres(r.nearest_distance_m)} 米{when}<br>"
               f"{'已覆盖' if r.covered else '未覆盖'}")
        folium.CircleMarker([r.lat, r.lon], radius=4, color=colour, weight=1, fill=True,
                            fill_color=colour, fill_opacity=0.9, tooltip=tip).add_to(units)
    labels = folium.FeatureGroup(name="镇街名称").add_to(m)
    for name, geom in zip(study.townships.name, study.townships.geom, strict=True):
        pt = geom.representative_point()
        folium.Marker([pt.y, pt.x], icon=folium.DivIcon(
            html=f'<div style="{LABEL_STYLE}">{html.escape(name)}</div>',
            icon_size=(0, 0))).add_to(labels)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def svg_map(result, width: int = 720) -> str:
    """A static inline SVG map (townships, gaps, units) for when Leaflet is not installed."""
    study = result.study
    district = crs.to_metric(study.district_geom)
    x0, y0, x1, y1 = district.bounds
    scale = width / (x1 - x0)
    height = int((y1 - y0) * scale)

    def path(geom_ll: shapely.Geometry) -> str:
        g = crs.to_metric(geom_ll)
        out = []
        for poly in shapely.get_parts(g):
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                pts = " L".join(f"{(x - x0) * scale:.1f},{(y1 - y) * scale:.1f}" for x, y in xy)
                out.append(f"M{pts}Z")
        return " ".join(out)

    parts = [f'<svg class="map" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}">']
    for geom in study.townships.geom:
        parts.append(f'<path d="{path(geom)}" fill="#f7f7f7" stroke="#555" stroke-width="0.6"/>')
    for g in result.gaps:
        parts.append(f'<path d="{path(g["geometry"])}" fill="{GAP}" fill-opacity="0.6" '
                     'fill-rule="evenodd"/>')
    iso = getattr(result, "isochrones", None) or {"features": []}
    for f in iso["features"]:
        colour = ISO.get(f["properties"]["minutes"], ISO_OTHER)
        parts.append(f'<path d="{path(shapely.geometry.shape(f["geometry"]))}" fill="{colour}" '
                     'fill-opacity="0.45" fill-rule="evenodd"/>')
    ux, uy = crs.transformer(crs.STORAGE_SRID, crs.METRIC_SRID).transform(
        result.units.lon.to_numpy(), result.units.lat.to_numpy())
    for x, y, ok, name in zip(ux, uy, result.units.covered, result.units.name, strict=True):
        parts.append(f'<circle cx="{(x - x0) * scale:.1f}" cy="{(y1 - y) * scale:.1f}" r="3" '
                     f'fill="{COVERED if ok else UNCOVERED}"><title>{html.escape(name)}'
                     '</title></circle>')
    new = result.sites[result.sites.whatif]
    nx, ny = crs.transformer(crs.STORAGE_SRID, crs.METRIC_SRID).transform(
        new.lon.to_numpy(float), new.lat.to_numpy(float))
    for x, y, name in zip(nx, ny, new.name, strict=True):
        cx, cy = (x - x0) * scale, (y1 - y) * scale
        parts.append(f'<rect x="{cx - 5:.1f}" y="{cy - 5:.1f}" width="10" height="10" '
                     f'fill="{NEW_SITE}" stroke="#fff" transform="rotate(45 {cx:.1f} {cy:.1f})">'
                     f'<title>{html.escape(name)}</title></rect>')
    for name, geom in zip(study.townships.name, study.townships.geom, strict=True):
        pt = crs.to_metric(geom.representative_point())
        parts.append(f'<text x="{(pt.x - x0) * scale:.1f}" y="{(y1 - pt.y) * scale:.1f}" '
                     'font-size="10" text-anchor="middle" fill="#333">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def coverage_map_html(result) -> tuple[str, str]:
    """('leaflet', standalone map document) or ('svg', inline SVG) for the report."""
    try:
        return "leaflet", render_self_contained(coverage_map(result))
    except GeoServiceError:  # Leaflet not vendored (npm ci not run): a static map instead
        return "svg", svg_map(result)
