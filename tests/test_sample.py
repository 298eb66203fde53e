"""The 大足 sample: real outline and codes, illustrative areas and sites, calibrated counts."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
from sqlalchemy import text

from geo_service.sample import load_sample, rebuild_sample, sample_dir

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_district_area_is_within_one_percent_of_1436_km2(sample_engine):
    km2 = scalar(sample_engine, "SELECT ST_Area(geom::geography) / 1e6 FROM admin_areas "
                 "WHERE level = 'district'")
    assert km2 == pytest.approx(1436, rel=0.01)


def test_real_codes_and_names_are_all_there(sample_engine):
    with (SHARED / "dazu_divisions_2023.csv").open(encoding="utf-8") as handle:
        real = {(r["code"], r["name"], r["level"]) for r in csv.DictReader(handle)}
    with sample_engine.connect() as conn:
        stored = set(conn.execute(text("SELECT code, name, level FROM admin_areas")).all())
    assert stored == real
    levels = {lvl: sum(1 for r in real if r[2] == lvl) for lvl in ("township", "village")}
    assert levels == {"township": 27, "village": 309}


@pytest.mark.parametrize("children", ["township", "village"])
def test_children_tile_their_parent_exactly(sample_engine, children):
    gap = scalar(sample_engine, """
        SELECT max(ST_Area(ST_Transform(ST_SymDifference(p.geom, u.geom), 4544)))
        FROM admin_areas p JOIN (
            SELECT parent_code, ST_Union(geom) AS geom FROM admin_areas
            WHERE level = :children GROUP BY parent_code) u ON u.parent_code = p.code
    """, children=children)
    assert gap < 1.0  # m²
    overlap = scalar(sample_engine, """
        SELECT coalesce(sum(ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4544))), 0)
        FROM admin_areas a JOIN admin_areas b
          ON a.level = :children AND b.level = :children AND a.id < b.id
         AND a.parent_code = b.parent_code AND ST_Intersects(a.geom, b.geom)
    """, children=children)
    assert overlap < 0.01


def test_villages_have_committee_points_inside(sample_engine):
    outside = scalar(sample_engine, "SELECT count(*) FROM admin_areas WHERE level = 'village' "
                     "AND NOT ST_Intersects(rep_point, geom)")
    assert outside == 0


def test_populations_are_calibrated(sample_engine):
    with sample_engine.connect() as conn:
        total, old = conn.execute(text(
            "SELECT sum(population), sum(population_60plus) FROM admin_areas "
            "WHERE level = 'village'")).one()
        district = conn.execute(text(
            "SELECT population, population_60plus FROM admin_areas WHERE level = 'district'"
        )).one()
    assert total == pytest.approx(1_070_000, rel=0.01)
    assert old == pytest.approx(210_000, rel=0.01)
    assert tuple(district) == (total, old)


def test_facility_counts_match_the_published_figures(sample_engine):
    with sample_engine.connect() as conn:
        elder = dict(conn.execute(text(
            "SELECT kind, count(*) FROM eldercare_sites GROUP BY kind")).all())
        funeral = dict(conn.execute(text(
            "SELECT kind, count(*) FROM funeral_sites GROUP BY kind")).all())
        stars = conn.execute(text(
            "SELECT count(*) FROM eldercare_sites WHERE star_rating >= 3")).scalar_one()
        beds = conn.execute(text("SELECT sum(beds) FROM eldercare_sites")).scalar_one()
        workstations = conn.execute(text(
            "SELECT count(DISTINCT township_code) FROM child_sites "
            "WHERE kind = '镇街未成年人保护工作站'")).scalar_one()
    institutions = (elder.get("养老机构", 0) + elder.get("特困人员供养服务机构(敬老院)", 0)
                    + elder.get("失能特困人员集中照护中心", 0))
    assert institutions == 76 and stars == 14
    assert elder["镇街养老服务中心"] == 21
    assert elder["村级互助养老点"] == 201
    assert elder["老年食堂"] == 25
    assert beds == 7432
    assert funeral == {"殡仪馆": 1, "城市公益性公墓": 1, "经营性公墓": 1,
                       "农村公益性公墓(集中安葬点)": 14, "治丧服务点": 7}
    assert workstations >= 14  # ≥ 50 % of 27 townships


def test_sites_lie_in_their_township(sample_engine):
    for table in ("eldercare_sites", "funeral_sites", "child_sites"):
        wrong = scalar(sample_engine, f"""
            SELECT count(*) FROM {table} s JOIN admin_areas t ON t.code = s.township_code
            WHERE NOT ST_Intersects(s.geom, t.geom)""")
        missing = scalar(sample_engine, f"SELECT count(*) FROM {table} WHERE township_code IS NULL")
        assert (wrong, missing) == (0, 0), table


def test_illustrative_data_is_marked(sample_engine):
    with sample_engine.connect() as conn:
        for table in ("eldercare_sites", "funeral_sites", "child_sites", "place_names"):
            accuracies = set(conn.execute(text(f"SELECT DISTINCT geometry_accuracy FROM {table}"))
                             .scalars())
            assert accuracies == {"illustrative"}, table
        areas = dict(conn.execute(text(
            "SELECT level, string_agg(DISTINCT geometry_accuracy, ',') FROM admin_areas "
            "GROUP BY level")).all())
        figures = set(conn.execute(text("SELECT DISTINCT figures_source FROM admin_areas"))
                      .scalars())
    assert areas == {"district": "published", "township": "illustrative",
                     "village": "illustrative"}
    assert figures == {"illustrative"}


def test_some_child_sites_are_not_public(sample_engine):
    hidden = scalar(sample_engine, "SELECT count(*) FROM child_sites WHERE NOT is_public")
    assert hidden >= 1
    assert scalar(sample_engine, "SELECT is_public FROM child_sites "
                  "WHERE kind = '未成年人救助保护中心'") is False


def test_historic_place_names_and_neighbours(sample_engine):
    with sample_engine.connect() as conn:
        historic = set(conn.execute(text(
            "SELECT name FROM place_names WHERE historic_list IS NOT NULL")).scalars())
        neighbours = set(conn.execute(text("SELECT name FROM neighbour_areas")).scalars())
        pinyin = conn.execute(text(
            "SELECT pinyin FROM place_names WHERE name = '宝顶山'")).scalar_one()
    assert historic == {"龙水镇", "宝顶山", "邮亭铺", "巴岳山", "濑溪河"}
    assert neighbours == {"永川区", "铜梁区", "潼南区", "荣昌区", "安岳县"}
    assert pinyin == "Bǎodǐng Shān"


def test_loading_the_sample_again_changes_nothing(sample_engine):
    with sample_engine.connect() as conn:
        before = conn.execute(text("SELECT max(updated_at) FROM eldercare_sites")).scalar_one()
    reports = load_sample(sample_engine)
    assert all(r.inserted == 0 and r.updated == 0 for r in reports)
    with sample_engine.connect() as conn:
        assert conn.execute(text("SELECT max(updated_at) FROM eldercare_sites")).scalar_one() \
            == before


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_build_script_reproduces_the_committed_sample(tmp_path):
    rebuild_sample(SHARED, tmp_path)
    assert _digests(tmp_path) == _digests(sample_dir())
