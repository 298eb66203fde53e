"""The care map in a real browser: Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import text

from geo_service.maps.categories import CATEGORIES

REPO = Path(__file__).resolve().parents[1]
# Written on every run (gitignored); docs/screenshots holds the copies shown in the README.
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
HERE = {"longitude": 105.7405, "latitude": 29.7012}  # a point in 棠香街道
CONTRAST_JS = """(sel) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent && el.tagName !== 'BODY') continue;
    const fg = parse(getComputedStyle(el).color);
    let bg = null;
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) { bg = c; break; }
    }
    bg = bg || [255, 255, 255];
    const [a, b] = [lum(fg) + 0.05, lum(bg) + 0.05].sort((x, y) => y - x);
    out.push({text: el.textContent.trim().slice(0, 20), ratio: a / b,
              size: parseFloat(getComputedStyle(el).fontSize)});
  }
  return out;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Recorder:
    """Every request, failure and script error of a page."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.bodies: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("response", self._keep_json)

    def _keep_json(self, response) -> None:
        if "json" in (response.headers.get("content-type") or ""):
            self.bodies.append(response.text())


def open_map(browser: Browser, base: str, path: str = "/map", *, size=(1366, 768),
             geolocation: dict | None = None) -> tuple[Page, Recorder]:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  locale="zh-CN", geolocation=geolocation,
                                  permissions=["geolocation"] if geolocation else [])
    page = context.new_page()
    recorder = Recorder(page)
    page.goto(base + path)
    page.wait_for_function("() => window.careMap && window.careMap.ready", timeout=20_000)
    return page, recorder


def test_page_loads_offline_with_every_category(browser, live_server) -> None:
    origin = urlsplit(live_server).netloc
    for name, size in (("care-map-phone", (390, 844)), ("care-map-desktop", (1366, 768))):
        page, rec = open_map(browser, live_server, size=size)
        page.wait_for_timeout(300)
        outside = [u for u in rec.urls if urlsplit(u).scheme not in {"data"}
                   and urlsplit(u).netloc != origin]
        assert not outside and not rec.failed and not rec.errors, (outside, rec.failed, rec.errors)
        for cat in CATEGORIES:
            shown = page.locator(f'.leaflet-marker-pane [data-cat="{cat.id}"]')
            assert shown.count() > 0, cat.id
            chip = page.locator("#legend-items label", has_text=cat.title)
            assert chip.count() == 1 and "(" in chip.inner_text()
        assert "示意" in page.inner_text("#attribution")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        assert (SCREENSHOTS / f"{name}.png").stat().st_size < 400_000
        page.context.close()


@pytest.fixture
def without_roads(sample_engine) -> Iterator[None]:
    """The sample with its road layer hidden: the care map falls back to straight lines."""
    with sample_engine.begin() as conn:
        conn.execute(text("UPDATE roads SET is_public = false"))
    yield
    with sample_engine.begin() as conn:
        conn.execute(text("UPDATE roads SET is_public = true"))


def test_near_me_lists_facilities_by_geodesic_distance(browser, live_server, sample_engine,
                                                       without_roads) -> None:
    page, _ = open_map(browser, live_server, geolocation=HERE)
    page.click("#near-me")
    page.wait_for_selector('#results[data-kind="nearest"] .row')
    rows = page.locator("#results .row")
    shown = [(rows.nth(i).get_attribute("data-id"), float(rows.nth(i).get_attribute(
        "data-distance"))) for i in range(rows.count())]
    with sample_engine.connect() as conn:
        expected = conn.execute(text("""
            WITH here AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography AS g)
            SELECT fid, d FROM (
              SELECT 'eldercare_sites:' || id AS fid, ST_Distance(geom::geography, here.g) AS d
                FROM eldercare_sites, here WHERE is_public
              UNION ALL SELECT 'child_sites:' || id, ST_Distance(geom::geography, here.g)
                FROM child_sites, here WHERE is_public
              UNION ALL SELECT 'funeral_sites:' || id, ST_Distance(geom::geography, here.g)
                FROM funeral_sites, here WHERE is_public) s
            ORDER BY d, fid LIMIT 10"""), HERE | {"lon": HERE["longitude"],
                                                 "lat": HERE["latitude"]}).all()
    assert [d for _, d in shown] == sorted(d for _, d in shown)
    assert [d for _, d in shown] == pytest.approx([float(r.d) for r in expected], abs=0.1)
    assert {f for f, _ in shown} == {r.fid for r in expected}
    first = rows.first
    first.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    assert first.get_attribute("aria-current") == "true"
    assert "f=" + shown[0][0].replace(":", "%3A") in page.url
    assert page.locator("#card a[href^='tel:']").count() >= 1 or "电话" not in page.inner_text(
        "#card")
    page.context.close()


def test_search_baoding_moves_the_map_to_the_place(browser, live_server, sample_engine) -> None:
    page, _ = open_map(browser, live_server)
    before = page.evaluate("() => window.careMap.map.getCenter()")
    uses = page.evaluate("() => window.careMap.config.search")
    statuses: dict[str, int] = {}
    page.on("response", lambda r: statuses.update({urlsplit(r.url).path: r.status}))
    page.fill("#q", "宝顶")
    page.press("#q", "Enter")
    page.wait_for_selector('#results[data-kind="search"] .row')
    names = page.locator("#results .row .name").all_inner_texts()
    assert names and "宝顶" in names[0] and sum("宝顶" in n for n in names) >= 3, names
    with sample_engine.connect() as conn:
        town = conn.execute(text("SELECT ST_X(ST_PointOnSurface(geom)) x, ST_Y("
                                 "ST_PointOnSurface(geom)) y FROM place_names "
                                 "WHERE name = '宝顶镇'")).one()
    page.wait_for_function(  # the map (animated) ends up at 宝顶, within about 5 km
        "([x, y]) => { const c = careMap.map.getCenter();"
        " return Math.abs(c.lng - x) < 0.05 && Math.abs(c.lat - y) < 0.05; }",
        arg=[town.x, town.y], timeout=8000)
    after = page.evaluate("() => window.careMap.map.getCenter()")
    assert abs(after["lng"] - before["lng"]) + abs(after["lat"] - before["lat"]) > 0.02
    assert uses == {"url": "/places/search"}  # the gazetteer's search
    assert statuses.get("/places/search") == 200
    page.context.close()


def test_elderly_mode_is_large_high_contrast_and_remembered(browser, live_server) -> None:
    page, _ = open_map(browser, live_server, size=(390, 844))
    normal = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    page.click("#elder-toggle")
    page.wait_for_timeout(200)
    page.reload()
    page.wait_for_function("() => window.careMap && window.careMap.ready")
    assert page.get_attribute("#elder-toggle", "aria-pressed") == "true"
    for item in page.evaluate(CONTRAST_JS, "body, #status, .chip .title, .chip .count, .btn, "
                                           "#q, #attribution, .legend legend"):
        assert item["size"] >= 18 or item["text"] == "", item
        assert item["ratio"] >= 4.5, item
    assert normal < 18
    for box in page.locator(".btn, .chip").all():
        height = box.bounding_box()["height"]
        assert height >= 60, (box.inner_text(), height)
    page.context.close()


def test_keyboard_share_link_and_non_public_site(browser, live_server, sample_engine) -> None:
    with sample_engine.connect() as conn:
        public = conn.execute(text("SELECT id, name, ST_X(geom) x, ST_Y(geom) y FROM "
                                   "eldercare_sites WHERE is_public ORDER BY id LIMIT 1")).one()
        hidden = conn.execute(text("SELECT id, name FROM child_sites WHERE NOT is_public")).all()
    view = f"#17/{public.y:.5f}/{public.x:.5f}"
    page, rec = open_map(browser, live_server, f"/map?f=eldercare_sites:{public.id}{view}")
    page.wait_for_selector("#card:not([hidden]) h2")
    assert public.name in page.inner_text("#card h2")
    page.click("#card-close")
    marker = page.locator(f'.leaflet-marker-icon[aria-label^="{public.name}"]').first
    marker.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#card:not([hidden]) h2")
    assert public.name in page.inner_text("#card h2")
    dom = page.content()
    page.goto(f"{live_server}/map?f=child_sites:{hidden[0].id}")
    page.wait_for_function("() => window.careMap && window.careMap.ready")
    page.wait_for_timeout(500)
    assert page.locator("#card").is_hidden()
    ids = page.evaluate("() => Object.keys(window.careMap.features)")
    dom += page.content()
    for row in hidden:
        assert f"child_sites:{row.id}" not in ids and row.name not in dom
        assert all(row.name not in body for body in rec.bodies)
    page.context.close()


def test_exported_map_opens_from_a_file_with_no_network(browser, sample_url, tmp_path) -> None:
    out = tmp_path / "care-map.html"
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=sample_url.replace("postgresql+psycopg",
                                                                       "postgresql"))
    done = subprocess.run([sys.executable, "-m", "geo_service.cli", "export-map", str(out),
                           "--kinds", "elder_inst,老年食堂"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    context = browser.new_context()
    page = context.new_page()
    blocked: list[str] = []
    errors: list[str] = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("file:", "data:")) else (blocked.append(route.request.url), route.abort()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    page.wait_for_selector(".leaflet-marker-icon")
    assert not blocked and not errors, (blocked, errors)
    assert page.locator(".leaflet-marker-icon").count() > 5
    legend = page.inner_text(".cm-legend")
    assert "养老机构" in legend and "老年食堂" in legend and "殡葬" not in legend
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    viewport = page.get_attribute('meta[name="viewport"]', "content")
    assert "user-scalable=no" not in viewport and "maximum-scale" not in viewport
    scale = page.locator(".leaflet-control-scale-line").all_inner_texts()
    assert len(scale) == 1 and scale[0].endswith(("km", " m")), scale  # metric only
    context.close()


HOSTILE = '<img src="x" onerror="window.__xss = 1">岩'


@pytest.fixture(scope="module")
def hostile_server(database_factory, tmp_path_factory) -> Iterator[str]:
    """The service over a sample whose landmark and eldercare names carry HTML."""
    from geo_service.db import migrate
    from geo_service.db.engine import make_engine
    from geo_service.devserver import running_service
    from geo_service.sample import load_sample

    url = database_factory("hostile")
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_sample(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE place_names SET name = :n WHERE name = '宝顶山'"),
                     {"n": HOSTILE})
        conn.execute(text("UPDATE eldercare_sites SET name = :n "
                          "WHERE id = (SELECT min(id) FROM eldercare_sites WHERE is_public)"),
                     {"n": HOSTILE})
    engine.dispose()
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    with running_service(url, log=log) as base:
        yield base


def test_names_with_html_are_shown_as_text_never_run(browser, hostile_server) -> None:
    page, _ = open_map(browser, hostile_server)
    label = page.locator(".place-label", has_text="岩")  # the landmark's map label
    expect(label).to_have_count(1)
    assert label.text_content() == HOSTILE  # as text, not markup
    assert page.evaluate("window.__xss") is None and page.locator('img[src="x"]').count() == 0
    pages = ["/collections/place_names/items?f=html&limit=400",
             "/collections/eldercare_sites/items?f=html&limit=10"]
    for path in pages:
        page.goto(hostile_server + path)
        assert HOSTILE in page.inner_text("table")
        shapes = page.locator("#map .leaflet-interactive")
        for i in range(shapes.count()):  # open every feature's tooltip
            shapes.nth(i).dispatch_event("mouseover")
        assert HOSTILE in page.locator(".leaflet-tooltip").all_text_contents()
        assert page.evaluate("window.__xss") is None
        assert page.locator('img[src="x"]').count() == 0
    page.context.close()


def test_configured_amap_basemap_shifts_overlays_and_shows_review_number(
        browser, sample_url, tmp_path) -> None:
    """GEO_SERVICE_MAP_BASEMAP=amap: GCJ-02 overlays only (fetched once), 审图号 shown."""
    import re

    from geo_service.devserver import running_service

    tiles: list[str] = []

    def tile(route) -> None:  # no internet here: answer the Amap tiles locally
        tiles.append(route.request.url)
        route.fulfill(status=204)

    with running_service(sample_url, log=tmp_path / "amap.log", GEO_SERVICE_MAP_BASEMAP="amap",
                         GEO_SERVICE_MAP_REVIEW_NUMBER="GS(2024)0650号") as base:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
        page = context.new_page()
        rec = Recorder(page)
        page.route(re.compile(r"https://webrd0\d\.is\.autonavi\.com/.*"), tile)
        page.goto(base + "/map")
        page.wait_for_function("() => window.careMap && window.careMap.ready", timeout=20_000)
        assert tiles, "the Amap tile layer was not drawn"
        attribution = page.inner_text("#attribution")
        assert "底图：高德地图" in attribution and "审图号：GS(2024)0650号" in attribution
        overlays = [u for u in rec.urls
                    if "/map/api/background" in u or "/map/api/facilities" in u]
        page.wait_for_function("() => careMap.villagesLoaded")
        overlays = [u for u in rec.urls
                    if "/map/api/background" in u or "/map/api/facilities" in u]
        assert sorted(urlsplit(u).path + "?" + urlsplit(u).query for u in overlays) == [
            "/map/api/background?crs=gcj02", "/map/api/background?detail=villages&crs=gcj02",
            "/map/api/facilities?crs=gcj02"], overlays  # each fetched once, in GCJ-02
        assert not rec.errors, rec.errors
        context.close()
