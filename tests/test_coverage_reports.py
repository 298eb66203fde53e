"""The workbook and HTML reports as a planner reads them: Chinese, precise, complete."""

from __future__ import annotations

import re

import pytest
from openpyxl import load_workbook

from geo_service.coverage.data import load_study
from geo_service.coverage.indicators import compute_indicators
from geo_service.coverage.labels import GAP_REPORT_MIN_KM2, pct
from geo_service.coverage.report_html import render_report
from geo_service.coverage.report_xlsx import display_width, write_workbook
from geo_service.coverage.request import CoverageRequest, SuggestRequest
from geo_service.coverage.service import run_coverage
from geo_service.coverage.suggest import suggest, suggestion_result

ENGLISH = re.compile(r"\b(covered_units|coverage_share|not met|TRUE|FALSE|eldercare_sites|"
                     r"nearest|uncovered|radius|township|per-request|planning assumption|"
                     r"urban|rural)\b")
ACCESS = {"catchment_m": 8000, "decay": "gaussian"}


@pytest.fixture(scope="module")
def study(sample_engine):
    return load_study(sample_engine)


@pytest.fixture(scope="module")
def result(study):
    station = study.sites["eldercare_sites"]
    station = station[station.kind == "社区养老服务站"].iloc[0]
    return run_coverage(study, CoverageRequest(
        kinds=["社区养老服务站", "养老机构"], remove_sites=[station.id],
        add_sites=[{"lon": 105.6147, "lat": 29.5537, "kind": "养老机构", "beds": 40,
                    "name": "=HYPERLINK(\"x\")"}], access=ACCESS))


def test_workbook_is_chinese_with_parameters_first(result, study, tmp_path) -> None:
    path = write_workbook(result, tmp_path / "c.xlsx", compute_indicators(study))
    wb = load_workbook(path)
    assert wb.sheetnames[0] == "摘要"
    summary = {r[0]: r[1] for r in wb["摘要"].iter_rows(min_row=2, values_only=True)}
    for key in ("服务半径取值规则", "取值规则依据", "距离算法", "2SFCA 集水半径(米)",
                "2SFCA 距离衰减", "数据更新至", "说明", "假设新增设施", "假设撤除设施"):
        assert summary.get(key), key
    assert summary["2SFCA 集水半径(米)"] == 8000 and "高斯" in summary["2SFCA 距离衰减"]
    removed = result.metadata()["whatif"]["removed"][0]
    assert removed["id"] in summary["假设撤除设施"] and removed["name"] in summary["假设撤除设施"]
    assert "示意" in summary["说明"]
    for ws in wb:
        headers = [c.value for c in ws[1]]
        assert not any(ENGLISH.search(str(h)) for h in headers), (ws.title, headers)
        for row in ws.iter_rows(min_row=2, values_only=True):
            for v in row:
                assert not (isinstance(v, str) and ENGLISH.search(v)), (ws.title, v)
                assert not isinstance(v, bool), (ws.title, row)
    towns = wb["镇街"]
    share = towns.cell(row=2, column=8)
    t = result.townships[0]
    assert share.number_format == "0.0%"
    assert share.value == pytest.approx(t["covered_population_60plus"] / t["population_60plus"],
                                        rel=1e-12)  # the exact ratio, shown as a percentage
    units = wb["村(社区)"]
    head = [c.value for c in units[1]]
    covered = head.index("是否覆盖")
    assert {r[covered] for r in units.iter_rows(min_row=2, values_only=True)} == {"是", "否"}
    dist = head.index("到最近设施距离(米)")
    assert all(isinstance(r[dist], int) for r in units.iter_rows(min_row=2, values_only=True))
    assert "可达性(每千名60岁及以上人口床位数)" in head
    # a name from the data that looks like a formula stays text
    added = wb["摘要"]
    assert all(c.data_type != "f" for row in added.iter_rows() for c in row)
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)
    # columns wide enough for the Chinese names (CJK counts double)
    name_col = units.column_dimensions["B"].width
    longest = max(display_width(str(r[1])) for r in units.iter_rows(min_row=2, values_only=True))
    assert name_col >= longest
    ind = wb["规划指标"]
    statuses = {r[6] for r in ind.iter_rows(min_row=2, values_only=True)}
    assert statuses <= {"达标", "未达标", "参考", "无数据"} and "未达标" in statuses
    beds = next(r for r in ind.iter_rows(min_row=2, values_only=True) if r[2] == "养老床位总数")
    assert isinstance(beds[3], int)
    gaps = wb["覆盖空白"]
    assert all(r[1] >= GAP_REPORT_MIN_KM2 for r in gaps.iter_rows(min_row=2, values_only=True))
    names = set(study.townships.name)
    for r in gaps.iter_rows(min_row=2, values_only=True):
        assert set(r[2].split("、")) <= names


def test_html_report_precision_names_and_2sfca(result, study) -> None:
    page = render_report(result, compute_indicators(study))
    body = re.sub(r"<iframe.*?</iframe>", "", page, flags=re.S)
    assert "<h1>大足区养老服务设施覆盖分析" in page and "eldercare_sites" not in body
    assert "直线距离" in body and "居民规则" in body and "GB 50180" in body
    assert "per-request" not in body and "planning assumption" not in body
    assert not re.search(r"\d+\.\d{3}(?!\d)", re.sub(r"\d+\.\d{5}", "", body)), \
        "distances to the metre, not the millimetre"
    assert not re.search(r"\b\d+\.0 张", body) and "7297 张" in body  # beds as integers
    d = result.district
    assert pct(d["covered_population_60plus"], d["population_60plus"]) in body
    assert "可达性：每千名60岁及以上人口拥有的床位数" in body and "集水半径 8000 米" in body
    removed = result.metadata()["whatif"]["removed"][0]
    assert f"假设撤除 1 处：{removed['id']} {removed['name']}" in body
    assert "假设新增 1 处" in body
    gap_table = body.split("最大的覆盖空白区")[1].split("</table>")[0]
    assert "500111" not in gap_table  # township names, not codes
    assert f"面积不小于 {GAP_REPORT_MIN_KM2:g} 平方公里" in body


def test_suggestion_report_before_after_set_cover_and_gains(study) -> None:
    req = SuggestRequest(kinds=["养老机构"], count=5)
    s = suggest(study, req)
    page = render_report(suggestion_result(study, req, s), suggestion=s)
    body = re.sub(r"<iframe.*?</iframe>", "", page, flags=re.S)
    w = "population_60plus"
    before, after = s["before"], s["after"]
    assert "新增前" in body and "新增后" in body
    assert pct(before[f"covered_{w}"], before[w]) in body
    assert pct(after[f"covered_{w}"], after[w]) in body
    assert "全覆盖最少需新增" in body and f"至少需新增 {s['set_cover']['sites_needed']} 处" in body
    gained = after[f"covered_{w}"] - before[f"covered_{w}"]
    assert sum(x["added_weight"] for x in s["sites"]) == pytest.approx(gained)
    assert "已证明最优" in body
    doc = page.replace("&quot;", '"')
    assert "rotate(45deg)" in doc  # suggested sites: purple diamonds, not blue dots
    assert "新增设施(建议或假设" in body  # … with a legend
    assert all(name in doc for name in study.townships.name)  # township labels on the map


def test_percent_is_rounded_once() -> None:
    assert pct(14, 27) == "51.9%"  # 51.85…: not 0.5185 → 51.8 %
