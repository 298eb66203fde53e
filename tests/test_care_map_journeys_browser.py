"""The care map's journeys on phones and desktops, normal and 长辈模式, checked in Chromium.

Near-me from a rural point shows its answer on the first screen; 长辈模式 reaches the map
(text >= 18 px, hit areas >= 60 px); named places everywhere at zoom 14; nothing wider than
a 320 px phone; axe-core (web_map/node_modules/axe-core, an npm devDependency) finds no
serious or critical violation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_care_map_browser as care_map
from playwright.sync_api import Browser, Page
from sqlalchemy import text

browser = care_map.browser  # the module's headless Chromium fixture

RURAL = {"longitude": 105.60, "latitude": 29.60}  # farmland in the west of the district
AXE = Path(__file__).resolve().parents[1] / "web_map" / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {"phone": (390, 844), "desktop": (1366, 768), "small-desktop": (1280, 720)}
JOURNEYS = [(size, elder) for size in SIZES for elder in (False, True)]

# every visible piece of text on the page or the map, with its font size
TEXT_SIZES_JS = """() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('.sr-only, .skip, [hidden], script, style'))
      continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (!r.width || !r.height || r.bottom < 0 || r.top > innerHeight || r.right < 0 ||
        r.left > innerWidth) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden' || el.closest('.collides')) continue;
    out.push({text: n.textContent.trim().slice(0, 20), size: parseFloat(cs.fontSize),
              where: el.className || el.tagName});
  }
  return out;
}"""
# every marker and cluster on screen, with its tap area
HIT_AREAS_JS = """() => [...document.querySelectorAll('.leaflet-marker-pane .leaflet-marker-icon')]
  .map(el => el.getBoundingClientRect())
  .filter(r => r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth)
  .map(r => ({w: r.width, h: r.height}))"""
# the largest overlap (px, the smaller side) between two markers or clusters on screen
OVERLAP_JS = """() => {
  const r = [...document.querySelectorAll('.leaflet-marker-pane .leaflet-marker-icon')]
    .map(e => e.getBoundingClientRect())
    .filter(r => r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth);
  let worst = 0;
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) {
    const ox = Math.min(r[i].right, r[j].right) - Math.max(r[i].left, r[j].left);
    const oy = Math.min(r[i].bottom, r[j].bottom) - Math.max(r[i].top, r[j].top);
    if (ox > 0 && oy > 0) worst = Math.max(worst, Math.min(ox, oy));
  }
  return worst;
}"""
# the visible names of places on the map, and whether any two overlap
LABELS_JS = """() => {
  const map = document.getElementById('map').getBoundingClientRect();
  const shown = [...document.querySelectorAll('.leaflet-labels-pane .place-label')]
    .filter(el => !el.classList.contains('collides'))
    .map(el => ({name: el.textContent, r: el.getBoundingClientRect()}))
    .filter(l => l.r.left >= map.left && l.r.right <= map.right && l.r.top >= map.top &&
                 l.r.bottom <= map.bottom);
  let overlaps = 0;
  for (let i = 0; i < shown.length; i++) for (let j = i + 1; j < shown.length; j++) {
    const a = shown[i].r, b = shown[j].r;
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
  }
  return {names: shown.map(l => l.name), overlaps};
}"""


def open_page(browser: Browser, base: str, size: tuple[int, int], elder: bool, path: str = "/map",
              **kwargs) -> Page:
    """The map at a viewport, 长辈模式 chosen on the device (or not)."""
    phone = size[0] < 900
    context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  locale="zh-CN", is_mobile=phone, has_touch=phone, **kwargs)
    context.add_init_script(f"localStorage.setItem('careMap.elder', '{1 if elder else 0}')")
    page = context.new_page()
    page.goto(base + path)
    page.wait_for_function("() => window.careMap && careMap.ready && careMap.villagesLoaded",
                           timeout=20_000)
    return page


def near_me(page: Page) -> None:
    page.click("#near-me")
    page.wait_for_selector('#results[data-kind="nearest"] .row')
    page.wait_for_timeout(400)


def axe_violations(page: Page) -> list[dict]:
    """Serious and critical violations axe-core finds on the page as it is now."""
    assert AXE.is_file(), f"{AXE} is missing: run 'npm ci --prefix web_map' (devDependencies)"
    # evaluated through the DevTools protocol, which the page's CSP (script-src 'self') allows
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    found = page.evaluate("async () => (await axe.run(document)).violations.map(v => ("
                          "{id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map("
                          "n => n.target.join(' '))}))")
    return [v for v in found if v["impact"] in {"serious", "critical"}]


@pytest.mark.parametrize(("size", "elder"), JOURNEYS,
                         ids=[f"{s}-{'elder' if e else 'normal'}" for s, e in JOURNEYS])
def test_near_me_from_a_rural_point_shows_the_answer_on_the_first_screen(
        browser, live_server, sample_engine, size, elder) -> None:
    width, height = SIZES[size]
    page = open_page(browser, live_server, (width, height), elder, geolocation=RURAL,
                     permissions=["geolocation"])
    for main_action in ("#q", "#search .btn", "#near-me", "#status"):  # on the first screen
        box = page.locator(main_action).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (main_action, box)
    near_me(page)
    first = page.locator("#results .row").first
    with sample_engine.connect() as conn:
        nearest = conn.execute(text("""
            SELECT fid FROM (
              SELECT 'eldercare_sites:' || id fid, geom FROM eldercare_sites WHERE is_public
              UNION ALL SELECT 'child_sites:' || id, geom FROM child_sites WHERE is_public
              UNION ALL SELECT 'funeral_sites:' || id, geom FROM funeral_sites WHERE is_public) s
            ORDER BY ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:longitude,
                     :latitude), 4490)::geography) LIMIT 1"""), RURAL).scalar_one()
    assert first.get_attribute("data-id") == nearest
    row = first.bounding_box()
    assert row["y"] >= 0 and row["y"] + row["height"] <= height, row  # first row on screen
    status = page.locator("#status").bounding_box()
    assert status["y"] >= 0 and status["y"] + status["height"] <= height, status
    assert "最近的是" in page.inner_text("#status")
    # the first result's marker (or the cluster holding it) and "you are here" on the map
    inside = page.evaluate("""(id) => {
      const m = careMap.markers[id], shown = careMap.cluster.getVisibleParent(m);
      const map = document.getElementById('map').getBoundingClientRect();
      const within = (el) => { const r = el.getBoundingClientRect(), x = (r.left + r.right) / 2,
        y = (r.top + r.bottom) / 2; return x > map.left && x < map.right && y > map.top &&
        y < map.bottom && y < innerHeight; };
      return [!!shown && within(shown.getElement()),
              within(document.querySelector('.you-are-here .dot'))];
    }""", nearest)
    assert inside == [True, True], inside
    dot = page.locator(".you-are-here .dot").bounding_box()
    assert dot["width"] >= 26 and "您在这里" in page.inner_text(".you-are-here")
    page.context.close()


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_elder_mode_reaches_the_map_text_and_hit_areas(browser, live_server, size) -> None:
    page = open_page(browser, live_server, SIZES[size], True, geolocation=RURAL,
                     permissions=["geolocation"])
    views = []
    near_me(page)
    views.append("near me")
    page.locator("#results .row").first.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    page.wait_for_timeout(400)
    views.append("card")
    for view in ("#10/29.70/105.72", "#12/29.69/105.70", "#14/29.706/105.71", "#16/29.70/105.72"):
        page.evaluate("(h) => { const [z, y, x] = h.slice(1).split('/').map(Number);"
                      " careMap.map.setView([y, x], z, {animate: false}); }", view)
        page.locator("#map").scroll_into_view_if_needed()  # the open card may sit below it
        page.wait_for_timeout(500)
        small = [t for t in page.evaluate(TEXT_SIZES_JS) if t["size"] < 18]
        assert not small, (view, small[:10])
        hits = page.evaluate(HIT_AREAS_JS)
        assert hits and all(h["w"] >= 60 and h["h"] >= 60 for h in hits), (view, hits[:5])
        # one clustering for every category: no marker or cluster hides another (at most a
        # sliver of a 60 px icon overlaps, where the cluster grid puts two side by side)
        assert page.evaluate(OVERLAP_JS) < 20, view
    # a starred institution: its badge is as large as the rest
    page.evaluate("() => { const m = Object.values(careMap.markers).find(m => "
                  "m.feature.properties.star); careMap.map.setView(m.getLatLng(), 17, "
                  "{animate: false}); }")
    page.wait_for_timeout(500)
    badges = page.locator(".star-badge")
    assert badges.count() >= 1
    assert float(badges.first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 18
    assert not [t for t in page.evaluate(TEXT_SIZES_JS) if t["size"] < 18]
    page.context.close()


def test_named_places_at_zoom_14_anywhere_and_labels_below_markers(
        browser, live_server, sample_engine) -> None:
    with sample_engine.connect() as conn:
        points = conn.execute(text(
            "SELECT ST_X(p.geom) x, ST_Y(p.geom) y FROM admin_areas a, "
            "ST_Dump(ST_GeneratePoints(ST_Buffer(a.geom::geography, -1500)::geometry, 8, 14)) p "
            "WHERE a.level = 'district'")).all()
    assert len(points) == 8
    page = open_page(browser, live_server, SIZES["phone"], True)
    for point in points:
        page.evaluate("([x, y]) => careMap.map.setView([y, x], 14, {animate: false})",
                      [point.x, point.y])
        page.wait_for_timeout(300)
        labels = page.evaluate(LABELS_JS)
        assert len(labels["names"]) >= 3, (point, labels)
        assert labels["overlaps"] == 0, (point, labels)
        for zoom in (12, 16):  # every view from 12 to 16 names where it is
            page.evaluate("([x, y, z]) => careMap.map.setView([y, x], z, {animate: false})",
                          [point.x, point.y, zoom])
            page.wait_for_timeout(200)
            labels = page.evaluate(LABELS_JS)
            assert len(labels["names"]) >= 2 and labels["overlaps"] == 0, (point, zoom, labels)
    panes = page.evaluate("() => ['labels', 'marker'].map(n => +getComputedStyle("
                          "careMap.map.getPane(n === 'marker' ? 'markerPane' : n)).zIndex)")
    assert panes[0] < panes[1], panes  # names are drawn under the markers
    page.context.close()


def test_no_sideways_scrolling_at_320_px_in_elder_mode(browser, live_server) -> None:
    page = open_page(browser, live_server, (320, 640), True, geolocation=RURAL,
                     permissions=["geolocation"])
    overflow_js = """() => [document.documentElement.scrollWidth,
      [...document.querySelectorAll('button, .chip, .row, .card, #status')]
        .filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1)
        .map(e => (e.id || e.className) + ' ' + e.textContent.trim().slice(0, 12))]"""
    assert page.evaluate(overflow_js) == [320, []]
    near_me(page)
    page.locator("#results .row").first.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    assert page.evaluate(overflow_js) == [320, []]
    page.context.close()


def test_escape_and_a_new_search_close_the_card(browser, live_server) -> None:
    page = open_page(browser, live_server, SIZES["desktop"], False, geolocation=RURAL,
                     permissions=["geolocation"])
    near_me(page)
    page.locator("#results .row").nth(2).click()
    page.wait_for_selector("#card:not([hidden]) h2")
    assert "f=" in page.url
    page.keyboard.press("Escape")
    page.wait_for_selector("#card", state="hidden")
    assert "f=" not in page.url
    page.locator("#results .row").first.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    old = page.locator("#card").get_attribute("data-id")
    page.fill("#q", "宝顶山")  # a place: the old card goes, the address drops it
    page.press("#q", "Enter")
    page.wait_for_selector('#results[data-kind="search"] .row')
    assert page.locator("#card").is_hidden() and "f=" not in page.url, old
    page.context.close()


@pytest.mark.parametrize("elder", [False, True])
def test_desktop_side_panel_is_usable_and_cards_open_in_view(browser, live_server,
                                                             elder) -> None:
    page = open_page(browser, live_server, SIZES["small-desktop"], elder, geolocation=RURAL,
                     permissions=["geolocation"])
    near_me(page)
    side = page.locator("#side").bounding_box()
    assert side["height"] >= 300, side
    rows = page.locator("#results .row")
    last = rows.nth(rows.count() - 1)
    last.scroll_into_view_if_needed()
    last.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    page.wait_for_timeout(300)
    title = page.locator("#card h2").bounding_box()
    assert side["y"] <= title["y"] and title["y"] + title["height"] <= side["y"] + side["height"]
    page.context.close()


def test_zoom_buttons_come_before_the_markers(browser, live_server) -> None:
    page = open_page(browser, live_server, SIZES["desktop"], False)
    order = page.evaluate("""() => {
      const all = [...document.querySelectorAll('#map a, #map [tabindex="0"], #map button')];
      const zoom = all.findIndex(e => e.classList.contains('leaflet-control-zoom-in'));
      const marker = all.findIndex(e => e.classList.contains('leaflet-marker-icon'));
      return [zoom, marker];
    }""")
    assert 0 <= order[0] < order[1], order
    page.locator("#map").focus()
    page.keyboard.press("Tab")
    assert "leaflet-control-zoom-in" in page.evaluate("document.activeElement.className")
    page.context.close()


@pytest.mark.parametrize(("size", "elder"), [("phone", False), ("phone", True),
                                             ("desktop", False), ("desktop", True)])
def test_axe_finds_no_serious_or_critical_violations(browser, live_server, size, elder) -> None:
    page = open_page(browser, live_server, SIZES[size], elder, geolocation=RURAL,
                     permissions=["geolocation"])
    assert axe_violations(page) == []
    near_me(page)
    page.locator("#results .row").first.click()
    page.wait_for_selector("#card:not([hidden]) h2")
    found = axe_violations(page)
    assert found == [], json.dumps(found, ensure_ascii=False)
    page.context.close()


def test_filters_free_beds_and_services_on_map_and_near_me(browser, live_server,
                                                           sample_engine) -> None:
    with sample_engine.connect() as conn:
        with_free = set(conn.execute(text(
            "SELECT 'eldercare_sites:' || id FROM eldercare_sites WHERE is_public AND beds > 0 "
            "AND occupied_beds < beds")).scalars())
        bath_free = set(conn.execute(text(
            "SELECT 'eldercare_sites:' || id FROM eldercare_sites WHERE is_public AND beds > 0 "
            "AND occupied_beds < beds AND '助浴' = ANY(services)")).scalars())
    assert bath_free and len(bath_free) < len(with_free)
    page = open_page(browser, live_server, SIZES["desktop"], False, geolocation=RURAL,
                     permissions=["geolocation"])
    shown_js = "() => careMap.cluster.getLayers().map(m => m.feature.id)"
    page.check("#f-free")
    assert set(page.evaluate(shown_js)) == with_free
    page.locator("#f-services label", has_text="助浴").click()
    assert set(page.evaluate(shown_js)) == bath_free
    assert "符合条件的设施有 " + str(len(bath_free)) in page.inner_text("#status")
    near_me(page)
    listed = page.locator("#results .row").evaluate_all("rs => rs.map(r => r.dataset.id)")
    assert listed and set(listed) <= bath_free
    # the sample has roads: the list is ranked by walking minutes along them
    minutes = page.locator("#results .row").evaluate_all(
        "rs => rs.map(r => +r.dataset.minutes)")
    assert minutes and minutes == sorted(minutes)
    page.context.close()


def test_cards_show_the_fields_of_their_kind(browser, live_server, sample_engine) -> None:
    with sample_engine.connect() as conn:
        canteen = conn.execute(text("SELECT id FROM eldercare_sites WHERE is_public AND kind = "
                                    "'老年食堂' ORDER BY id LIMIT 1")).scalar_one()
        home = conn.execute(text("SELECT id, beds - occupied_beds AS free, updated_at::date d "
                                 "FROM eldercare_sites WHERE is_public AND kind = '养老机构' "
                                 "AND beds > 0 ORDER BY id LIMIT 1")).one()
    page = open_page(browser, live_server, SIZES["phone"], True,
                     path=f"/map?f=eldercare_sites:{canteen}")
    page.wait_for_selector("#card:not([hidden]) h2")
    assert "床位" not in page.inner_text("#card")
    page.goto(f"{live_server}/map?f=eldercare_sites:{home.id}")
    page.wait_for_selector("#card:not([hidden]) h2")
    card = page.inner_text("#card")
    assert f"空余床位\n{home.free} 张" in card.replace("\t", "\n") or f"{home.free} 张" in card
    assert f"{home.d.isoformat()} 更新" in card
    page.context.close()


def test_text_list_by_township_without_the_map(browser, live_server, sample_engine) -> None:
    import httpx

    with sample_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT e.name, t.name AS town FROM eldercare_sites e JOIN admin_areas t ON "
            "t.code = e.township_code WHERE e.is_public AND e.kind = '老年食堂'")).all()
        hidden = conn.execute(text("SELECT name FROM eldercare_sites WHERE NOT is_public")
                              ).scalars().all()
    page = open_page(browser, live_server, SIZES["phone"], True)
    page.click("#text-list")
    page.wait_for_selector("main.text-page")
    page.click("nav a:has-text('老年食堂')")
    page.wait_for_selector("h1:has-text('老年食堂')")
    assert f"{len(rows)} 处" in page.inner_text("h1")
    sections = page.locator("main section").evaluate_all(
        "ss => ss.map(s => [s.querySelector('h2').textContent,"
        " [...s.querySelectorAll('li b')].map(b => b.textContent)])")
    listed = [(town.split("(")[0], name) for town, names in sections for name in names]
    assert sorted(listed) == sorted((r.town, r.name) for r in rows)
    html = page.content()
    assert all(name not in html for name in hidden)
    assert page.evaluate("document.documentElement.scrollWidth") == SIZES["phone"][0]
    assert axe_violations(page) == []
    assert httpx.get(f"{live_server}/map/list", params={"category": "nope"}).status_code == 400
    page.context.close()


def test_exported_file_on_a_phone_elder_mode_search_and_axe(browser, sample_url,
                                                             sample_engine, tmp_path) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "care-map.html"
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=sample_url.replace("postgresql+psycopg",
                                                                       "postgresql"))
    done = subprocess.run([sys.executable, "-m", "geo_service.cli", "export-map", str(out)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with sample_engine.connect() as conn:
        canteen = conn.execute(text("SELECT name FROM eldercare_sites WHERE is_public AND "
                                    "kind = '老年食堂' ORDER BY id LIMIT 1")).scalar_one()
        bounds = conn.execute(text("SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), "
                                   "ST_YMax(geom) FROM admin_areas WHERE level = 'district'")
                              ).one()
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        ("file:", "data:")) else route.abort())
    page.goto(out.as_uri())
    page.wait_for_selector(".leaflet-marker-icon")
    assert axe_violations(page) == []
    # the whole district is in view, and fills most of the phone's width
    view = page.evaluate("() => { const m = Object.values(window).find(v => v instanceof L.Map);"
                         " const b = m.getBounds(); return [b.getWest(), b.getSouth(),"
                         " b.getEast(), b.getNorth()]; }")
    assert view[0] <= bounds[0] and view[1] <= bounds[1] and view[2] >= bounds[2]
    assert view[3] >= bounds[3] and (bounds[2] - bounds[0]) / (view[2] - view[0]) > 0.6, view
    page.tap("#cm-elder")
    assert page.get_attribute("#cm-elder", "aria-pressed") == "true"
    page.fill("#cm-q", canteen)
    page.tap("#cm-search .cm-btn")
    page.wait_for_selector(".leaflet-popup-content")
    assert canteen in page.inner_text(".leaflet-popup-content")
    assert "床位" not in page.inner_text(".leaflet-popup-content")
    small = [t for t in page.evaluate(TEXT_SIZES_JS) if t["size"] < 18]
    assert not small, small[:8]
    controls = page.evaluate("() => [...document.querySelectorAll('.cm-btn, #cm-q, "
                             ".leaflet-control-zoom a, .cm-marker, .cm-cluster')].filter("
                             "e => e.getBoundingClientRect().width).map(e => {"
                             " const r = e.getBoundingClientRect(); return [r.width, r.height];"
                             " })")
    assert controls and all(h >= 60 for _, h in controls), controls
    assert page.evaluate("document.documentElement.scrollWidth") == 390
    page.wait_for_function(  # the popup has faded in: axe measures contrast at full opacity
        "() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'")
    assert axe_violations(page) == []
    context.close()


def test_a_category_word_on_the_page_lists_and_shows_that_category(browser, live_server,
                                                                   sample_engine) -> None:
    from test_places_typing import _nearest_names

    page = open_page(browser, live_server, SIZES["phone"], True, geolocation=RURAL,
                     permissions=["geolocation"])
    near_me(page)
    page.fill("#q", "老年食堂")
    page.press("#q", "Enter")
    page.wait_for_selector('#results[data-kind="search"] .row')
    names = page.locator("#results .row .name").all_inner_texts()
    assert names[:5] == _nearest_names(sample_engine, ("老年食堂",), RURAL["longitude"],
                                       RURAL["latitude"], 5)
    assert page.locator("#legend-items input:checked").evaluate_all(
        "bs => bs.map(b => b.value)") == ["canteen"]
    cats = page.evaluate("() => [...new Set(careMap.cluster.getLayers().map("
                         "m => m.feature.properties.cat))]")
    assert cats == ["canteen"]
    assert page.locator("#card").is_hidden() and "最近的是" in page.inner_text("#status")
    page.context.close()
