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

from geo_service import crs
from geo_service.errors import GeoServiceError
from geo_service.maps.offline import new_map, render_self_contained

COVERED, UNCOVERED, SITE, GAP, AREA = "#1a9850", "#d73027", "#2c7fb8", "#fdae61", "#9ecae1"
ISO = {5.0: "#08519c", 10.0: "#4292c6", 15.0: "#9ecae1"}  # isochrones by minutes
ISO_OTHER = "#c6dbef"


def _geojson(geom: shapely.Geometry) -> dict:
    return shapely.geometry.mapping(geom)


def coverage_map(result) -> folium.Map:
    """Townships, service areas, gaps, sites and covered/uncovered units on a tile-less map."""
    study = result.study
    minx, miny, maxx, maxy = study.district_geom.bounds
    m = new_map(location=[(miny + maxy) / 2, (minx + maxx) / 2], prefer_canvas=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    towns = folium.FeatureGroup(name="镇街 townships", show=True).add_to(m)
    for code, name, geom in zip(study.townships.code, study.townships.name,
                                study.townships.geom, strict=True):
        folium.GeoJson(_geojson(geom), tooltip=f"{name} {code}", style_function=lambda _: {
            "color": "#555", "weight": 1, "fillColor": "#f7f7f7", "fillOpacity": 0.6,
        }).add_to(towns)
    if result.service_area is not None and not result.service_area.is_empty:
        folium.GeoJson(_geojson(result.service_area), name="服务范围 service areas",
                       style_function=lambda _: {"color": AREA, "weight": 0.5,
                                                 "fillColor": AREA, "fillOpacity": 0.35}
                       ).add_to(m)
    if result.gaps:
        folium.GeoJson(result.gaps_geojson(), name="覆盖空白 gaps",
                       style_function=lambda _: {"color": GAP, "weight": 1, "fillColor": GAP,
                                                 "fillOpacity": 0.55},
                       tooltip=folium.GeoJsonTooltip(["area_km2"], aliases=["空白面积 km²"])
                       ).add_to(m)
    iso = getattr(result, "isochrones", None)
    if iso and iso["features"]:
        folium.GeoJson(iso, name="沿道路等时圈 isochrones",
                       style_function=lambda f: {
                           "color": ISO.get(f["properties"]["minutes"], ISO_OTHER), "weight": 1,
                           "fillColor": ISO.get(f["properties"]["minutes"], ISO_OTHER),
                           "fillOpacity": 0.7},
                       tooltip=folium.GeoJsonTooltip(["minutes", "area_km2"],
                                                     aliases=["分钟", "面积 km²"])).add_to(m)
    sites = folium.FeatureGroup(name="设施 sites").add_to(m)
    for r in result.sites.itertuples():
        folium.CircleMarker([r.lat, r.lon], radius=3, color=SITE, fill=True, fill_opacity=1,
                            tooltip=html.escape(f"{r.name} ({r.kind})"
                                                + (" what-if" if r.whatif else ""))
                            ).add_to(sites)
    units = folium.FeatureGroup(name="村(社区) units").add_to(m)
    w = result.weight
    for r in result.units.itertuples():
        colour = COVERED if r.covered else UNCOVERED
        dist = "—" if np.isnan(r.nearest_distance_m) else f"{r.nearest_distance_m:.0f} m"
        minutes = getattr(r, "nearest_minutes", None)
        if minutes is not None and not np.isnan(minutes):
            dist += f" ({minutes:.1f} 分钟)"
        tip = f"{r.name}<br>{w}: {getattr(r, w)}<br>nearest: {r.nearest_name or '—'} {dist}"
        folium.CircleMarker([r.lat, r.lon], radius=4, color=colour, weight=1, fill=True,
                            fill_color=colour, fill_opacity=0.9, tooltip=tip).add_to(units)
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
    parts.append("</svg>")
    return "".join(parts)


def coverage_map_html(result) -> tuple[str, str]:
    """('leaflet', standalone map document) or ('svg', inline SVG) for the report."""
    try:
        return "leaflet", render_self_contained(coverage_map(result))
    except GeoServiceError:  # Leaflet not vendored (npm ci not run): a static map instead
        return "svg", svg_map(result)
