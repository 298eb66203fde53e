"""folium maps that work with no internet: every CDN asset inlined from web_map/node_modules.

`new_map()` makes a folium.Map with no tile layer (the service's own layers are the
background); `save_self_contained(m, path)` writes ONE HTML file with Leaflet, its plugins'
CSS/JS and their images/fonts inlined, so it opens from a file:// URL or any web server.
Any asset that cannot be vendored is an error naming its URL (never a silent CDN link).
"""

from __future__ import annotations

import base64
import mimetypes
import re
from pathlib import Path
from typing import Any

import folium

from geo_service.errors import GeoServiceError
from geo_service.maps.vendor import licence_line, package_file, package_meta

DISTRICT_CENTRE = (29.70, 105.72)  # lat, lon of 大足区, the default view

_SCRIPT_TAG = re.compile(r'<script\s+src="(https?://[^"]+)"\s*>\s*</script>')
_CSS_TAG = re.compile(r'<link\s+rel="stylesheet"\s+href="(https?://[^"]+)"\s*/?>')
_NPM_CDN = re.compile(
    r"^https?://(?:cdn\.jsdelivr\.net/npm|unpkg\.com)/+((?:@[^/@]+/)?[^/@]+)(?:@[^/]*)?(/.*)?$")
_CDNJS = re.compile(r"^https?://cdnjs\.cloudflare\.com/ajax/libs/([^/]+)/[^/]+/(.+)$")
_FOLIUM_TEMPLATE = re.compile(
    r"^https?://cdn\.jsdelivr\.net/gh/python-visualization/folium(?:@[^/]+)?/folium/templates/"
    r"(.+)$")
_JQUERY = re.compile(r"^https?://code\.jquery\.com/jquery-[\d.]+(\.min)?\.js$")
# cdnjs library name -> (npm package, folder of the files inside it)
_CDNJS_PACKAGES = {
    "leaflet": ("leaflet", "dist"),
    "leaflet.markercluster": ("leaflet.markercluster", "dist"),
    "Leaflet.awesome-markers": ("leaflet.awesome-markers", "dist"),
    "d3": ("d3", ""),
}
# folium.Map links these for its awesome-marker icons: needed only when a map draws one.
_AWESOME_ONLY = ("awesome-markers", "awesome.rotate", "fontawesome", "glyphicons")
# folium.Map's legacy extras (jQuery, Bootstrap, glyphicons, icon rotation): Leaflet and the
# awesome-marker icons (prefix='fa') work without them, so they are left out when not vendored.
_MAP_EXTRAS = frozenset(
    url for name, url in [*folium.Map.default_js, *folium.Map.default_css]
    if name in {"jquery", "bootstrap", "bootstrap_css", "glyphicons_css", "awesome_rotate_css"})
_REMOTE_LEFT = re.compile(
    r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)\s*=\s*["']?(?:https?:)?//"""
    r"""|url\(\s*["']?(?:https?:)?//|L\.tileLayer(?:\.wms)?\(\s*["'](?:https?:)?//""",
    re.IGNORECASE)
_CSS_URL = re.compile(r"""url\(\s*(["']?)([^)"']+)\1\s*\)""")
_TTF_FALLBACK = re.compile(r""",\s*url\([^)]*\.ttf\)\s*format\(["']truetype["']\)""")


class OfflineAssetError(GeoServiceError):
    """An asset of a folium map has no vendored copy (so the file would need the internet)."""


def new_map(**kwargs: Any) -> folium.Map:
    """A folium.Map centred on the district with no tile layer (kwargs override the defaults)."""
    options: dict[str, Any] = {"location": DISTRICT_CENTRE, "zoom_start": 10, "tiles": None,
                               "control_scale": True, "min_zoom": 7, "max_zoom": 18}
    options.update(kwargs)
    m = folium.Map(**options)
    # folium gives zoom limits to the tile layer only; with no tiles the map itself needs them
    # (marker clusters refuse to work without a maxZoom).
    m.options.setdefault("min_zoom", options["min_zoom"])
    m.options.setdefault("max_zoom", options["max_zoom"])
    return m


def _data_uri(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or (
        "font/woff2" if path.suffix == ".woff2" else "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _npm_entry(package: str) -> str:
    meta = package_meta(package)
    for key in ("jsdelivr", "unpkg", "browser", "main"):
        if isinstance(meta.get(key), str):
            return meta[key]
    raise OfflineAssetError(f"npm package {package!r} names no browser file in package.json")


def resolve(url: str) -> tuple[str, Path] | None:
    """The vendored (package, file) for a CDN URL, or None if it has no vendored copy."""
    if match := _NPM_CDN.match(url):
        package, path = match.group(1), (match.group(2) or "").strip("/")
        return package, package_file(package, path or _npm_entry(package))
    if match := _CDNJS.match(url):
        if match.group(1) not in _CDNJS_PACKAGES:
            return None
        package, folder = _CDNJS_PACKAGES[match.group(1)]
        return package, package_file(package, f"{folder}/{match.group(2)}".strip("/"))
    if match := _FOLIUM_TEMPLATE.match(url):
        local = Path(folium.__file__).parent / "templates" / match.group(1)
        return ("folium", local) if local.is_file() else None
    if match := _JQUERY.match(url):
        return "jquery", package_file("jquery", f"dist/jquery{match.group(1) or ''}.js")
    return None


def _optional(url: str, html: str) -> bool:
    """True for folium.Map's icon assets when the map draws no awesome-marker icon."""
    lowered = url.lower()
    return "L.AwesomeMarkers.icon" not in html and any(p in lowered for p in _AWESOME_ONLY)


def _safe_resolve(url: str, html: str) -> tuple[str, Path] | None:
    """The vendored file for an asset, None to leave it out, or an error if it is needed."""
    if _optional(url, html):
        return None
    try:
        found = resolve(url)
    except GeoServiceError:
        found = None
    if found is None and url not in _MAP_EXTRAS:
        raise OfflineAssetError(
            f"map asset {url} has no vendored copy: add its npm package to web_map/package.json "
            f"(npm install --save-exact --prefix web_map <package>) or use another plugin")
    return found


def _inline_css(package: str, path: Path) -> str:
    css = _TTF_FALLBACK.sub("", path.read_text(encoding="utf-8"))

    def embed(match: re.Match[str]) -> str:
        ref = match.group(2).strip()
        if ref.startswith(("data:", "#")):
            return match.group(0)
        if re.match(r"^(?:https?:)?//", ref):
            raise OfflineAssetError(f"{path.name} of {package} loads {ref} from the internet")
        target = (path.parent / ref.split("?")[0].split("#")[0]).resolve()
        if not target.is_file():
            raise OfflineAssetError(f"{path.name} of {package} refers to missing file {ref}")
        return f'url("{_data_uri(target)}")'

    css = _CSS_URL.sub(embed, css).replace("</style", "<\\/style")
    return f"<style>/* {_header(package, path)} */\n{css}\n</style>"


def _header(package: str, path: Path) -> str:
    who = "folium (MIT)" if package == "folium" else licence_line(package)
    return f"{who}: {path.name}, inlined for offline use"


def _leaflet_icon_fix() -> str:
    """Leaflet finds its marker images through CSS; point it at inlined copies instead."""
    images = {key: _data_uri(package_file("leaflet", f"dist/images/{name}")) for key, name in (
        ("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
        ("shadowUrl", "marker-shadow.png"))}
    options = ",".join(f'{key}:"{uri}"' for key, uri in images.items())
    return f"<script>L.Icon.Default.imagePath=\"\";L.Icon.Default.mergeOptions({{{options}}});" \
           "</script>"


def _inline_js(package: str, path: Path) -> str:
    code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
    tag = f"<script>/* {_header(package, path)} */\n{code}\n</script>"
    if package == "leaflet" and path.name.startswith("leaflet"):
        tag += _leaflet_icon_fix()
    return tag


def render_self_contained(m: folium.Map) -> str:
    """The map as one HTML document with every CSS/JS asset inlined; no internet needed."""
    html = m.get_root().render()
    if '"prefix": "glyphicon"' in html:
        raise OfflineAssetError("folium.Icon with the default glyphicon prefix needs Bootstrap 3 "
                                "fonts from the internet: use folium.Icon(..., prefix='fa')")

    def js(match: re.Match[str]) -> str:
        found = _safe_resolve(match.group(1), html)
        return _inline_js(*found) if found else ""

    def css(match: re.Match[str]) -> str:
        found = _safe_resolve(match.group(1), html)
        return _inline_css(*found) if found else ""

    out = _CSS_TAG.sub(css, _SCRIPT_TAG.sub(js, html))
    if remote := _REMOTE_LEFT.search(out):
        near = out[max(remote.start() - 60, 0):remote.end() + 80]
        raise OfflineAssetError(
            f"the map still loads something from the internet near: {near!r} "
            "(tile layers and remote images cannot be used in an offline map)")
    return out


def save_self_contained(m: folium.Map, path: str | Path) -> Path:
    """Write the map as a single self-contained HTML file; returns its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_self_contained(m), encoding="utf-8")
    return target
