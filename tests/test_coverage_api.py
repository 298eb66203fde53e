"""The planners' endpoints: roles (401/403), JSON/GeoJSON/HTML/XLSX, what-if, suggest, errors."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from geo_service.access import Principal, Role
from geo_service.api.app import create_app
from geo_service.api.deps import get_principal

BODY = {"kinds": ["社区养老服务站", "村级互助养老点"], "radius_m": 700}


@pytest.fixture(scope="module")
def app(sample_engine):
    return create_app(sample_engine)


@pytest.fixture
def as_role(app):
    def use(role: Role | None) -> None:
        if role is None:
            app.dependency_overrides.pop(get_principal, None)
        else:
            app.dependency_overrides[get_principal] = lambda: Principal(f"u-{role}", role)

    yield use
    app.dependency_overrides.pop(get_principal, None)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def test_anonymous_gets_401_and_other_roles_403(client, as_role) -> None:
    as_role(None)
    for method, url in [("post", "/coverage"), ("get", "/indicators"),
                        ("post", "/coverage/suggest")]:
        res = client.request(method, url, json=BODY if method == "post" else None)
        assert res.status_code == 401, (url, res.text)
    as_role(Role.boundary_officer)
    assert client.post("/coverage", json=BODY).status_code == 403
    assert client.get("/indicators").status_code == 403
    as_role(Role.admin)
    assert client.get("/indicators").status_code == 200


def test_coverage_json_geojson_and_whatif(client, as_role) -> None:
    as_role(Role.planner)
    res = client.post("/coverage", json=BODY)
    assert res.status_code == 200, res.text
    doc = res.json()
    assert set(doc) >= {"district", "townships", "units", "uncovered", "gaps"}
    assert len(doc["units"]) == 309 and doc["illustrative"] is True
    worst = doc["uncovered"][0]
    unit = next(u for u in doc["units"] if u["code"] == worst["code"])
    whatif = client.post("/coverage", json={**BODY, "add_sites": [
        {"lon": unit["lon"], "lat": unit["lat"], "kind": "村级互助养老点"}]}).json()
    assert whatif["district"]["covered_units"] == doc["district"]["covered_units"] + 1
    assert whatif["whatif_added"] == 1
    again = client.post("/coverage", json=BODY).json()
    assert again["district"] == doc["district"]  # nothing was written
    geo = client.post("/coverage?format=geojson", json=BODY)
    assert geo.headers["content-type"].startswith("application/geo+json")
    g = geo.json()
    assert g["type"] == "FeatureCollection" and len(g["features"]) == 309
    assert g["features"][0]["geometry"]["type"] == "Point" and "district" in g


def test_reports_and_access(client, as_role) -> None:
    as_role(Role.planner)
    page = client.post("/coverage?format=html", json=BODY)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "<iframe" in page.text and "L.map" in page.text.replace("&quot;", '"')
    book = client.post("/coverage?format=xlsx", json=BODY)
    assert book.status_code == 200 and book.content[:2] == b"PK"
    res = client.post("/coverage", json={"kinds": ["养老机构", "特困人员供养服务机构(敬老院)"],
                                         "access": {"catchment_m": 8000, "decay": "gaussian"}})
    units = res.json()["units"]
    assert all(u["access"] is not None and u["access"] >= 0 for u in units)
    assert res.json()["access"]["decay"] == "gaussian"


def test_indicators_and_suggest(client, as_role) -> None:
    as_role(Role.planner)
    ind = client.get("/indicators").json()
    assert len(ind["district"]["indicators"]) == 8 and len(ind["townships"]) == 27
    res = client.post("/coverage/suggest", json={"kinds": ["养老机构"], "count": 4})
    assert res.status_code == 200, res.text
    s = res.json()
    assert len(s["sites"]) == 4 and s["mclp"]["status"] == "optimal"
    assert s["after"]["coverage_share"] > s["before"]["coverage_share"]
    assert "set_cover" in s
    assert s["illustrative"] is True and "示意" in s["note"]  # a person sees it: say so
    empty = client.post("/coverage/suggest", json={})
    assert empty.status_code == 200, empty.text
    assert empty.json()["new_kind"] == "养老机构" and len(empty.json()["sites"]) == 3
    page = client.post("/coverage/suggest?format=html", json={})
    assert page.status_code == 200 and "建议新增" in page.text


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"count": 0}, 422, "count"),
    ({"kinds": ["镇街养老服务中心"]}, 400, "new_radius_m"),
    ({"new_kind": "殡仪馆"}, 400, "殡仪馆"),
    ({"method": "simplex"}, 422, "method"),
    ({"time_limit_s": 0}, 422, "time_limit_s"),
])
def test_bad_suggest_input_is_a_clear_4xx(client, as_role, body, status, needle) -> None:
    as_role(Role.planner)
    res = client.post("/coverage/suggest", json=body)
    assert res.status_code == status and needle in res.text, res.text


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({"kinds": ["不存在"]}, 400, "unknown kind"),
    ({"radius_m": -1}, 422, "radius_m"),
    ({"layer": "admin_areas"}, 422, "layer"),
    ({"remove_sites": ["EC-9999"]}, 400, "EC-9999"),
    ({"kinds": ["村级互助养老点"], "remove_sites": ["EC-0200"]}, 400, "EC-0200"),
    ({"add_sites": [{"lon": 121.5, "lat": 31.2, "kind": "村级互助养老点"}]}, 400, "outside"),
    ({"add_sites": [{"lon": 105.7, "lat": 29.7, "kind": "殡仪馆"}]}, 400, "殡仪馆"),
    ({"kind_radii": {"老年食堂": 500}, "kinds": ["养老机构"]}, 400, "老年食堂"),
    ({"surprise": 1}, 422, "surprise"),
])
def test_bad_input_is_a_clear_4xx(client, as_role, body, status, needle) -> None:
    as_role(Role.planner)
    res = client.post("/coverage", json=body)
    assert res.status_code == status and needle in res.text, res.text
