"""Anonymous callers get no non-public rows or fields through ANY GET endpoint of the app."""

from __future__ import annotations

import math
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app
from geo_service.catalog import catalogue
from geo_service.db.engine import make_engine

SITE_LAYERS = ("eldercare_sites", "funeral_sites", "child_sites")


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, y, x


@pytest.fixture(scope="module")
def secrets(sample_engine) -> dict:
    """Texts only non-public rows/fields hold, and where the non-public rows are."""
    with sample_engine.connect() as conn:
        hidden = conn.execute(text(
            "SELECT id, name, ST_X(geom) x, ST_Y(geom) y FROM child_sites WHERE NOT is_public"
        )).all()
        public_text = " ".join(conn.execute(text(
            "SELECT string_agg(concat_ws(' ', name, address, phone), ' ') FROM ("
            " SELECT name, address, phone FROM eldercare_sites WHERE is_public UNION ALL"
            " SELECT name, address, phone FROM funeral_sites WHERE is_public UNION ALL"
            " SELECT name, address, phone FROM child_sites WHERE is_public UNION ALL"
            " SELECT name, NULL, NULL FROM place_names UNION ALL"
            " SELECT name, NULL, NULL FROM admin_areas) t")).scalars())
        private = conn.execute(text(
            "SELECT contact_phone FROM eldercare_sites UNION SELECT contact_phone FROM "
            "child_sites UNION SELECT contact_person FROM eldercare_sites UNION SELECT "
            "contact_person FROM child_sites UNION SELECT contact_person FROM funeral_sites"
        )).scalars().all()
        public_ids = {layer: conn.execute(text(
            f"SELECT id FROM {layer} WHERE is_public AND contact_person IS NOT NULL LIMIT 1")
        ).scalar() for layer in SITE_LAYERS}
    names = [r.name for r in hidden if r.name not in public_text]
    values = [v for v in private if v and len(v) >= 3 and v not in public_text]
    assert len(hidden) == 4 and names and len(values) > 50
    return {"hidden": hidden, "strings": names + values, "public_ids": public_ids}


def _fill(path: str, params: list[dict], row, secrets: dict) -> list[tuple[str, dict]]:
    """Concrete URLs for a templated GET path, aimed at the non-public row."""
    z, y, x = _tile(row.x, row.y, 14)
    fixed = {"tms": "WebMercatorQuad", "z": z, "y": y, "x": x, "asset": "marker"}
    partial = row.name[1:]  # finds the row, but an echo of the query is not the full name
    query = {"q": partial, "lon": row.x, "lat": row.y, "limit": 1000,
             "bbox": f"{row.x - .01},{row.y - .01},{row.x + .01},{row.y + .01}",
             "name": partial, "categories": None, "filter": None}
    required = {p["name"] for p in params if p["in"] == "query" and p.get("required")}
    names = {p["name"] for p in params if p["in"] == "query"}
    query_args = {k: v for k, v in query.items() if k in names and v is not None}
    for name in required - set(query_args):
        query_args[name] = "1"
    urls = []
    layers = list(catalogue().layers) if re.search(r"\{(collection_id|layer)\}", path) else [""]
    for layer in layers:
        ids = [row.id]
        if layer in secrets["public_ids"]:
            ids.append(secrets["public_ids"][layer])
        for feature_id in ids:
            url = re.sub(r"\{(collection_id|layer)\}", layer, path)
            url = re.sub(r"\{feature_id\}", str(feature_id), url)
            for key, value in fixed.items():
                url = url.replace("{" + key + "}", str(value))
            url = re.sub(r"\{[^}]+\}", "1", url)
            urls.append((url, query_args))
    return urls


def test_anonymous_sees_nothing_non_public_anywhere(sample_url, secrets, monkeypatch):
    monkeypatch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
    engine = make_engine(sample_url)
    probed = 0
    with TestClient(create_app(engine)) as client:
        paths = client.get("/openapi.json").json()["paths"]
        for path, operations in paths.items():
            if "get" not in operations or path in {"/openapi.json", "/metrics"}:
                continue
            params = operations["get"].get("parameters", [])
            for row in secrets["hidden"][:2]:
                for url, query in _fill(path, params, row, secrets):
                    for variant in ({}, {"f": "json"}, {"f": "html"}):
                        response = client.get(url, params={**query, **variant})
                        probed += 1
                        assert response.status_code < 500, (url, response.text[:300])
                        body = response.content
                        for secret in secrets["strings"]:
                            assert secret.encode() not in body, (url, query, secret)
    engine.dispose()
    assert probed > 200
