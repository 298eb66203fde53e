"""The pages under their Content-Security-Policy in Debian's Chromium: /docs (vendored
Swagger UI), the planners' coverage report (sandboxed), and the headers every page sends."""

from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
import test_care_map_browser as care_map
from fastapi.testclient import TestClient

from geo_service.access import Principal, Role
from geo_service.api.app import create_app
from geo_service.api.deps import get_principal

browser = care_map.browser  # the headless Chromium fixture of the care-map tests
SCREENSHOTS = care_map.SCREENSHOTS
PAGES = ("/map", "/?f=html", "/collections/eldercare_sites/items?f=html", "/docs",
         "/boundaries/field/")


def test_every_page_sends_csp_and_no_framing(live_server):
    for path in PAGES:
        with urllib.request.urlopen(live_server + path) as response:
            headers = response.headers
            assert "text/html" in headers["content-type"], path
        csp = headers["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp, path
        assert "'unsafe-eval'" not in csp and "object-src 'none'" in csp, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "same-origin", path


def test_api_docs_load_from_this_origin_only(browser, live_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    hosts: set[str] = set()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
    page.goto(live_server + "/docs")
    page.wait_for_function("() => document.querySelectorAll('.opblock').length >= 40",
                           timeout=20_000)
    assert "大足区民政局" in page.inner_text(".info")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
    assert hosts == {urlsplit(live_server).netloc}, hosts  # no CDN
    assert not errors, errors
    page.close()
    with pytest.raises(urllib.error.HTTPError) as gone:  # ReDoc (a CDN page) is not served
        urllib.request.urlopen(live_server + "/redoc")
    assert gone.value.code == 404


def test_coverage_report_runs_sandboxed(browser, sample_engine):
    app = create_app(sample_engine)
    app.dependency_overrides[get_principal] = lambda: Principal("planner", Role.planner)
    with TestClient(app) as client:
        report = client.post("/coverage?format=html",
                             json={"kinds": ["社区养老服务站", "村级互助养老点"], "radius_m": 700})
    assert report.status_code == 200
    csp = report.headers["content-security-policy"]
    assert csp.startswith("sandbox allow-scripts") and "connect-src" not in csp
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.route("http://report.test/coverage", lambda route: route.fulfill(
        status=200, body=report.content, headers={
            "content-type": "text/html; charset=utf-8", "content-security-policy": csp}))
    page.goto("http://report.test/coverage")
    frame = page.frame_locator("iframe").first
    frame.locator(".leaflet-container").wait_for(timeout=20_000)
    assert frame.locator(".leaflet-container canvas").count() >= 1  # the layers were drawn
    assert "镇街" in frame.locator(".leaflet-control-layers").inner_text()
    assert page.evaluate("() => { try { return document.cookie, 'cookie'; } "
                         "catch (e) { return 'no origin'; } }") == "no origin"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "coverage-report-sandboxed.png"))
    assert not errors, errors
    page.close()
