"""The care map with a road layer: walking minutes along roads in the nearest list and card."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from network_oracle import oracle
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import text

from geo_service.coverage.distance import PlanarDistance
from geo_service.network.store import network_model

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"
HERE = {"longitude": 105.7405, "latitude": 29.7012}  # a point in 棠香街道
WALK = re.compile(r"^步行约 (\d+) 分钟（(\d+\.\d) 公里）$")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def test_nearest_api_gives_walking_minutes_equal_to_networkx(live_server, sample_engine):
    import httpx

    body = httpx.get(f"{live_server}/map/api/nearest", params={
        "lon": HERE["longitude"], "lat": HERE["latitude"], "limit": 8}).json()
    assert body["walk"]["speed_kmh"] == 3.6 and "示意" in body["walk"]["note"]
    rows = body["results"]
    plane = PlanarDistance()
    origin = np.column_stack(plane.project(np.array([HERE["longitude"]]),
                                           np.array([HERE["latitude"]])))
    sites = np.column_stack(plane.project(np.array([r["lon"] for r in rows]),
                                          np.array([r["lat"] for r in rows])))
    model = network_model(sample_engine, "walk", public_only=True)
    expect = [oracle(model.graph, model.net, origin, sites[k:k + 1])[0][0]
              for k in range(len(rows))]
    got = [r["walk_minutes"] * 60 for r in rows]
    np.testing.assert_allclose(got, expect, atol=3.1)  # minutes are given to 0.1
    assert all(r["walk_m"] >= r["distance_m"] - 1 for r in rows)  # roads never beat the line


def near_me(browser: Browser, base: str, **context_options) -> tuple[Page, list[str]]:
    """The map at HERE after 离我最近的设施: the page and the distance texts of the list."""
    context = browser.new_context(locale="zh-CN", geolocation=HERE,
                                  permissions=["geolocation"], **context_options)
    page = context.new_page()
    page.goto(base + "/map")
    page.wait_for_function("() => window.careMap && window.careMap.ready", timeout=20_000)
    page.click("#near-me")
    page.wait_for_selector('#results[data-kind="nearest"] .row')
    return page, page.locator("#results .row .dist").all_inner_texts()


def test_nearest_list_and_card_say_walking_minutes(browser, live_server, sample_engine):
    page, shown = near_me(browser, live_server, viewport={"width": 390, "height": 844},
                          is_mobile=True, has_touch=True)
    context = page.context
    assert shown and all(WALK.match(t.replace("\n", "")) for t in shown), shown
    minutes = [int(WALK.match(t.replace("\n", "")).group(1)) for t in shown]  # type: ignore[union-attr]
    assert minutes == sorted(minutes), shown  # ranked by walking time, not by the line
    assert "按步行时间由近到远" in page.inner_text("#results-title")
    assert "沿道路步行时间" in page.inner_text("#results .list-note")  # how it is reckoned
    first = page.locator("#results .row").first
    first_text = shown[0].replace("\n", "")
    first.tap()
    page.wait_for_selector("#card:not([hidden]) .walk")
    assert page.inner_text("#card .walk") == first_text
    assert page.evaluate("document.documentElement.scrollWidth") == 390  # nothing overflows
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#results").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "care-map-walking.png"), full_page=True)
    context.close()


def test_without_roads_the_list_shows_straight_distance(browser, live_server, sample_engine):
    with sample_engine.begin() as conn:
        conn.execute(text("UPDATE roads SET is_public = false"))
    try:
        page, shown = near_me(browser, live_server, viewport={"width": 1200, "height": 800})
        assert shown and not any("步行" in t for t in shown)
        assert all(re.fullmatch(r"\d+ 米|\d+(\.\d)? 公里", t) for t in shown), shown
        assert "步行" not in page.inner_text("#results-title")
        page.context.close()
    finally:
        with sample_engine.begin() as conn:
            conn.execute(text("UPDATE roads SET is_public = true"))


def test_nearest_by_walking_order(live_server):
    import httpx

    params = {"lon": HERE["longitude"], "lat": HERE["latitude"], "limit": 6}
    walk = httpx.get(f"{live_server}/map/api/nearest", params={**params, "order": "walk"}).json()
    minutes = [r["walk_minutes"] for r in walk["results"]]
    assert walk["order"] == "walk" and len(minutes) == 6 and minutes == sorted(minutes)
    straight = httpx.get(f"{live_server}/map/api/nearest", params=params).json()
    assert straight["order"] == "straight"
    distances = [r["distance_m"] for r in straight["results"]]
    assert distances == sorted(distances)
    assert min(minutes) <= min(r["walk_minutes"] for r in straight["results"])
    bad = httpx.get(f"{live_server}/map/api/nearest", params={**params, "order": "fly"})
    assert bad.status_code == 400 and "order=fly" in bad.text
