"""The care map's API (public data only, nearest by geodesic distance) and offline folium maps."""

from __future__ import annotations

import re

import folium
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from folium.plugins import Draw, MarkerCluster
from sqlalchemy import text

from geo_service import crs
from geo_service.maps.categories import CATEGORIES
from geo_service.maps.offline import OfflineAssetError, new_map, render_self_contained

REMOTE_ASSET = re.compile(
    r"""<(?:script|link|img)\b[^>]*(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?https?:""")


@pytest.fixture(scope="module")
def api(live_server: str):
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def hidden_rows(sample_engine) -> list[tuple[str, str, float, float]]:
    """Every non-public facility (id, name, lon, lat) of the sample, read straight from SQL."""
    rows = []
    with sample_engine.connect() as conn:
        for layer in ("eldercare_sites", "child_sites", "funeral_sites"):
            rows += [(f"{layer}:{r.id}", r.name, r.lon, r.lat) for r in conn.execute(text(
                f"SELECT id, name, ST_X(geom) lon, ST_Y(geom) lat FROM {layer} "
                "WHERE NOT is_public"))]
    assert rows, "the sample must hold non-public sites for this test"
    return rows


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def test_category_colours_give_white_letters_enough_contrast() -> None:
    for cat in CATEGORIES:
        ratio = 1.05 / (_luminance(cat.colour) + 0.05)
        assert ratio >= 4.5, (cat.id, ratio)
    assert len({c.letter for c in CATEGORIES}) == len({c.shape for c in CATEGORIES}) == 5


def test_facilities_are_the_public_rows_of_each_category(api, sample_engine, hidden_rows) -> None:
    body = api.get("/map/api/facilities").json()
    with sample_engine.connect() as conn:
        for cat in CATEGORIES:
            kinds = list(cat.all_kinds())
            expected = set(conn.execute(text(
                f"SELECT '{cat.layer}:' || id FROM {cat.layer} "
                "WHERE is_public AND kind = ANY(:kinds)"), {"kinds": kinds}).scalars())
            got = {f["id"] for f in body["features"] if f["properties"]["cat"] == cat.id}
            assert got == expected and body["counts"][cat.id] == len(expected) > 0, cat.id
    assert body["illustrative_count"] == len(body["features"]) and body["note"]
    config = api.get("/map/api/config").json()
    assert {c["id"]: c["count"] for c in config["categories"]} == body["counts"]
    assert "示意" in config["attribution"]["text"] and config["basemap"]["kind"] == "none"
    text_body = api.get("/map/api/facilities").text
    for fid, name, _, _ in hidden_rows:
        assert f'"id":"{fid}"' not in text_body and name not in text_body


def test_only_public_fields_and_rows_in_cards(api, hidden_rows) -> None:
    card = api.get("/map/api/facilities/eldercare_sites:1").json()
    props = card["properties"]
    assert props["name"] and props["phone"] and props["directions"]["geo"].startswith("geo:")
    assert not {"contact_person", "contact_phone", "is_public", "extra"} & set(props)
    assert props["free_beds"] == props["beds"] - props["occupied_beds"]
    for fid, name, lon, lat in hidden_rows:
        response = api.get(f"/map/api/facilities/{fid}")
        assert response.status_code == 404 and name not in response.text
        near = api.get("/map/api/nearest", params={"lon": lon, "lat": lat, "limit": 50})
        found = api.get("/places/search", params={"q": name, "types": "place,facility",
                                                  "public": "true"})
        for response in (near, found):
            assert fid not in {r["id"] for r in response.json()["results"]}
            assert name not in str(response.json()["results"])


def test_nearest_matches_an_independent_geodesic_computation(api, sample_engine) -> None:
    lon, lat = 105.74, 29.68
    body = api.get("/map/api/nearest", params={"lon": lon, "lat": lat, "limit": 15,
                                               "categories": "elder_inst,老年食堂"}).json()
    results = body["results"]
    assert len(results) == 15 and {r["cat"] for r in results} <= {"elder_inst", "canteen"}
    with sample_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT 'eldercare_sites:' || id AS fid, ST_X(geom) x, ST_Y(geom) y "
            "FROM eldercare_sites WHERE is_public AND kind = ANY(:k)"),
            {"k": [*CATEGORIES[0].kinds, "老年食堂"]}).all()
    ids = [r.fid for r in rows]
    metres = crs.geodesic_distance_m(np.full(len(rows), lon), np.full(len(rows), lat),
                                     np.array([r.x for r in rows]), np.array([r.y for r in rows]))
    order = np.argsort(metres, kind="stable")[:15]
    assert [r["id"] for r in results] == [ids[i] for i in order]
    assert [r["distance_m"] for r in results] == pytest.approx(
        [float(metres[i]) for i in order], abs=0.2)


def test_gcj02_output_uses_the_crs_module(api) -> None:
    plain = api.get("/map/api/facilities", params={"categories": "funeral"}).json()
    shifted = api.get("/map/api/facilities", params={"categories": "funeral",
                                                     "crs": "gcj02"}).json()
    a = np.array([f["geometry"]["coordinates"] for f in plain["features"]])
    b = np.array([f["geometry"]["coordinates"] for f in shifted["features"]])
    gx, gy = crs.wgs84_to_gcj02(a[:, 0], a[:, 1])
    assert np.allclose(b[:, 0], gx, atol=2e-6) and np.allclose(b[:, 1], gy, atol=2e-6)
    assert np.abs(b - a).max() > 1e-3  # GCJ-02 really is offset (hundreds of metres)
    town = api.get("/map/api/background", params={"crs": "gcj02"}).json()["features"][0]
    assert town["properties"]["level"] in {"district", "township"}


@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("/map/api/nearest", {"lon": 105.7, "lat": 95}, 400, "lat=95"),
    ("/map/api/nearest", {"lon": 105.7, "lat": 29.7, "crs": "bd09"}, 400, "crs="),
    ("/map/api/nearest", {"lon": "east", "lat": 29.7}, 422, "lon"),
    ("/map/api/nearest", {"lon": 105.7, "lat": 29.7, "limit": 0}, 422, "limit"),
    ("/map/api/facilities", {"categories": "hospitals"}, 400, "hospitals"),
    ("/map/api/facilities/eldercare_sites", {}, 400, "<layer>:<number>"),
    ("/map/api/facilities/admin_areas:1", {}, 400, "admin_areas"),
    ("/map/api/facilities/eldercare_sites:999999", {}, 404, "999999"),
    ("/vendor/jquery/dist/jquery.js", {}, 404, "not served"),
    ("/vendor/leaflet/..%2Fleaflet.markercluster%2Fpackage.json", {}, 404, "no file"),
    ("/map/static/..%2Findex.html", {}, 404, "no file"),
])
def test_bad_requests_say_what_is_wrong(api, path, params, status, words) -> None:
    response = api.get(path, params=params)
    assert response.status_code == status, response.text
    assert words in response.text


def test_page_vendor_files_and_search(api) -> None:
    page = api.get("/map")
    assert page.status_code == 200 and "大足区关爱地图" in page.text
    for src in re.findall(r'(?:src|href)="(/[^"]+)"', page.text):
        assert api.get(src).status_code == 200, src
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page.text)
    leaflet = api.get("/vendor/leaflet/dist/leaflet.js")
    assert leaflet.status_code == 200 and "javascript" in leaflet.headers["content-type"]
    search = api.get("/map/api/config").json()["search"]["url"]
    hits = api.get(search, params={"q": "宝顶", "types": "place,facility", "public": "true"})
    assert hits.json()["results"][0]["name"] == "宝顶山"
    assert any(h["type"] == "facility" for h in hits.json()["results"])


def test_self_contained_map_has_no_remote_assets() -> None:
    m = new_map()
    cluster = MarkerCluster().add_to(m)
    folium.Marker((29.7, 105.7), popup="弹出").add_to(cluster)
    folium.Marker((29.6, 105.8), icon=folium.Icon(icon="home", prefix="fa")).add_to(m)
    html = render_self_contained(m)
    assert not REMOTE_ASSET.search(html)
    assert "leaflet 1.9.4 (BSD-2-Clause)" in html and "leaflet.markercluster" in html
    assert "L.AwesomeMarkers" in html and "font/woff2;base64" in html
    assert "L.Icon.Default.mergeOptions" in html and "cdn.jsdelivr" not in html
    plain = render_self_contained(new_map())
    assert "L.AwesomeMarkers" not in plain and len(plain) < len(html) / 4


def test_self_contained_map_refuses_what_needs_the_internet() -> None:
    with pytest.raises(OfflineAssetError, match=r"leaflet\.draw"):
        m = new_map()
        Draw().add_to(m)
        render_self_contained(m)
    with pytest.raises(OfflineAssetError, match="internet"):
        render_self_contained(new_map(tiles="OpenStreetMap"))
    with pytest.raises(OfflineAssetError, match=r"prefix=.fa."):
        m = new_map()
        folium.Marker((29.7, 105.7), icon=folium.Icon(icon="home")).add_to(m)
        render_self_contained(m)


def test_public_search_hides_non_public_sites_even_from_staff(sample_url, sample_engine) -> None:
    from geo_service.access import Principal, Role
    from geo_service.api.app import create_app
    from geo_service.api.deps import get_principal
    from geo_service.db.engine import make_engine

    with sample_engine.connect() as conn:
        hidden = conn.execute(text(
            "SELECT name FROM child_sites WHERE NOT is_public ORDER BY id LIMIT 1")).scalar_one()
    app = create_app(make_engine(sample_url))
    app.dependency_overrides[get_principal] = lambda: Principal("staff", Role.planner)
    with TestClient(app) as staff:
        params = {"q": hidden, "types": "facility"}
        names = [r["name"] for r in staff.get("/places/search", params=params).json()["results"]]
        assert hidden in names
        public = staff.get("/places/search", params={**params, "public": "true"})
        assert public.status_code == 200 and public.json()["results"] == []


def test_basemap_settings_tianditu_amap_and_mistakes() -> None:
    from geo_service.maps.basemap import basemap_config
    from geo_service.settings import BasemapSettings

    none = basemap_config(BasemapSettings(map_basemap="none"))
    assert none == {"kind": "none", "crs": "EPSG:4490"}
    tdt = basemap_config(BasemapSettings(map_basemap="tianditu", tianditu_key="KEY123",
                                         map_review_number="GS(2024)0650号"))
    assert tdt["kind"] == "tianditu" and tdt["crs"] == "EPSG:4490"  # CGCS2000: no shift
    assert len(tdt["layers"]) == 2 and all("tk=KEY123" in u for u in tdt["layers"])
    assert tdt["review_number"] == "GS(2024)0650号"
    amap = basemap_config(BasemapSettings(map_basemap="Amap"))
    assert amap["kind"] == "amap" and amap["crs"] == "gcj02"  # overlays asked for in GCJ-02
    no_key = basemap_config(BasemapSettings(map_basemap="tianditu"))
    assert no_key["kind"] == "none" and "GEO_SERVICE_TIANDITU_KEY" in no_key["problem"]
    typo = basemap_config(BasemapSettings(map_basemap="google"))
    assert typo["kind"] == "none" and "none, tianditu or amap" in typo["problem"]


def test_slow_phone_caching_compression_and_versioned_assets(api, sample_engine) -> None:
    """gzip on page, JSON, JS, CSS; ETag/304 + Cache-Control on the data; versioned assets."""
    page = api.get("/map", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    assets = re.findall(r'(?:src|href)="((?:vendor|map/static)/[^"]+)"', page.text)
    assert {a.split("/")[1] for a in assets if a.startswith("vendor/")} == {
        "leaflet@1.9.4", "leaflet.markercluster@1.5.3"}
    assert all(re.search(r"\?v=[0-9a-f]{12}$", a) for a in assets if a.startswith("map/static"))
    for asset in assets:
        got = api.get("/" + asset, headers={"Accept-Encoding": "gzip"})
        assert got.status_code == 200, asset
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable", asset
        if len(got.content) > 1024:  # smaller files are not worth compressing
            assert got.headers.get("content-encoding") == "gzip", asset
    assert api.get("/map/static/care-map.js?v=000000000000").headers["cache-control"] == "no-cache"
    assert api.get("/vendor/leaflet@0.7.0/dist/leaflet.js").status_code == 404
    for path in ("/map/api/facilities", "/map/api/background"):
        first = api.get(path, headers={"Accept-Encoding": "gzip"})
        assert first.headers.get("content-encoding") == "gzip"
        assert first.headers["cache-control"] == "public, max-age=60, must-revalidate"
        etag = first.headers["etag"]
        again = api.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and not again.content
        assert api.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
    # an edit changes the facilities' ETag (the phone gets the new data, never stale)
    etag = api.get("/map/api/facilities").headers["etag"]
    with sample_engine.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET name = name || '' , updated_at = now() "
                          "WHERE id = (SELECT min(id) FROM eldercare_sites WHERE is_public)"))
    assert api.get("/map/api/facilities", headers={"If-None-Match": etag}).status_code == 200


def test_background_has_named_villages_with_label_points_inside(api, sample_engine) -> None:
    main = api.get("/map/api/background").json()["features"]
    assert {f["properties"].get("level") for f in main} == {"district", "township", None}
    features = api.get("/map/api/background", params={"detail": "villages"}).json()["features"]
    villages = [f for f in features if f["properties"].get("level") == "village"]
    road_lines = [f for f in features if f["properties"].get("road")]
    assert len(villages) + len(road_lines) == len(features)
    with sample_engine.connect() as conn:  # the roads to orient by: every public road, no other
        public_roads = conn.execute(text("SELECT count(*) FROM roads WHERE is_public")
                                    ).scalar_one()
    assert len(road_lines) == public_roads > 100
    assert all(f["geometry"]["type"] in {"LineString", "MultiLineString"} for f in road_lines)
    bad = api.get("/map/api/background", params={"detail": "roads"})
    assert bad.status_code == 400 and "detail" in bad.json()["detail"]
    with sample_engine.connect() as conn:
        expected = conn.execute(text("SELECT count(*) FROM admin_areas WHERE level = 'village' "
                                     "AND is_public")).scalar_one()
        for f in villages[:40]:
            x, y = f["properties"]["label"]
            assert conn.execute(text(
                "SELECT ST_Intersects(geom, ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4490), "
                "0.00002)) FROM admin_areas WHERE code = :c"),
                {"x": x, "y": y, "c": f["properties"]["code"]}).scalar_one()
    assert len(villages) == expected > 300
    assert all(not f["properties"]["short"].endswith("委员会") for f in villages)
    assert any(f["properties"]["short"].endswith("社区") for f in villages)
