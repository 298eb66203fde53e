"""The care map as the public uses it: an older person on a phone in 长辈模式, keyboard only."""

from __future__ import annotations

import re

import test_care_map_browser as care_map
from playwright.sync_api import Browser, Page
from test_care_map_browser import HERE, open_map

browser = care_map.browser  # the module's headless Chromium fixture

PHONE = (390, 844)
# every visible control outside the marker pane, with its size
TARGETS_JS = """() => {
  const out = [];
  const sel = 'button, a, input:not([type=checkbox]), label.chip, .leaflet-control-zoom a';
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('.leaflet-marker-pane') || el.classList.contains('skip')) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    out.push({what: (el.id || el.className) + ' ' + el.textContent.trim().slice(0, 20),
              w: r.width, h: r.height});
  }
  return out;
}"""


def elder_phone(browser: Browser, base: str, **kwargs) -> Page:
    """The map on a phone with 长辈模式 already chosen on this device."""
    context = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]},
                                  locale="zh-CN", is_mobile=True, has_touch=True, **kwargs)
    context.add_init_script("localStorage.setItem('careMap.elder', '1')")
    page = context.new_page()
    page.goto(base + "/map")
    page.wait_for_function("() => window.careMap && window.careMap.ready", timeout=20_000)
    return page


def small_targets(page: Page) -> list[dict]:
    """Controls smaller than 60 px either way (too small for 长辈模式)."""
    return [t for t in page.evaluate(TARGETS_JS) if t["w"] < 60 or t["h"] < 60]


def test_elder_phone_nearest_card_call_and_back(browser, live_server) -> None:
    page = elder_phone(browser, live_server, geolocation=HERE, permissions=["geolocation"])
    width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    assert width == [PHONE[0], PHONE[0]], width  # nothing wider than the phone
    assert not small_targets(page)
    page.tap("#near-me")
    page.wait_for_selector('#results[data-kind="nearest"] .row')
    page.locator("#results .row").nth(1).tap()
    page.wait_for_selector("#card:not([hidden]) h2")
    page.wait_for_timeout(300)
    top = page.evaluate("document.getElementById('card').getBoundingClientRect().top")
    assert 0 <= top < 100, top  # the card is brought on screen, not left below the list
    assert page.locator("#card a.btn[href^='tel:']").count() == 1
    assert not small_targets(page)  # phone number, share link, zoom buttons too
    assert page.evaluate("document.documentElement.scrollWidth") == PHONE[0]
    assert "f=" in page.url
    page.go_back()  # the phone's back button closes the card and stays on the map
    page.wait_for_selector("#card", state="hidden")
    assert "/map" in page.url and "f=" not in page.url
    page.locator("#results .row").first.tap()
    page.wait_for_selector("#card:not([hidden]) h2")
    page.tap("#card-close")
    page.wait_for_selector("#card", state="hidden")
    assert "f=" not in page.url and page.url.startswith(live_server + "/map")
    assert page.evaluate("document.activeElement.dataset.id") == page.locator(
        "#results .row").first.get_attribute("data-id")  # focus back on the row
    page.context.close()


def test_plain_chinese_messages(browser, live_server) -> None:
    page = elder_phone(browser, live_server)  # no permission to use the location
    page.tap("#near-me")
    page.wait_for_selector("#status.problem")
    assert "没有允许" in page.inner_text("#status") and "在地图上选位置" in page.inner_text(
        "#status")
    page.fill("#q", "宝鼎")  # a wrong homophone (宝顶) from a pinyin keyboard
    page.tap("#search .btn")
    page.wait_for_selector('#results[data-kind="search"] .row')
    assert page.locator("#results .row .name").first.inner_text() == "宝顶山"
    page.fill("#q", "   ")
    page.tap("#search .btn")
    assert page.locator("#results .row").count() == 0  # no stale list under the message
    assert "请输入" in page.inner_text("#status")
    statuses: list[int] = []
    page.on("response", lambda r: statuses.append(r.status) if "/places/" in r.url else None)
    page.fill("#q", "宝" * 200)
    page.tap("#search .btn")
    page.wait_for_function(
        "() => !document.getElementById('status').textContent.includes('正在')")
    assert statuses and all(s == 200 for s in statuses), statuses
    assert len(page.input_value("#q")) == 100
    page.context.close()


def test_keyboard_reaches_controls_before_markers(browser, live_server) -> None:
    page, _ = open_map(browser, live_server)
    seen = []
    for _ in range(30):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.className"))
        if "leaflet-marker-icon" in seen[-1]:
            break
    assert "near-me" in seen and "pick-point" in seen, seen
    assert seen.index("near-me") < min(
        (i for i, s in enumerate(seen) if "leaflet-marker-icon" in s), default=99)
    # the skip link to the map moves focus and keeps the view in the address
    page.context.close()
    page, _ = open_map(browser, live_server, "/map#13/29.70000/105.72000")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # 跳到地图
    assert page.evaluate("document.activeElement.id") == "map"
    assert page.url.endswith("#13/29.70000/105.72000")
    page.context.close()


def test_ogc_pages_draw_features_over_the_district(browser, live_server) -> None:
    for size in ((1280, 900), PHONE):
        context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                      locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, out=errors: out.append(str(e)))
        page.on("console", lambda m, out=errors: out.append(m.text) if m.type == "error" else None)
        for path in ("/collections/elderly_canteens/items?f=html&limit=10",
                     "/collections/eldercare_sites/items/5?f=html"):
            page.goto(live_server + path)
            page.wait_for_function(  # the townships (27) and the district outline behind
                "() => document.querySelectorAll('.leaflet-background-pane path').length >= 28")
            assert page.locator(".leaflet-overlay-pane path.leaflet-interactive").count() >= 1
            assert page.evaluate("document.documentElement.scrollWidth") <= size[0]  # no overflow
        assert not errors, errors
        context.close()


def test_nearest_canteen_in_two_taps(browser, live_server, sample_engine) -> None:
    from sqlalchemy import text

    page = elder_phone(browser, live_server, geolocation=HERE, permissions=["geolocation"])
    page.get_by_role("button", name=re.compile("^只看这类\\W*老年食堂$")).tap()
    assert page.locator("#legend-items input:checked").count() == 1
    page.tap("#near-me")
    page.wait_for_selector('#results[data-kind="nearest"] .row')
    metas = page.locator("#results .row .meta").all_inner_texts()
    assert metas and all(m.startswith("老年食堂") for m in metas)
    with sample_engine.connect() as conn:
        nearest = conn.execute(text(
            "SELECT name FROM eldercare_sites WHERE kind = '老年食堂' AND is_public "
            "ORDER BY geom::geography <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography "
            "LIMIT 1"), {"lon": HERE["longitude"], "lat": HERE["latitude"]}).scalar_one()
    assert page.locator("#results .row .name").first.inner_text() == nearest
    assert not small_targets(page)
    assert page.evaluate("document.documentElement.scrollWidth") == PHONE[0]
    page.context.close()
