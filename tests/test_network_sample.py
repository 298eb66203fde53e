"""Walking and driving along the sample's roads: CLI coverage against networkx, errors, reports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import shapely
from network_oracle import oracle
from sqlalchemy import func, select

from geo_service import crs
from geo_service.coverage.data import layer_kinds, load_study
from geo_service.coverage.distance import PlanarDistance
from geo_service.coverage.request import CoverageRequest
from geo_service.coverage.service import run_coverage, select_sites
from geo_service.db.models import roads
from geo_service.errors import GeoServiceError
from geo_service.network.store import network_model, road_graph
from geo_service.sample import sample_dir


@pytest.fixture(scope="module")
def study(sample_engine):
    return load_study(sample_engine)


def _cli(sample_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {"GEO_SERVICE_DATABASE_URL": sample_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "geo_service.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def _xy(frame):
    return np.column_stack(PlanarDistance().project(frame.lon.to_numpy(float),
                                                    frame.lat.to_numpy(float)))


def test_sample_roads_are_loaded_illustrative_and_mostly_one_network(sample_engine):
    features = json.loads((sample_dir() / "roads.geojson").read_text(encoding="utf-8"))
    with sample_engine.connect() as conn:
        n, illustrative, oneway = conn.execute(select(
            func.count(), func.count().filter(roads.c.geometry_accuracy == "illustrative"),
            func.count().filter(roads.c.oneway.is_(True)))).one()
    assert n == len(features["features"]) == illustrative
    assert oneway > 0
    summary = road_graph(sample_engine).summary(network_model(sample_engine, "walk").speeds)
    assert summary["walk"]["components"] >= 1 and summary["walk"]["largest_share"] > 0.9
    assert summary["speeds"]["walk_kmh"] == 3.6 and "JAMA" in summary["speeds"]["walk_source"]


@pytest.mark.parametrize(("mode", "minutes"), [("walk", 15), ("drive", 10)])
def test_cli_coverage_minutes_equal_networkx(sample_engine, sample_url, study, mode, minutes):
    """Done when: per-unit minutes along the roads equal an independent networkx run (1 s)."""
    run = _cli(sample_url, "coverage", "--distance", mode, "--minutes", str(minutes))
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["network"]["distance"] == mode and result["network"]["minutes"] == minutes
    req = CoverageRequest(distance=mode, minutes=minutes)
    sites, _ = select_sites(study, req, layer_kinds(req.layer, []))
    units = study.units
    model = network_model(sample_engine, mode)
    expect, _ = oracle(model.graph, model.net, _xy(units), _xy(sites))
    by_code = {u["code"]: u for u in result["units"]}
    got = np.array([np.nan if by_code[c]["nearest_minutes"] is None
                    else by_code[c]["nearest_minutes"] * 60 for c in units.code])
    expect = np.asarray(expect)
    assert np.isfinite(expect).sum() > 0.9 * len(units)
    np.testing.assert_array_equal(np.isnan(got), np.isinf(expect))
    ok = np.isfinite(expect)
    assert np.abs(got[ok] - expect[ok]).max() < 1.0
    # minutes, metres along roads and the straight line are given side by side
    rows = [by_code[c] for c in units.code[ok]]
    site_xy = dict(zip(sites.id, _xy(sites), strict=True))
    unit_xy = _xy(units)[ok]
    for r, uxy in zip(rows[:50], unit_xy[:50], strict=True):
        straight = float(np.hypot(*(site_xy[r["nearest_id"]] - uxy)))
        assert abs(r["nearest_straight_m"] - straight) < 0.1
        assert r["nearest_distance_m"] == pytest.approx(r["nearest_road_m"] + r["nearest_snap_m"],
                                                        abs=0.2)
        assert r["nearest_distance_m"] >= straight - 0.2
    if mode == "walk":  # one walking speed: minutes are metres travelled / 1.0 m/s
        for r in rows:
            assert r["nearest_minutes"] * 60 == pytest.approx(r["nearest_distance_m"], abs=0.2)


def test_covered_by_radius_means_within_the_minutes_of_a_radius_site(sample_engine, study):
    req = CoverageRequest(distance="walk", minutes=15, gaps=False)
    result = run_coverage(study, req)
    radius_sites = result.sites[result.sites.rule == "radius"]
    model = network_model(sample_engine, "walk")
    expect, _ = oracle(model.graph, model.net, _xy(study.units), _xy(radius_sites))
    by_radius = (result.units.covered_by == "radius").to_numpy()
    np.testing.assert_array_equal(by_radius, np.asarray(expect) <= 900.0)
    straight = run_coverage(study, CoverageRequest(radius_m=900, gaps=False))
    # along roads at 1 m/s, 15 minutes reach fewer units than a 900 m circle
    assert by_radius.sum() <= (straight.units.covered_by == "radius").sum()


def test_network_requests_with_wrong_units_are_clear_errors(study):
    with pytest.raises(GeoServiceError, match="minutes"):
        run_coverage(study, CoverageRequest(distance="drive", gaps=False))
    with pytest.raises(GeoServiceError, match="walk or drive"):
        run_coverage(study, CoverageRequest(minutes=10, gaps=False))


def test_walk_without_minutes_reads_radii_as_metres_along_roads(study):
    result = run_coverage(study, CoverageRequest(distance="walk", radius_m=1200, gaps=False))
    assert result.network["radius_unit"] == "metres along the road"
    minutes = run_coverage(study, CoverageRequest(distance="walk", radius_m=1, minutes=20,
                                                  gaps=False))  # every kind by radius, 20 min
    np.testing.assert_array_equal(result.units.covered.to_numpy(),
                                  minutes.units.covered.to_numpy())  # 1200 m at 1 m/s = 20 min


def test_suggest_along_roads_places_sites_that_reach_their_units_in_time(sample_engine, study):
    from geo_service.coverage.request import SuggestRequest
    from geo_service.coverage.suggest import suggest

    req = SuggestRequest(kinds=["村级互助养老点"], distance="walk", minutes=10, count=3,
                         method="greedy", set_cover=False)
    out = suggest(study, req)
    assert out["distance"] == "walk" and out["minutes"] == 10
    assert out["after"]["covered_units"] > out["before"]["covered_units"]
    model = network_model(sample_engine, "walk")
    units = study.units.set_index("code")
    for site in out["sites"]:
        covers = units.loc[site["covers"]]
        sxy = np.column_stack(PlanarDistance().project(np.array([site["lon"]]),
                                                       np.array([site["lat"]])))
        seconds = model.routes(_xy(covers), sxy).seconds
        assert (seconds <= 600.0 + 1e-6).all()  # every unit it is credited with is ≤ 10 min


def test_api_coverage_walk_and_isochrones_geojson(sample_engine):
    from fastapi.testclient import TestClient

    from geo_service.access import Principal, Role
    from geo_service.api.app import create_app
    from geo_service.api.deps import get_principal

    app = create_app(sample_engine)
    with TestClient(app) as client:
        assert client.get("/network/isochrones").status_code == 401
        app.dependency_overrides[get_principal] = lambda: Principal("u-planner", Role.planner)
        res = client.post("/coverage", json={"kinds": ["村级互助养老点"], "distance": "walk",
                                             "minutes": 15})
        assert res.status_code == 200, res.text
        doc = res.json()
        assert doc["network"]["distance"] == "walk"
        assert [f["properties"]["minutes"] for f in doc["isochrones"]["features"]] == [15, 10, 5]
        bad = client.post("/coverage", json={"distance": "drive"})
        assert bad.status_code == 400 and "minutes" in bad.text
        iso = client.get("/network/isochrones", params={"kind": "老年食堂", "minutes": "5,10"})
        assert iso.status_code == 200 and iso.headers["content-type"].startswith(
            "application/geo+json")
        feats = iso.json()["features"]
        assert [(f["properties"]["kind"], f["properties"]["minutes"]) for f in feats] == [
            ("老年食堂", 10.0), ("老年食堂", 5.0)]
        ten, five = (shapely.geometry.shape(f["geometry"]) for f in feats)
        assert five.area < ten.area
        assert five.difference(ten).area < 1e-6 * five.area  # nested
        site = client.get("/network/isochrones", params={"site": "nope"})
        assert site.status_code == 404
        assert client.get("/network/isochrones", params={"minutes": "0"}).status_code == 400
        summary = client.get("/network").json()
        assert summary["walk"]["components"] >= 1
    app.dependency_overrides.clear()


def test_cli_isochrones_file_opens_in_gdal_as_cgcs2000(sample_url, tmp_path):
    import pyogrio

    out = tmp_path / "canteens.geojson"
    run = _cli(sample_url, "network", "isochrones", "-k", "老年食堂", "--minutes", "5,10",
               "-o", str(out))
    assert run.returncode == 0, run.stderr
    info = pyogrio.read_info(out)
    assert info["features"] == 2 and "4490" in info["crs"]
    frame = pyogrio.read_dataframe(out)
    assert sorted(frame.minutes) == [5.0, 10.0] and set(frame.kind) == {"老年食堂"}
    bad = _cli(sample_url, "network", "isochrones", "--minutes", "5,abc")
    assert bad.returncode != 0 and "5,abc" in bad.stderr


def test_html_report_draws_the_isochrones_and_road_figures(study):
    from geo_service.coverage.report_html import render_report

    result = run_coverage(study, CoverageRequest(kinds=["村级互助养老点", "社区养老服务站"],
                                                 distance="walk", minutes=15))
    iso = result.isochrones
    assert [f["properties"]["minutes"] for f in iso["features"]] == [15.0, 10.0, 5.0]
    areas = [f["properties"]["area_km2"] for f in iso["features"]]
    assert areas == sorted(areas, reverse=True) and areas[-1] > 0
    page = render_report(result)
    assert "沿道路的步行时间" in page
    assert json.dumps("沿道路等时圈")[1:-1] in page  # the map layer (escaped in the iframe's JS)
    assert "时间(分钟)" in page and "直线(米)" in page  # uncovered units: minutes beside the line
    for area in areas:
        assert f"<td>{area}</td>" in page or str(area) in page
    # the service area is the isochrone corridors: served area equals the 15-minute one
    served = crs.to_metric(result.service_area).area / 1e6
    assert served == pytest.approx(areas[0], rel=1e-3)


def test_snap_distances_are_reported_and_counted(sample_engine, study):
    result = run_coverage(study, CoverageRequest(distance="walk", minutes=15, gaps=False))
    net = result.network
    assert net["snap_m"]["snapped"] == len(study.units)
    assert net["site_snap_m"]["snapped"] == len(result.sites)
    assert 0 <= net["site_snap_m"]["mean"] <= net["site_snap_m"]["max"]
    units = result.units.dropna(subset=["nearest_minutes"])
    # the minutes include the walks to and from the roads (snap metres at 1 m/s)
    np.testing.assert_allclose(units.nearest_minutes * 60,
                               units.nearest_road_m + units.nearest_snap_m, atol=0.2)
