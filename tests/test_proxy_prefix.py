"""Behind a reverse proxy under a prefix (/geo/): every link of the public pages keeps it."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from geo_service.api.app import create_app
from geo_service.db.engine import make_engine

PAGES = ["/geo/?f=html", "/geo/collections?f=html", "/geo/collections/eldercare_sites?f=html",
         "/geo/collections/eldercare_sites/items?f=html&limit=5",
         "/geo/collections/eldercare_sites/items/1?f=html", "/geo/map"]
CARE_MAP_JS = Path(__file__).resolve().parents[1] / "web_map" / "static" / "care-map.js"


@pytest.fixture(scope="module")
def behind_proxy(sample_url):
    with TestClient(create_app(make_engine(sample_url)), root_path="/geo") as client:
        yield client


@pytest.mark.parametrize("page", PAGES)
def test_every_link_of_a_page_stays_under_the_prefix(behind_proxy, page):
    response = behind_proxy.get(page)
    assert response.status_code == 200, response.text
    base = "http://testserver" + page
    links = [urljoin(base, href.replace("&amp;", "&"))
             for href in re.findall(r'(?:href|src)="([^"#]+)"', response.text)
             if not href.startswith(("data:", "tel:", "geo:"))]
    assert links
    for link in links:
        parts = urlsplit(link)
        assert parts.netloc == "testserver", link  # nothing from the internet
        assert parts.path.startswith("/geo/"), link
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        assert behind_proxy.get(target).status_code == 200, link


def test_the_care_map_script_builds_every_url_from_the_service_root():
    script = CARE_MAP_JS.read_text(encoding="utf-8")
    assert "var ROOT = location.pathname" in script
    assert not re.search(r'(?:getJSON|fetch)\(\s*"/', script)  # no URL from the host's root
