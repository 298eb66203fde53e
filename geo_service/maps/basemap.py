"""Optional tile basemaps for the care map (off by default: the map needs no internet).

天地图 is CGCS2000 (no offset); Amap tiles are GCJ-02, so with Amap the page asks the
service for every overlay in GCJ-02 (crs=gcj02) and they line up.
"""

from __future__ import annotations

from geo_service.settings import BasemapSettings

_TIANDITU = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile"
             "&VERSION=1.0.0&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
             "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}")
_AMAP = ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
         "&x={x}&y={y}&z={z}")



def basemap_config(settings: BasemapSettings) -> dict:
    """What the page needs to draw the configured basemap (kind 'none' = own layers only)."""
    kind = settings.map_basemap.strip().lower()
    review = settings.map_review_number
    if kind == "tianditu":
        if not settings.tianditu_key:
            return {"kind": "none", "crs": "EPSG:4490",
                    "problem": "GEO_SERVICE_MAP_BASEMAP=tianditu needs GEO_SERVICE_TIANDITU_KEY"}
        layers = [_TIANDITU.format(layer=name, key=settings.tianditu_key, s="{s}")
                  for name in ("vec", "cva")]
        return {"kind": "tianditu", "crs": "EPSG:4490", "layers": layers,
                "subdomains": "01234567", "attribution": "天地图", "review_number": review}
    if kind == "amap":
        return {"kind": "amap", "crs": "gcj02", "layers": [_AMAP], "subdomains": "1234",
                "attribution": "高德地图", "review_number": review}
    if kind not in {"", "none"}:
        return {"kind": "none", "crs": "EPSG:4490",
                "problem": f"GEO_SERVICE_MAP_BASEMAP={kind!r}: use none, tianditu or amap"}
    return {"kind": "none", "crs": "EPSG:4490"}
