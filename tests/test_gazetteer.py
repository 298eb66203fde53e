"""The gazetteer on the 大足 sample: search, former names, reverse geocoding, hierarchy, pinyin."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_pinyin import DAZU_TOWNSHIPS, HISTORIC_NAMES

from geo_service import crs as crsmod
from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.api.app import create_app
from geo_service.db.engine import make_engine
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.gazetteer.hierarchy import AmbiguousNameError, hierarchy
from geo_service.gazetteer.reverse import compass, format_distance, reverse_geocode
from geo_service.gazetteer.search import SearchQuery, normalise, search

STAFF = Principal("planner1", Role.planner)


@pytest.fixture(scope="module")
def client(sample_url):
    with TestClient(create_app(make_engine(sample_url))) as test_client:
        yield test_client


def names(found: dict) -> list[str]:
    return [r["name"] for r in found["results"]]


@pytest.mark.parametrize(
    "q", ["bds", "baodingshan", "宝顶", "寶頂", "Bǎodǐng Shān", "bao3ding3shan1"])
def test_baodingshan_comes_first(sample_engine, q):
    found = search(sample_engine, SearchQuery(q, types=("place", "facility")))
    assert names(found)[0] == "宝顶山", names(found)


def test_town_of_the_same_specific_ranks_after_the_mountain(sample_engine):
    found = search(sample_engine, SearchQuery("宝顶"))
    assert names(found)[:2] == ["宝顶山", "宝顶镇"]
    first, second = found["results"][:2]
    assert first["rank"] == second["rank"]  # same match class: importance decides
    assert first["historic"] and not second["historic"]


def test_match_kinds_are_reported(sample_engine):
    assert search(sample_engine, SearchQuery("bds"))["results"][0]["matched"]["how"] == "initials"
    top = search(sample_engine, SearchQuery("baodingshan"))["results"][0]
    assert top["matched"]["how"] == "pinyin" and top["pinyin"] == "Bǎodǐng Shān"
    assert search(sample_engine, SearchQuery("宝顶山"))["results"][0]["matched"]["how"] == "exact"


def test_a_former_name_finds_the_current_place_and_says_so(sample_engine):
    with sample_engine.connect() as conn:
        current, former, to_year = conn.execute(text(
            "SELECT p.name, a->>'name', (a->>'to_year')::int FROM place_names p, "
            "jsonb_array_elements(p.aliases) a WHERE a->>'type' = 'former' ORDER BY p.id LIMIT 1"
        )).one()
    found = search(sample_engine, SearchQuery(former))
    hit = next(r for r in found["results"] if r["name"] == current)
    assert hit["matched"] == {"name": former, "type": "former", "how": "exact",
                              "years": {"from": None, "to": to_year}}
    assert former in hit["note"] and current in hit["note"]
    # by pinyin too
    initials = search(sample_engine, SearchQuery("ytp"))
    assert current in names(initials)


def test_filters(sample_engine):
    with sample_engine.connect() as conn:
        town_code, town_name = conn.execute(text(
            "SELECT code, name FROM admin_areas WHERE name = '宝顶镇'")).one()
    by_code = search(sample_engine, SearchQuery("山", township=town_code, limit=50))
    by_name = search(sample_engine, SearchQuery("山", township=town_name, limit=50))
    assert names(by_code) == names(by_name) and "宝顶山" in names(by_code)
    assert all(r["township_code"] == town_code for r in by_code["results"])
    mountains = search(sample_engine, SearchQuery("山", categories=("山",), limit=50))
    assert mountains["results"] and {r["category"] for r in mountains["results"]} == {"山"}
    top = search(sample_engine, SearchQuery("宝顶山"))["results"][0]
    lon, lat = top["lon"], top["lat"]
    near = search(sample_engine, SearchQuery("宝顶", near=(lon + 0.001, lat), radius_m=400,
                                             limit=50))
    with sample_engine.connect() as conn:
        within = set(conn.execute(text(
            "SELECT name FROM place_names WHERE name LIKE '宝顶%' AND ST_DWithin(geom::geography,"
            " ST_SetSRID(ST_MakePoint(:x, :y), 4490)::geography, 400)"),
            {"x": lon + 0.001, "y": lat}).scalars())
    assert set(names(near)) == within and names(near)[0] == "宝顶山"
    assert 50 < near["results"][0]["distance_m"] < 150  # 0.001° of longitude at 29.75°N ≈ 97 m
    boxed = search(sample_engine, SearchQuery("宝顶", bbox=(lon - 0.001, lat - 0.001,
                                                           lon + 0.001, lat + 0.001)))
    assert names(boxed) == ["宝顶山"]


@pytest.mark.parametrize(("query", "message"), [
    (SearchQuery(" "), "empty"),
    (SearchQuery("宝顶", types=("people",)), "types"),
    (SearchQuery("宝顶", limit=0), "limit"),
    (SearchQuery("宝顶", bbox=(106, 30, 105, 29)), "bbox"),
    (SearchQuery("宝顶", near=(105.7, 29.6), radius_m=-5), "radius"),
    (SearchQuery("宝顶", township="不存在镇"), "township"),
    (SearchQuery("宝顶", categories=("山峰",)), r"category: no place has category '山峰'; "
                                               r"categories are: .*山"),
    (SearchQuery("宝顶", categories=("老年食堂",)), "category"),  # a facility kind, places only
])
def test_bad_queries_name_the_parameter(sample_engine, query, message):
    with pytest.raises(GeoServiceError, match=message):
        search(sample_engine, query)


def test_normalise():
    assert normalise("寶頂").text == "宝顶"
    assert normalise("Lǚ Liáng").pinyin == "lvliang"
    assert normalise("Xi'an").pinyin == "xian"
    assert normalise("bao3 ding3").pinyin == "baoding"


def test_non_public_facilities_only_for_staff(sample_engine, client):
    with sample_engine.connect() as conn:
        hidden = conn.execute(text(
            "SELECT name FROM child_sites WHERE NOT is_public ORDER BY id LIMIT 1")).scalar()
    query = SearchQuery(hidden, types=("facility",), limit=100)
    assert hidden not in names(search(sample_engine, query, ANONYMOUS))
    assert names(search(sample_engine, query, STAFF))[0] == hidden
    public = client.get("/places/search", params={"q": hidden, "types": "facility",
                                                   "limit": 100}).json()
    assert hidden not in names(public)


def test_stored_pinyin_of_townships_and_historic_names(sample_engine):
    expected = {**DAZU_TOWNSHIPS, **{k: v for k, v in HISTORIC_NAMES.items()
                                     if k not in {"重庆市"}}}
    with sample_engine.connect() as conn:
        stored = dict(conn.execute(text(
            "SELECT name, pinyin FROM place_names WHERE name = ANY(:n)"),
            {"n": list(expected)}).all())
        historic = conn.execute(text(
            "SELECT count(*) FROM place_names WHERE historic_list IS NOT NULL")).scalar()
    assert stored == expected
    assert historic == 5


def test_reverse_geocoding_names_the_village_and_township(sample_engine):
    with sample_engine.connect() as conn:
        village = conn.execute(text(
            "SELECT v.code, v.name, v.parent_code, t.name AS township, "
            "ST_X(ST_PointOnSurface(v.geom)) AS lon, ST_Y(ST_PointOnSurface(v.geom)) AS lat "
            "FROM admin_areas v JOIN admin_areas t ON t.code = v.parent_code "
            "WHERE v.level = 'village' ORDER BY v.code OFFSET 40 LIMIT 1")).one()
    found = reverse_geocode(sample_engine, village.lon, village.lat)
    assert found["village"]["code"] == village.code and found["village"]["name"] == village.name
    assert found["township"]["code"] == village.parent_code
    assert found["township"]["name"] == village.township
    assert found["district"]["code"] == "500111000000"
    assert found["description"].startswith(f"{village.township} ")
    assert "附近，距" in found["description"] or "旁" in found["description"]
    distances = [p["distance_m"] for p in found["nearest"]]
    assert distances == sorted(distances) and len(distances) == 5
    # Same point given in GCJ-02 (as Amap shows it) lands in the same village.
    gx, gy = crsmod.wgs84_to_gcj02([village.lon], [village.lat])
    again = reverse_geocode(sample_engine, float(gx[0]), float(gy[0]), crs="gcj02")
    assert again["village"]["code"] == village.code
    assert abs(again["lon"] - village.lon) < 1e-7


def test_reverse_distance_and_direction_to_the_mountain(sample_engine):
    top = search(sample_engine, SearchQuery("宝顶山"))["results"][0]
    # 0.01° south of the mountain: it lies to the north, ~1.1 km away (geodesic).
    found = reverse_geocode(sample_engine, top["lon"], top["lat"] - 0.01, limit=20)
    mountain = next(p for p in found["nearest"] if p["name"] == "宝顶山")
    expected = float(crsmod.geodesic_distance_m(top["lon"], top["lat"] - 0.01,
                                                top["lon"], top["lat"]))
    assert mountain["distance_m"] == pytest.approx(expected, abs=0.5)
    assert mountain["direction"] == "北"
    assert found["landmark"]["name"] == "宝顶山"
    assert "距宝顶山 1.1 公里（正北方向）" in found["description"]


def test_reverse_outside_the_district_is_a_clear_404(sample_engine, client):
    with pytest.raises(NotFoundError, match="outside 大足区"):
        reverse_geocode(sample_engine, 106.0, 29.5)
    response = client.get("/places/reverse", params={"lon": 106.0, "lat": 29.5})
    assert response.status_code == 404 and "outside" in response.json()["detail"]
    response = client.get("/places/reverse", params={"lon": 105.7, "lat": 29.6, "crs": "EPSG:x"})
    assert response.status_code == 400 and "crs" in response.json()["detail"]


def test_compass_and_distance_words():
    assert [compass(b) for b in (0, 44, 46, 90, 180, 270, 337.6, 359)] == [
        "北", "东北", "东北", "东", "南", "西", "北", "北"]
    assert format_distance(849) == "850 米" and format_distance(1234) == "1.2 公里"


def test_hierarchy_by_code_and_name(sample_engine):
    with sample_engine.connect() as conn:
        townships = conn.execute(text(
            "SELECT count(*) FROM admin_areas WHERE level = 'township'")).scalar()
        town = conn.execute(text(
            "SELECT code, name, (SELECT count(*) FROM admin_areas v WHERE v.parent_code = t.code) "
            "AS villages FROM admin_areas t WHERE name = '宝顶镇'")).one()
    district = hierarchy(sample_engine, code="500111", depth=1)
    assert district["level"] == "district" and len(district["children"]) == townships
    assert district["pinyin"] == "Dàzú Qū"
    by_name = hierarchy(sample_engine, name="寶頂鎮")
    assert by_name["code"] == town.code and len(by_name["children"]) == town.villages
    assert by_name["path"] == [{"code": "500111000000", "name": "大足区", "level": "district",
                                "place_name": "大足区", "pinyin": "Dàzú Qū"}]
    assert all(v["code"].startswith(town.code[:9]) for v in by_name["children"])
    with pytest.raises(NotFoundError):
        hierarchy(sample_engine, name="不存在村")
    with pytest.raises(GeoServiceError, match="code"):
        hierarchy(sample_engine, code="12ab")


def test_hierarchy_ambiguous_name_is_409(sample_engine, client):
    with sample_engine.connect() as conn:
        shared = conn.execute(text(
            "SELECT name FROM admin_areas GROUP BY name HAVING count(*) > 1 LIMIT 1")).scalar()
    assert shared is not None  # the sample has two 太平社区居民委员会, for instance
    with pytest.raises(AmbiguousNameError, match="ask by code"):
        hierarchy(sample_engine, name=shared)
    assert client.get("/places/hierarchy", params={"name": shared}).status_code == 409
    response = client.get("/places/hierarchy", params={"name": "宝顶镇", "depth": 0})
    assert response.status_code == 200 and "children" not in response.json()
    assert client.get("/places/hierarchy").status_code == 400


def test_http_search_json_and_geojson(client):
    body = client.get("/places/search", params={"q": "bds"}).json()
    assert body["results"][0]["name"] == "宝顶山" and "_geometry" not in body["results"][0]
    geo = client.get("/places/search", params={"q": "濑溪河", "f": "geojson"})
    assert geo.headers["content-type"].startswith("application/geo+json")
    feature = geo.json()["features"][0]
    assert feature["properties"]["name"] == "濑溪河"
    assert feature["geometry"]["type"] == "LineString"
    bad = client.get("/places/search", params={"q": "宝顶", "bbox": "1,2,3"})
    assert bad.status_code == 400 and "bbox" in bad.json()["detail"]
    assert client.get("/places/search", params={"q": "宝顶", "lon": 105.7}).status_code == 400
    near = client.get("/places/search", params={"q": "宝顶", "lon": 105.8, "lat": 29.75,
                                                "radius": 3000}).json()
    assert near["results"] and all(r["distance_m"] <= 3000 for r in near["results"])


def test_category_filter_takes_names_codes_and_facility_kinds(sample_engine):
    with sample_engine.connect() as conn:
        code = conn.execute(text(
            "SELECT category_code FROM place_names WHERE name = '宝顶山'")).scalar_one()
    by_code = search(sample_engine, SearchQuery("宝顶", categories=(code,)))
    assert names(by_code)[0] == "宝顶山"
    canteens = search(sample_engine, SearchQuery("食堂", types=("facility",),
                                                 categories=("老年食堂",), limit=5))
    assert canteens["results"] and {r["category"] for r in canteens["results"]} == {"老年食堂"}
