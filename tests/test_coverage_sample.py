"""Coverage on the 大足 sample: brute-force agreement, indicators, MCLP, what-if, reports, CLI."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from openpyxl import load_workbook
from pyproj import Transformer
from sqlalchemy import text

from geo_service.coverage.data import load_study
from geo_service.coverage.indicators import compute_indicators
from geo_service.coverage.report_html import render_report
from geo_service.coverage.report_xlsx import write_workbook
from geo_service.coverage.request import CoverageRequest, SuggestRequest
from geo_service.coverage.service import run_coverage
from geo_service.coverage.solvers import Problem, greedy
from geo_service.coverage.suggest import suggest
from geo_service.errors import GeoServiceError

GK = Transformer.from_crs("EPSG:4490", "EPSG:4544", always_xy=True)
STATIONS = ["社区养老服务站", "村级互助养老点"]


@pytest.fixture(scope="module")
def study(sample_engine):
    return load_study(sample_engine)


def _sql_points(engine, sql: str, **params) -> tuple[list, np.ndarray, np.ndarray]:
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    ids = [r[0] for r in rows]
    x, y = GK.transform(np.array([r[1] for r in rows]), np.array([r[2] for r in rows]))
    return ids, np.asarray(x), np.asarray(y)


def test_sample_matches_brute_force(sample_engine, study) -> None:
    radius = 1500.0
    result = run_coverage(study, CoverageRequest(kinds=STATIONS, radius_m=radius))
    codes, ux, uy = _sql_points(sample_engine, """
        SELECT code, ST_X(COALESCE(rep_point, ST_PointOnSurface(geom))),
               ST_Y(COALESCE(rep_point, ST_PointOnSurface(geom)))
        FROM admin_areas WHERE level = 'village' ORDER BY code""")
    ids, sx, sy = _sql_points(sample_engine, """
        SELECT external_id, ST_X(geom), ST_Y(geom) FROM eldercare_sites
        WHERE kind = ANY(:kinds) AND status = '运营' ORDER BY id""", kinds=STATIONS)
    d = np.hypot(ux[:, None] - sx[None, :], uy[:, None] - sy[None, :])
    units = result.units.set_index("code").loc[codes]
    np.testing.assert_allclose(units.nearest_distance_m, d.min(axis=1), atol=0.01, rtol=0)
    assert (units.covered.to_numpy() == (d <= radius).any(axis=1)).all()
    assert list(units.nearest_id) == [ids[i] for i in d.argmin(axis=1)]
    assert result.district["covered_units"] == int((d <= radius).any(axis=1).sum())


def test_township_membership_rule(sample_engine, study) -> None:
    result = run_coverage(study, CoverageRequest(kinds=["镇街养老服务中心"]))
    with sample_engine.connect() as conn:
        towns = set(conn.execute(text(
            "SELECT DISTINCT township_code FROM eldercare_sites "
            "WHERE kind = '镇街养老服务中心' AND status = '运营'")).scalars())
        expected = set(conn.execute(text(
            "SELECT code FROM admin_areas WHERE level = 'village' AND parent_code = ANY(:t)"),
            {"t": list(towns)}).scalars())
    assert set(result.units.code[result.units.covered]) == expected
    assert set(result.units.covered_by.dropna()) == {"township"}
    share = {t["code"]: t["coverage_share"] for t in result.townships}
    assert all(share[t] == 1.0 for t in towns)


def test_json_shape_summaries_and_gaps(study) -> None:
    result = run_coverage(study, CoverageRequest(kinds=STATIONS, radius_m=600))
    doc = json.loads(json.dumps(result.to_json()))
    assert {"district", "townships", "units"} <= set(doc)
    unit = doc["units"][0]
    for key in ("code", "name", "lon", "lat", "population_60plus", "nearest_id",
                "nearest_distance_m", "covered"):
        assert key in unit
    units = result.units
    w = units.population_60plus
    assert doc["district"]["covered_population_60plus"] == int(w[units.covered].sum())
    assert sum(t["units"] for t in doc["townships"]) == len(units) == 309
    ranked = [u["population_60plus"] for u in doc["uncovered"]]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == (~units.covered).sum()
    assert doc["note"] and doc["illustrative"] is True
    # gaps: no uncovered unit point lies in a service area; all gap parts lie in the district
    import shapely
    assert doc["gaps"]["features"]
    served = result.service_area
    pts = shapely.points(units.lon, units.lat)
    inside = shapely.covers(served.buffer(1e-7), pts)
    assert not inside[~units.covered.to_numpy()].any()
    total_gap = sum(f["properties"]["area_km2"] for f in doc["gaps"]["features"])
    assert 0 < total_gap < 1436


def test_whatif_add_and_remove_write_nothing(sample_engine, study) -> None:
    base = run_coverage(study, CoverageRequest(kinds=STATIONS))
    gap = base.uncovered().iloc[0]
    with sample_engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), max(updated_at) FROM eldercare_sites")).one()
    added = run_coverage(study, CoverageRequest(kinds=STATIONS, add_sites=[
        {"lon": gap.lon, "lat": gap.lat, "kind": "互助养老点", "name": "试点"}]))
    row = added.units.set_index("code").loc[gap.code]
    assert row.covered and row.nearest_id == "whatif-1" and row.nearest_distance_m == 0
    assert added.district["covered_units"] == base.district["covered_units"] + 1
    covered = base.units[base.units.covered_by == "radius"].iloc[0]
    removed = run_coverage(study, CoverageRequest(
        kinds=STATIONS, remove_sites=[covered.nearest_id]))
    assert removed.units.set_index("code").loc[covered.code].nearest_id != covered.nearest_id
    with sample_engine.connect() as conn:
        assert conn.execute(text(
            "SELECT count(*), max(updated_at) FROM eldercare_sites")).one() == before
    with pytest.raises(GeoServiceError, match="no site with id EC-9999"):
        run_coverage(study, CoverageRequest(kinds=STATIONS, remove_sites=["EC-9999"]))
    with pytest.raises(GeoServiceError, match="outside"):
        run_coverage(study, CoverageRequest(kinds=STATIONS, add_sites=[
            {"lon": 116.4, "lat": 39.9, "kind": "村级互助养老点"}]))
    with pytest.raises(GeoServiceError, match="unknown kind"):
        run_coverage(study, CoverageRequest(kinds=["养老院子"]))


def test_indicators_against_sql(sample_engine, study) -> None:
    result = compute_indicators(study)
    ind = {r["id"]: r for r in result["district"]["indicators"]}
    with sample_engine.connect() as conn:
        beds, nursing, gov = conn.execute(text(
            "SELECT sum(beds), sum(nursing_beds), sum(beds) FILTER (WHERE operator_type='公办') "
            "FROM eldercare_sites WHERE status = '运营'")).one()
        no_station = conn.execute(text("""
            SELECT a.name FROM admin_areas a WHERE a.level = 'village' AND NOT EXISTS (
              SELECT 1 FROM eldercare_sites s WHERE ST_Covers(a.geom, s.geom) AND s.status='运营'
              AND s.kind IN ('社区养老服务站', '村级互助养老点', '镇街养老服务中心'))""")).scalars()
        no_station = sorted(no_station)
        work = conn.execute(text(
            "SELECT count(DISTINCT township_code) FROM child_sites "
            "WHERE kind = '镇街未成年人保护工作站' AND status = '运营'")).scalar()
        elderly = conn.execute(text(
            "SELECT sum(population_60plus) FROM admin_areas WHERE level='village'")).scalar()
    assert ind["total_beds"]["value"] == beds and ind["total_beds"]["status"] == "not met"
    assert ind["nursing_bed_share"]["value"] == pytest.approx(nursing / beds, abs=1e-4)
    assert ind["government_bed_share"]["value"] == pytest.approx(gov / beds, abs=1e-4)
    assert ind["beds_per_100_elderly"]["value"] == pytest.approx(beds * 100 / elderly, abs=1e-3)
    # the sample leaves 2 communities and 2 villages without a station
    assert len(no_station) == 4
    assert sum(n.endswith("社区居民委员会") for n in no_station) == 2
    assert ind["units_with_station"]["value"] == pytest.approx(305 / 309, abs=1e-4)
    assert ind["units_with_station"]["status"] == "not met"
    listed = sorted(u["name"] for t in result["townships"] for u in t["units_without_station"])
    assert listed == no_station
    assert ind["townships_with_minor_protection"]["value"] == pytest.approx(work / 27, abs=1e-4)
    assert ind["townships_with_minor_protection"]["status"] == (
        "met" if work / 27 >= 0.5 else "not met")
    assert len(result["townships"]) == 27


def test_mclp_exact_is_fast_and_never_worse_than_greedy(study) -> None:
    for count in (1, 3, 8):
        req = SuggestRequest(kinds=["养老机构"], count=count, method="exact")
        started = time.perf_counter()
        out = suggest(study, req)
        assert time.perf_counter() - started < 10
        assert out["candidate_count"] == 309
        assert out["mclp"]["status"] == "optimal" and out["mclp"]["method"] == "exact"
        assert out["mclp"]["solver"].startswith("HiGHS") and out["mclp"]["gap"] == 0
        assert out["mclp"]["covered_weight"] >= out["mclp"]["greedy_covered_weight"]
        assert len(out["sites"]) == count
        gained = out["after"]["covered_population_60plus"] - out["before"][
            "covered_population_60plus"]
        assert gained == pytest.approx(out["mclp"]["covered_weight"])
        # the added weights count each unit once: they sum to the real gain
        assert sum(s["added_weight"] for s in out["sites"]) == pytest.approx(gained)
    sc = out["set_cover"]
    assert sc["status"] == "optimal" and sc["complete"] is True
    every = set().union(*(s["covers"] for s in sc["sites"]))
    assert len(every) == out["uncovered_units"]  # each unit can host a site: all reachable
    greedy_out = suggest(study, SuggestRequest(kinds=["养老机构"], count=8, method="greedy"))
    g = greedy_out["mclp"]
    assert g["covered_weight"] <= g["upper_bound"] + 1e-6 and 0 <= g["gap"] < 1
    assert g["method"] == "greedy" and g["bound"] == "LP relaxation"
    assert g["covered_weight"] == out["mclp"]["greedy_covered_weight"]


def test_greedy_on_a_tiny_known_problem() -> None:
    # candidates: 0 covers {0,1}, 1 covers {1,2}, 2 covers {3}; weights 5,1,5,2
    p = Problem(np.array([5.0, 1.0, 5.0, 2.0]), np.array([0, 1, 1, 2, 3]),
                np.array([0, 0, 1, 1, 2]), 3)
    chosen = greedy(p, 2)
    assert list(chosen) == [0, 1] and p.covered_weight(chosen) == 11.0


def test_reports_are_offline_and_show_the_map(study, tmp_path) -> None:
    result = run_coverage(study, CoverageRequest(kinds=STATIONS, radius_m=800))
    page = render_report(result, compute_indicators(study))
    assert "L.map(" in page.replace("&quot;", '"') or "L.map(" in page
    assert "leaflet" in page.lower() and "覆盖空白(全区减去服务范围)" in page
    for words in ("各镇街覆盖情况", "60岁及以上人口覆盖率", "<th>覆盖率</th>", "<th>最近设施</th>",
                  "未达标", "并非实测或官方数据"):  # a Chinese report for the bureau's planners
        assert words in page, words
    assert "Generated" not in page and "Uncovered units" not in page
    assert "\\u8986\\u76d6\\u7a7a\\u767d" in page  # the gap layer (JSON-escaped 覆盖空白)
    external = re.compile(r"<(?:script|link|img)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
                          re.I)
    import html as html_mod
    assert not external.search(page) and not external.search(html_mod.unescape(page))
    assert "示意数据" in page and page.count("<svg") >= 1
    for row in result.townships:
        assert row["name"] in page
    path = write_workbook(result, tmp_path / "c.xlsx", compute_indicators(study))
    wb = load_workbook(path)
    assert wb.sheetnames == ["摘要", "镇街", "村(社区)", "未覆盖", "覆盖空白", "服务半径",
                             "规划指标"]
    assert wb["村(社区)"].max_row == 310


def test_cli_entry_point_json_and_errors(sample_url) -> None:
    import os
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=sample_url.replace("postgresql+psycopg",
                                                                       "postgresql"))
    cmd = [sys.executable, "-m", "geo_service.cli", "coverage"]
    run = subprocess.run([*cmd, "-k", "村级互助养老点", "-k", "社区养老服务站", "--radius", "900"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["district"]["units"] == 309 and doc["radii"][0]["urban_m"] == 900
    run = subprocess.run([*cmd, "-k", "不存在"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and "unknown kind '不存在'" in run.stderr


def test_cli_commands(study, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from geo_service.coverage import cli

    monkeypatch.setattr(cli, "_study", lambda: study)  # the sample DB's study, same engine
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(cli.app, ["--format", "html", "--out", str(out),
                                  "--add", "105.72,29.70,村级互助养老点,1500"])
    assert res.exit_code == 0, res.output
    assert "L.map" in out.read_text() or "L.map" in out.read_text().replace("&quot;", '"')
    xlsx = tmp_path / "r.xlsx"
    assert runner.invoke(cli.app, ["-f", "xlsx", "-o", str(xlsx)]).exit_code == 0
    assert load_workbook(xlsx)["摘要"]["B3"].value == "养老服务设施"
    res = runner.invoke(cli.app, ["-f", "geojson", "-l", "child_sites"])
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["type"] == "FeatureCollection" and doc["weight"] == "population_0_17"
    res = runner.invoke(cli.app, ["indicators"])
    assert res.exit_code == 0 and "村(社区)养老服务站点覆盖率" in res.stdout
    assert "五金社区居民委员会" in res.stdout
    for words in ("指标", "现值", "2025 年目标", "状态", "未达标", "7297 张", "51.9%", "示意数据",
                  "尚无养老服务站点的村(社区)"):
        assert words in res.stdout, words  # 14/27 is 51.85…%: rounded once, 51.9 %
    assert "not met" not in res.stdout and "targets" not in res.stdout
    res = runner.invoke(cli.app, ["suggest", "-n", "2", "-f", "table"])
    assert res.exit_code == 0, res.output
    for words in ("建议新增养老机构 2 处", "新增前", "新增后", "求解方法", "已证明最优",
                  "全覆盖最少需新增"):
        assert words in res.stdout, words
    res = runner.invoke(cli.app, ["suggest", "-k", "养老机构", "-n", "2"])
    assert res.exit_code == 0 and len(json.loads(res.stdout)["sites"]) == 2
    res = runner.invoke(cli.app, ["suggest", "-n", "3"])  # defaults on the pristine sample
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["sites"]) == 3
    res = runner.invoke(cli.app, ["suggest", "-n", "3", "--solver", "cbc", "--radius-by", "site"])
    doc = json.loads(res.stdout)
    assert doc["mclp"]["solver"] == "CBC (PuLP)" and doc["radius_by"] == "site"
    # the README's what-if example removes what it says (EC-0200 is a 社区养老服务站)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    line = next(x for x in readme.splitlines() if "--remove EC-0200" in x and "coverage" in x)
    res = runner.invoke(cli.app, shlex.split(line.split("coverage", 1)[1]))
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["id"] for r in doc["whatif"]["removed"]] == ["EC-0200"]
    assert len(doc["whatif"]["added"]) == 1
    res = runner.invoke(cli.app, ["-k", "村级互助养老点", "--remove", "EC-0200"])
    assert isinstance(res.exception, GeoServiceError) and "EC-0200" in str(res.exception)
    res = runner.invoke(cli.app, ["--format", "html"])
    assert isinstance(res.exception, GeoServiceError) and "needs --out" in str(res.exception)
    res = runner.invoke(cli.app, ["--add", "105.7,29.7"])
    assert isinstance(res.exception, GeoServiceError) and "lon,lat,kind" in str(res.exception)
    res = runner.invoke(cli.app, ["--radius", "-5"])
    assert isinstance(res.exception, GeoServiceError) and "radius_m" in str(res.exception)


def test_grid_candidates_greedy_gap_and_exact(study) -> None:
    req = dict(kinds=["养老机构"], count=3, candidates="grid", grid_spacing_m=2000)
    g = suggest(study, SuggestRequest(**req, method="greedy"))
    e = suggest(study, SuggestRequest(**req, method="exact"))
    assert g["candidate_count"] == e["candidate_count"] > 200
    assert g["mclp"]["bound"] == "LP relaxation"
    assert e["mclp"]["covered_weight"] <= g["mclp"]["upper_bound"] + 1e-6
    assert e["mclp"]["covered_weight"] >= g["mclp"]["covered_weight"]


def test_time_limited_exact_on_the_grid_is_honest(study) -> None:
    """The issue's request: a 0.001 s limit on a 100 m grid still gives 7 sites ≥ greedy."""
    req = dict(kinds=["养老机构"], count=7, candidates="grid", grid_spacing_m=100)
    limited = suggest(study, SuggestRequest(**req, method="exact", time_limit_s=0.001))
    m = limited["mclp"]
    assert len(limited["sites"]) == 7 and m["sites"] == 7
    assert m["covered_weight"] >= m["greedy_covered_weight"]
    assert m["method"] in ("greedy", "solver incumbent") and m["status"] != "optimal"
    assert m["upper_bound"] >= m["covered_weight"] and m["gap"] > 0
    sc = limited["set_cover"]
    assert sc["complete"] is True and sc["method"] != "exact"
    every = set().union(*(s["covers"] for s in sc["sites"]))
    assert len(every) == sc["reachable_units"]


@pytest.mark.parametrize("radius_by", ["site", "residents"])
def test_auto_on_the_200m_grid_is_exact(study, radius_by: str) -> None:
    """The 200 m grid (35 864 candidates) is well under 2 million pairs: auto solves exactly."""
    req = dict(kinds=["养老机构"], candidates="grid", grid_spacing_m=200, radius_by=radius_by)
    auto = suggest(study, SuggestRequest(**req, count=7))
    greedy_out = suggest(study, SuggestRequest(**req, count=7, method="greedy",
                                               set_cover=False))
    assert auto["candidate_count"] == 35_864 and auto["pairs"] < 2_000_000
    assert auto["mclp"]["method"] == "exact" and auto["mclp"]["gap"] == 0
    assert auto["mclp"]["covered_weight"] >= greedy_out["mclp"]["covered_weight"]
    assert auto["set_cover"]["status"] == "optimal" and auto["set_cover"]["complete"]
    if radius_by == "site":  # the figures, found independently with spopt
        assert auto["pairs"] == 140_852 and auto["set_cover"]["sites_needed"] == 17


def test_empty_and_partial_suggest_requests_get_defaults(study) -> None:
    out = suggest(study, SuggestRequest())
    assert out["new_kind"] == "养老机构" and out["kinds"] == ["养老机构"]
    assert len(out["sites"]) == 3 and out["mclp"]["status"] == "optimal"
    assert out["after"]["coverage_share"] > out["before"]["coverage_share"]
    out = suggest(study, SuggestRequest(new_kind="互助养老点", count=2))
    assert out["kinds"] == ["村级互助养老点"] and len(out["sites"]) == 2
    with pytest.raises(GeoServiceError, match="镇街养老服务中心"):
        suggest(study, SuggestRequest(kinds=["镇街养老服务中心"]))
    # the district-level centre already covers everyone: no sites, and it says so
    none = suggest(study, SuggestRequest(kinds=["养老机构", "失能特困人员集中照护中心"]))
    assert none["sites"] == [] and none["uncovered_units"] == 0
    assert none["mclp"]["notes"] == ["当前设施已覆盖全部村(社区)，无需新增"]
    assert none["set_cover"]["sites_needed"] == 0 and none["set_cover"]["complete"]


def test_residents_radius_rule(study) -> None:
    """By default the radius follows the residents' unit, not where the site stands."""
    kinds = ["养老机构"]
    res = run_coverage(study, CoverageRequest(kinds=kinds))
    site = run_coverage(study, CoverageRequest(kinds=kinds, radius_by="site"))
    units = res.units.set_index("code")
    sites = res.sites
    ux, uy = GK.transform(units.lon.to_numpy(), units.lat.to_numpy())
    sx, sy = GK.transform(sites.lon.to_numpy(), sites.lat.to_numpy())
    d = np.hypot(ux[:, None] - sx[None, :], uy[:, None] - sy[None, :])
    limit = np.where(units.urban.to_numpy(bool), 1000.0, 5000.0)
    assert (units.covered.to_numpy() == (d <= limit[:, None]).any(axis=1)).all()
    site_limit = np.where(sites.urban.to_numpy(bool), 1000.0, 5000.0)
    by_site = (d <= site_limit[None, :]).any(axis=1)
    assert (site.units.set_index("code").covered.to_numpy() == by_site).all()
    urban_far = units.urban.to_numpy(bool) & by_site & ~units.covered.to_numpy()
    assert urban_far.sum() > 10  # urban communities no longer counted from a rural 5 km circle
    assert res.district["coverage_share"] < site.district["coverage_share"]
    meta = res.metadata()
    assert meta["radius_by"] == "residents" and "居民" in meta["radius_by_source"]


def test_whatif_removals_that_would_do_nothing_are_errors(study) -> None:
    with pytest.raises(GeoServiceError, match=r"EC-0200 .*社区养老服务站.*村级互助养老点"):
        run_coverage(study, CoverageRequest(kinds=["村级互助养老点"], remove_sites=["EC-0200"]))
    village = study.sites["eldercare_sites"]
    village = village[(village.kind == "村级互助养老点") & (village.status == "运营")].iloc[0]
    res = run_coverage(study, CoverageRequest(kinds=["村级互助养老点"], remove_sites=[
        village.id], add_sites=[{"lon": 105.72, "lat": 29.70, "kind": "村级互助养老点"}]))
    changes = res.metadata()["whatif"]
    assert [r["id"] for r in changes["removed"]] == [village.id]
    assert changes["removed"][0]["name"] == village["name"]
    assert [a["id"] for a in changes["added"]] == ["whatif-1"]
    assert village.id not in set(res.sites.id)
    building = study.sites["eldercare_sites"]
    building = building[building.status == "在建"]
    assert len(building) == 2  # the sample has two sites under construction
    b = building.iloc[0]
    with pytest.raises(GeoServiceError, match=f"{b.id}.*在建"):
        run_coverage(study, CoverageRequest(kinds=[b.kind], remove_sites=[b.id]))
    ok = run_coverage(study, CoverageRequest(kinds=[b.kind], remove_sites=[b.id],
                                             include_under_construction=True))
    assert [r["id"] for r in ok.metadata()["whatif"]["removed"]] == [b.id]
