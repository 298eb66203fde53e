"""The loader: every format, GCJ-02/BD-09 ingest, bad rows, all-or-nothing and idempotence."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon
from sqlalchemy import Engine, text

from geo_service import crs
from geo_service.errors import InputFileError, LoadRejectedError
from geo_service.ingest.loader import load_file

HEADERS = ["编号", "名称", "类型", "地址", "床位数", "护理型床位数", "电话", "是否公开",
           "经度", "纬度"]


def inside_points(engine: Engine, n: int) -> list[tuple[float, float]]:
    """CGCS2000 positions inside the district (village committee points)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT ST_X(rep_point), ST_Y(rep_point) FROM admin_areas "
            "WHERE level = 'village' ORDER BY code LIMIT :n"), {"n": n}).all()
    assert len(rows) == n
    return [(float(x), float(y)) for x, y in rows]


def eldercare_frame(points: list[tuple[float, float]]) -> pd.DataFrame:
    """A bureau-style sheet of eldercare sites with Chinese headers."""
    rows = []
    for i, (lon, lat) in enumerate(points):
        rows.append([f"T-{i:03d}", f"测试养老服务站{i}", "社区养老服务站", f"测试路{i}号",
                     str(10 + i), str(5), "023-43700000", "是", f"{lon:.9f}", f"{lat:.9f}"])
    return pd.DataFrame(rows, columns=HEADERS)


def stored_positions(engine: Engine, table: str = "eldercare_sites") -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT external_id, ST_X(geom), ST_Y(geom), ST_SRID(geom) FROM {table}")).all()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def count(engine: Engine, table: str = "eldercare_sites") -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def test_csv_with_chinese_headers_and_gcj02_lands_within_half_a_metre(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 40)
    lon, lat = np.array(truth).T
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    frame = eldercare_frame(list(zip(glon, glat, strict=True)))
    path = tmp_path / "amap.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    report = load_file(district_loaded, "eldercare_sites", path, input_crs="gcj02")
    assert report.inserted == 40
    stored = stored_positions(district_loaded)
    for i, (tlon, tlat) in enumerate(truth):
        slon, slat, srid = stored[f"T-{i:03d}"]
        assert srid == 4490
        assert crs.geodesic_distance_m(tlon, tlat, slon, slat) < 0.5
    # without --crs the same file would land hundreds of metres off: the conversion happened
    assert crs.geodesic_distance_m(lon[0], lat[0], glon[0], glat[0]) > 100


def test_bd09_csv_in_gb18030(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 5)
    lon, lat = np.array(truth).T
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    path = tmp_path / "baidu.csv"
    eldercare_frame(list(zip(blon, blat, strict=True))).to_csv(path, index=False,
                                                                 encoding="gb18030")
    load_file(district_loaded, "eldercare_sites", path, input_crs="bd09")
    stored = stored_positions(district_loaded)
    for i, (tlon, tlat) in enumerate(truth):
        slon, slat, _ = stored[f"T-{i:03d}"]
        assert crs.geodesic_distance_m(tlon, tlat, slon, slat) < 0.5


def _write_vector(frame: pd.DataFrame, path: Path, driver: str, epsg: int = 4490,
                  **options: str) -> None:
    points = [Point(float(x), float(y)) for x, y in zip(frame["经度"], frame["纬度"], strict=True)]
    attrs = frame.drop(columns=["经度", "纬度"])
    gdf = gpd.GeoDataFrame(attrs, geometry=points, crs="EPSG:4490").to_crs(epsg=epsg)
    gdf.to_file(path, driver=driver, **options)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shpzip", "xlsx", "csv", "gk_gpkg"])
def test_each_format_loads(district_loaded, tmp_path, fmt):
    truth = inside_points(district_loaded, 6)
    frame = eldercare_frame(truth)
    if fmt == "geojson":
        path = tmp_path / "sites.geojson"
        _write_vector(frame, path, "GeoJSON", epsg=4326)
    elif fmt == "gpkg":
        path = tmp_path / "sites.gpkg"
        _write_vector(frame, path, "GPKG")
    elif fmt == "gk_gpkg":
        path = tmp_path / "sites_gk.gpkg"
        _write_vector(frame, path, "GPKG", epsg=4544)
    elif fmt == "shpzip":
        folder = tmp_path / "shp"
        folder.mkdir()
        # as ArcGIS writes them in China: GBK, field names cut to 10 bytes (护理型床位)
        _write_vector(frame, folder / "sites.shp", "ESRI Shapefile", encoding="GBK")
        path = tmp_path / "sites.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for part in folder.iterdir():
                archive.write(part, part.name)
    elif fmt == "xlsx":
        path = tmp_path / "sites.xlsx"
        frame.to_excel(path, index=False)
    else:
        path = tmp_path / "sites.csv"
        frame.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path)
    assert report.inserted == 6
    stored = stored_positions(district_loaded)
    with district_loaded.connect() as conn:
        beds = dict(conn.execute(text("SELECT external_id, beds FROM eldercare_sites")).all())
    for i, (tlon, tlat) in enumerate(truth):
        slon, slat, _ = stored[f"T-{i:03d}"]
        assert crs.geodesic_distance_m(tlon, tlat, slon, slat) < 0.01
        assert beds[f"T-{i:03d}"] == 10 + i


def test_reload_is_idempotent_and_updates_changed_rows(district_loaded, tmp_path):
    path = tmp_path / "sites.csv"
    frame = eldercare_frame(inside_points(district_loaded, 10))
    frame.to_csv(path, index=False)
    first = load_file(district_loaded, "eldercare_sites", path)
    with district_loaded.connect() as conn:
        stamps = dict(conn.execute(text(
            "SELECT external_id, updated_at FROM eldercare_sites")).all())
    second = load_file(district_loaded, "eldercare_sites", path)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (10, 0, 0, 10)
    assert count(district_loaded) == 10
    with district_loaded.connect() as conn:
        assert dict(conn.execute(text(
            "SELECT external_id, updated_at FROM eldercare_sites")).all()) == stamps
    frame.loc[3, "床位数"] = "99"
    frame.to_csv(path, index=False)
    third = load_file(district_loaded, "eldercare_sites", path)
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 9)
    with district_loaded.connect() as conn:
        assert conn.execute(text(
            "SELECT beds FROM eldercare_sites WHERE external_id = 'T-003'")).scalar_one() == 99


def test_rows_without_id_get_a_stable_key(district_loaded, tmp_path):
    path = tmp_path / "noid.csv"
    eldercare_frame(inside_points(district_loaded, 4)).drop(columns=["编号"]).to_csv(
        path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    load_file(district_loaded, "eldercare_sites", path)
    assert count(district_loaded) == 4


BAD_CASES = [
    ("名称", "", "名称为空"),
    ("类型", "养老院", "未知的类型「养老院」"),
    ("床位数", "十二", "「十二」不是数字"),
    ("床位数", "约50", "「约50」不是数字：只写数字，例如 50"),
    ("床位数", "-3", "超出范围"),
    ("护理型床位数", "500", "护理型床位数（500）大于床位数（14）"),
    ("是否公开", "也许", "「也许」不是 是/否"),
    ("经度", "", "经度为空"),
    ("经度", "abc", "不都是数字"),
    ("经度", "121.47", "在本区以外"),
]


@pytest.mark.parametrize(("column", "value", "message"), BAD_CASES)
def test_one_bad_row_loads_nothing_and_names_the_row(district_loaded, tmp_path, column, value,
                                                     message):
    frame = eldercare_frame(inside_points(district_loaded, 8))
    frame.loc[4, column] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError) as caught:
        load_file(district_loaded, "eldercare_sites", path)
    assert count(district_loaded) == 0
    problems = caught.value.problems
    assert len(problems) == 1
    assert problems[0].row == "第 6 行"  # spreadsheet row: header is row 1, 5th data row is 6
    assert problems[0].column == column  # the column as the file names it
    assert message in problems[0].message
    assert "第 6 行" in str(caught.value) and "什么也没有导入" in str(caught.value)


def test_swapped_lat_lon_is_named(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 3))
    frame.loc[1, ["经度", "纬度"]] = [frame.loc[1, "纬度"], frame.loc[1, "经度"]]
    path = tmp_path / "swapped.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError) as caught:
        load_file(district_loaded, "eldercare_sites", path)
    assert "第 3 行" in str(caught.value) and "写反了" in str(caught.value)


def test_skip_bad_loads_the_rest_and_reports(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 5))
    frame.loc[0, "类型"] = "不存在的类型"
    path = tmp_path / "some_bad.csv"
    frame.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path, skip_bad=True)
    assert report.inserted == 4 and [p.row for p in report.skipped] == ["第 2 行"]
    assert count(district_loaded) == 4


def test_duplicate_ids_in_one_file_are_rejected(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 3))
    frame.loc[2, "编号"] = frame.loc[0, "编号"]
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match=r"第 4 行，列「编号」：编号「T-000」与第 2 行重复"):
        load_file(district_loaded, "eldercare_sites", path)


def test_unmapped_columns_are_kept_and_mapping_is_applied(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 2)).rename(columns={"名称": "机构全称"})
    frame["备注"] = ["老街", ""]
    path = tmp_path / "mapped.csv"
    frame.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path, mapping={"机构全称": "name"})
    with district_loaded.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, extra FROM eldercare_sites")).all())
    assert rows["测试养老服务站0"] == {"备注": "老街"}
    assert rows["测试养老服务站1"] == {}


def test_invalid_polygon_is_rejected_with_reason(district_loaded, tmp_path):
    lon, lat = inside_points(district_loaded, 1)[0]
    d = 0.001
    bowtie = Polygon([(lon, lat), (lon + d, lat + d), (lon + d, lat), (lon, lat + d), (lon, lat)])
    gdf = gpd.GeoDataFrame({"名称": ["自交叉的湖"], "地名类别": ["湖泊"]}, geometry=[bowtie],
                           crs="EPSG:4490")
    path = tmp_path / "bad_place.geojson"
    gdf.to_file(path, driver="GeoJSON")
    with pytest.raises(LoadRejectedError, match=r"第 1 个要素.*几何无效：Self-intersection"):
        load_file(district_loaded, "place_names", path)


def test_unreadable_files_give_clear_errors(empty_layers, tmp_path):
    with pytest.raises(InputFileError, match=r"x\.doc：文件不存在"):
        load_file(empty_layers, "eldercare_sites", tmp_path / "x.doc")
    (tmp_path / "x.doc").write_text("hello")
    with pytest.raises(InputFileError, match=r"不支持的文件类型 \.doc"):
        load_file(empty_layers, "eldercare_sites", tmp_path / "x.doc")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="不是有效的 zip"):
        load_file(empty_layers, "eldercare_sites", broken)


def test_cli_load_reports_the_row_on_stderr(district_loaded, cli_env, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 3))
    frame.loc[2, "类型"] = "养老院"
    path = tmp_path / "cli_bad.csv"
    frame.to_csv(path, index=False)
    geo = [sys.executable, "-m", "geo_service.cli"]
    result = subprocess.run([*geo, "load", "eldercare_sites", str(path)], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "第 4 行，列「类型」" in result.stderr and "未知的类型「养老院」" in result.stderr
    assert "Traceback" not in result.stderr
    assert count(district_loaded) == 0
    frame.loc[2, "类型"] = "社区养老服务站"
    frame.to_csv(path, index=False)
    result = subprocess.run([*geo, "load", "eldercare_sites", str(path)], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "新增 3" in result.stdout
    assert count(district_loaded) == 3


def test_survey_site_polygons_of_funeral_sites_keep_area_and_point(district_loaded, tmp_path):
    centres = inside_points(district_loaded, 2)
    metric = [crs.to_metric(Point(lon, lat)) for lon, lat in centres]
    squares = [Polygon([(p.x - 60, p.y - 40), (p.x + 60, p.y - 40), (p.x + 60, p.y + 40),
                        (p.x - 60, p.y + 40)]) for p in metric]  # 120 m × 80 m = 9 600 m²
    gdf = gpd.GeoDataFrame({"编号": ["F-1", "F-2"], "名称": ["测试公墓甲", "测试公墓乙"],
                            "类型": ["经营性公墓", "城市公益性公墓"]},
                           geometry=squares, crs="EPSG:4544")  # a survey in Gauss-Krüger
    path = tmp_path / "cemeteries.gpkg"
    gdf.to_file(path, driver="GPKG")
    assert load_file(district_loaded, "funeral_sites", path).inserted == 2
    with district_loaded.connect() as conn:
        rows = conn.execute(text(
            "SELECT external_id, ST_Area(ST_Transform(site_area, 4544)) AS m2, "
            "ST_Within(geom, site_area) AS inside, GeometryType(geom) AS kind "
            "FROM funeral_sites ORDER BY external_id")).all()
    assert [r.external_id for r in rows] == ["F-1", "F-2"]
    for row in rows:
        assert row.kind == "POINT" and row.inside
        assert row.m2 == pytest.approx(120 * 80, rel=1e-3)
    again = load_file(district_loaded, "funeral_sites", path)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    gdf.to_file(tmp_path / "as_eldercare.gpkg", driver="GPKG")  # other point layers: no polygons
    with pytest.raises(LoadRejectedError, match=r"第 1 个要素.*本图层要点，文件里是 Polygon"):
        load_file(district_loaded, "eldercare_sites", tmp_path / "as_eldercare.gpkg",
                  kind="养老机构")


def test_missing_name_or_coordinate_columns_is_one_clear_error(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 3)).rename(
        columns={"名称": "站点全称", "经度": "X坐标", "纬度": "Y坐标"})
    path = tmp_path / "other_headers.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputFileError) as caught:
        load_file(district_loaded, "eldercare_sites", path)
    message = str(caught.value)
    assert "没有名称列，也没有经度/纬度" in message and "X坐标、Y坐标" in message
    assert "站点全称" in message and "--map" in message
    assert "行：" not in message  # one message for the file, not one per row
    report = load_file(district_loaded, "eldercare_sites", path,
                       mapping={"站点全称": "name", "X坐标": "lon", "Y坐标": "lat"})
    assert report.inserted == 3


def test_unknown_kind_option_is_rejected_before_reading(empty_layers, tmp_path):
    with pytest.raises(InputFileError, match=r"--kind「养老院」不是 eldercare_sites 的类型"):
        load_file(empty_layers, "eldercare_sites", tmp_path / "never_read.csv", kind="养老院")
