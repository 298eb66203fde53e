"""A web map on another origin reads the OGC tiles: MapLibre GL (web_map's npm package) in
Debian's headless Chromium, on a page served from a second local port, loads the care-map
TileJSON of the running service and draws its tiles."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import text

REPO = Path(__file__).resolve().parents[1]
MAPLIBRE = REPO / "web_map" / "node_modules" / "maplibre-gl" / "dist"
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
# SwiftShader gives headless Chromium the WebGL 2 MapLibre needs (no GPU here).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]
PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>另一个网站上的关爱地图</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="maplibre-gl.css">
<style>body{margin:0} #map{width:640px;height:480px}</style></head>
<body><div id="map"></div>
<script src="maplibre-gl.js"></script>
<script>
window.errors = [];
const map = new maplibregl.Map({
  container: "map", center: [105.72, 29.7], zoom: 9, fadeDuration: 0,
  style: {version: 8,
          sources: {care: {type: "vector", url: "SERVICE/tiles/WebMercatorQuad/tilejson.json"}},
          layers: [
            {id: "bg", type: "background", paint: {"background-color": "#ffffff"}},
            {id: "towns", type: "fill", source: "care", "source-layer": "townships",
             paint: {"fill-color": "#2e7d32", "fill-opacity": 0.35}},
            {id: "sites", type: "circle", source: "care", "source-layer": "eldercare_sites",
             paint: {"circle-radius": 3, "circle-color": "#c62828"}}]}});
map.on("error", (e) => window.errors.push(String(e.error && e.error.message || e)));
map.on("idle", () => {
  window.drawn = {
    sites: new Set(map.querySourceFeatures("care", {sourceLayer: "eldercare_sites"})
                   .map((f) => f.id)).size,
    towns: new Set(map.querySourceFeatures("care", {sourceLayer: "townships"})
                   .map((f) => f.id)).size,
    bounds: map.getSource("care").bounds};
});
</script></body></html>
"""


@pytest.fixture(scope="module")
def other_origin(live_server: str, tmp_path_factory) -> Iterator[str]:
    """A second local web server (another origin: another port) with the MapLibre page."""
    assert (MAPLIBRE / "maplibre-gl.js").is_file(), \
        "maplibre-gl is missing: run 'npm ci --prefix web_map'"
    folder = tmp_path_factory.mktemp("other_origin")
    (folder / "index.html").write_text(PAGE.replace("SERVICE", live_server), encoding="utf-8")
    for name in ("maplibre-gl.js", "maplibre-gl.css"):
        (folder / name).write_bytes((MAPLIBRE / name).read_bytes())
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:  # stopping Playwright closes the browser
        yield p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def test_maplibre_on_another_origin_draws_the_care_map_tiles(browser, other_origin,
                                                               live_server, sample_engine):
    assert other_origin != live_server
    page = browser.new_page(viewport={"width": 640, "height": 480})
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    page.goto(f"{other_origin}/index.html")
    page.wait_for_function("() => window.drawn !== undefined || window.errors.length > 0",
                           timeout=60_000)
    drawn = page.evaluate("window.drawn")
    errors = page.evaluate("window.errors")
    assert not errors and not failed, (errors, failed)
    with sample_engine.connect() as conn:
        towns = conn.execute(text("SELECT count(*) FROM admin_areas WHERE is_public "
                                  "AND level = 'township'")).scalar_one()
        sites = conn.execute(text("SELECT count(*) FROM eldercare_sites WHERE is_public"
                                  )).scalar_one()
    assert drawn["towns"] == towns  # the whole district is in view at z9
    assert 0 < drawn["sites"] <= sites
    assert 105 < drawn["bounds"][0] < 106 and 29 < drawn["bounds"][1] < 30
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "maplibre_other_origin.png"
    page.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    colours = {"red": int(((r > 150) & (g < 90) & (b < 90)).sum()),
               "green": int(((g > r + 20) & (g > b + 20)).sum())}
    assert colours["red"] > 100 and colours["green"] > 10_000, colours
    page.close()


def test_items_page_with_a_projected_crs_draws_sites_inside_the_district(browser, live_server):
    """crs=EPSG:4544 (northing, easting in metres) asks for the JSON's CRS; the page's map
    still draws the sites on the district (it gets CRS84), and errors are Chinese pages."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(f"{live_server}/collections/child_sites/items?f=html&limit=1000&crs=EPSG:4544")
    page.wait_for_selector(".leaflet-background-pane path", timeout=30_000)
    boxes = page.evaluate("""() => {
      const box = (el) => { const r = el.getBoundingClientRect();
                            return [r.left, r.top, r.right, r.bottom]; };
      const outline = '.leaflet-background-pane path[stroke="#333333"]';
      return {district: box(document.querySelector(outline)),
              sites: [...document.querySelectorAll('.leaflet-overlay-pane path')].map(box)};
    }""")
    left, top, right, bottom = boxes["district"]
    assert len(boxes["sites"]) > 100
    for x0, y0, x1, y1 in boxes["sites"]:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        assert left <= cx <= right and top <= cy <= bottom
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "ogc_items_epsg4544.png"), full_page=False)
    response = page.goto(f"{live_server}/collections/child_sites/items?f=html&filter=kind%20==")
    assert response.status == 400 and "请求有误" in page.content()
    page.screenshot(path=str(SCREENSHOTS / "ogc_error_400.png"))
    page.close()
