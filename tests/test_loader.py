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
from geo_service.ingest.loader import LoadOptions, load_file

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


# -- files as townships send them (issue 17) ----------------------------------------------

FULL = ["编号", "名称", "类型", "床位数", "护理型床位数", "星级", "服务内容", "地址", "电话",
        "经度", "纬度", "位置精度", "来源"]


def full_frame(points: list[tuple[float, float]]) -> pd.DataFrame:
    """Every field a clerk fills for an 养老机构, with illustrative positions."""
    rows = [[f"F-{i:03d}", f"完整养老院{i}", "养老机构", str(80 + i), "20", "3", "助餐、助浴",
             f"龙水镇{i}号", "023-1111", f"{lon:.9f}", f"{lat:.9f}", "illustrative", "民政局名录"]
            for i, (lon, lat) in enumerate(points)]
    return pd.DataFrame(rows, columns=FULL)


def add_new_site(frame: pd.DataFrame, point: tuple[float, float]) -> None:
    """Append the row of a new 养老机构 (F-NEW) at `point` to a full_frame."""
    frame.loc[len(frame)] = ["F-NEW", "新养老院", "养老机构", "50", "10", "1", "", "", "",
                             f"{point[0]:.9f}", f"{point[1]:.9f}", "illustrative", "民政局名录"]


STORED = ("SELECT external_id, name, kind, beds, nursing_beds, star_rating, services, address, "
          "phone, geometry_accuracy, source, extra, ST_AsText(geom) AS wkt, updated_at "
          "FROM eldercare_sites ORDER BY external_id")


def stored_rows(engine: Engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r.external_id: dict(r._mapping) for r in conn.execute(text(STORED))}


def fingerprint(engine: Engine) -> str:
    """md5 of every row of the layer and of the history tables."""
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY id) FROM "
            "eldercare_sites t), '') || (SELECT count(*) FROM ingest_runs)::text || "
            "(SELECT count(*) FROM feature_versions)::text || "
            "(SELECT count(*) FROM audit_log)::text)")).scalar_one()


def test_gbk_shapefile_without_cpg_keeps_its_names(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 3)
    names = ["棠香街道儿童之家", "龙水镇老年食堂（东街）", "宝顶镇敬老院"]
    folder = tmp_path / "old_arcgis"
    folder.mkdir()
    gdf = gpd.GeoDataFrame({"编号": ["G-1", "G-2", "G-3"], "名称": names,
                            "类型": ["老年食堂"] * 3, "地址": ["大足区" + n for n in names]},
                           geometry=[Point(p) for p in truth], crs="EPSG:4490")
    gdf.to_file(folder / "sites.shp", driver="ESRI Shapefile", encoding="GBK")
    for cpg in folder.glob("*.cpg"):
        cpg.unlink()  # older tools write no .cpg …
    dbf = folder / "sites.dbf"
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0  # … and language driver byte 0
    dbf.write_bytes(bytes(raw))
    assert "棠香".encode("gbk") in raw and "棠香".encode() not in raw
    archive_path = tmp_path / "gbk.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for part in folder.iterdir():
            archive.write(part, part.name)
    report = load_file(district_loaded, "eldercare_sites", archive_path)
    assert report.inserted == 3
    assert any("GB18030" in note for note in report.notes)
    rows = stored_rows(district_loaded)
    assert [rows[k]["name"] for k in ("G-1", "G-2", "G-3")] == names
    assert rows["G-2"]["address"] == "大足区龙水镇老年食堂（东街）"


def test_partial_file_leaves_other_fields_and_labels_unchanged(district_loaded, tmp_path):
    points = inside_points(district_loaded, 3)
    full = tmp_path / "full.csv"
    full_frame(points).to_csv(full, index=False)
    load_file(district_loaded, "eldercare_sites", full)
    before = stored_rows(district_loaded)
    partial = full_frame(points)[["编号", "名称", "类型", "电话", "经度", "纬度"]]
    partial.loc[1, "电话"] = "023-2222"
    path = tmp_path / "电话更新.csv"
    partial.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    after = stored_rows(district_loaded)
    assert after["F-001"]["phone"] == "023-2222"
    for key in before:
        for column in ("beds", "nursing_beds", "star_rating", "services", "address",
                       "geometry_accuracy", "source", "wkt"):
            assert after[key][column] == before[key][column], (key, column)
    assert after["F-000"]["updated_at"] == before["F-000"]["updated_at"]
    # an empty cell leaves the value; --clear-empty clears it
    partial.loc[2, "电话"] = ""
    partial.to_csv(path, index=False)
    assert load_file(district_loaded, "eldercare_sites", path).updated == 0
    assert stored_rows(district_loaded)["F-002"]["phone"] == "023-1111"
    cleared = load_file(district_loaded, "eldercare_sites", path,
                        options=LoadOptions(clear_empty=True))
    assert cleared.updated == 1
    assert stored_rows(district_loaded)["F-002"]["phone"] is None
    # a partial figure is checked against the stored one it must not exceed
    nursing = full_frame(points)[["编号", "名称", "类型", "护理型床位数", "经度", "纬度"]]
    nursing.loc[0, "护理型床位数"] = "90"  # beds stored: 80
    nursing.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match=r"第 2 行，列「护理型床位数」：护理型床位数（90）"
                                                r"大于床位数（80）（与库中原有数字合并后）"):
        load_file(district_loaded, "eldercare_sites", path)


def test_source_is_a_stable_name_not_the_file_name(district_loaded, tmp_path):
    frame = eldercare_frame(inside_points(district_loaded, 4))
    first = tmp_path / "名录_第一版.csv"
    frame.to_csv(first, index=False)
    load_file(district_loaded, "eldercare_sites", first,
              options=LoadOptions(source="龙水镇民政办名录"))
    renamed = tmp_path / "名录_修订版_最终.csv"
    frame.loc[0, "电话"] = "023-9999"
    frame.to_csv(renamed, index=False)
    report = load_file(district_loaded, "eldercare_sites", renamed)
    assert (report.updated, report.unchanged) == (1, 3)  # not every row for a new file name
    assert {r["source"] for r in stored_rows(district_loaded).values()} == {"龙水镇民政办名录"}
    # a 来源 column filled on some rows only: the others keep theirs (never NULL)
    frame["来源"] = ["镇街核查2024", "", "", ""]
    frame["电话"] = "023-7777"
    frame.to_csv(renamed, index=False)
    assert load_file(district_loaded, "eldercare_sites", renamed).updated == 4
    sources = {k: r["source"] for k, r in stored_rows(district_loaded).items()}
    assert sources == {"T-000": "镇街核查2024", "T-001": "龙水镇民政办名录",
                       "T-002": "龙水镇民政办名录", "T-003": "龙水镇民政办名录"}


def _township_workbook(path: Path, points: list[tuple[float, float]]) -> None:
    """A workbook as a township sends it: title row, unit headers, merged kinds, 合计, blanks."""
    from openpyxl import Workbook

    book = Workbook()
    ws = book.active
    ws.title = "名录"
    ws.append(["大足区养老机构名录（2024年）"])
    ws.merge_cells("A1:H1")
    ws.append(["编 号", "名称", "类型", "床位数（张）", "护理型床位数(张)", "地址", "备注",
               "经度", "纬度"])
    for i, (lon, lat) in enumerate(points):
        ws.append([f"W-{i}", f"互助养老点{i}", "村级互助养老点" if i == 0 else None,
                   10 + i, 2, f"村{i}", "新建" if i == 1 else None, lon, lat])
    ws.merge_cells(start_row=3, start_column=3, end_row=2 + len(points), end_column=3)
    ws.append([None] * 9)
    ws.append(["合计", None, None, sum(10 + i for i in range(len(points))), 2 * len(points)])
    ws.append([None] * 9)
    ws.append([None] * 9)
    book.create_sheet("空表")
    book.save(path)


def test_township_workbook_with_title_total_blank_and_merged_cells(district_loaded, tmp_path):
    points = inside_points(district_loaded, 4)
    path = tmp_path / "名录.xlsx"
    _township_workbook(path, points)
    report = load_file(district_loaded, "eldercare_sites", path)
    assert report.inserted == 4 and report.rows_read == 4
    assert any("第 2 行" in n and "大足区养老机构名录" in n for n in report.notes)
    assert any("合计" in n and "第 8 行" in n for n in report.notes)
    assert report.unclaimed == ["备注"]
    with district_loaded.connect() as conn:
        rows = conn.execute(text("SELECT external_id, kind, beds, nursing_beds, extra "
                                 "FROM eldercare_sites ORDER BY external_id")).all()
    assert [r.kind for r in rows] == ["村级互助养老点"] * 4  # the merged cell, filled down
    assert [r.beds for r in rows] == [10, 11, 12, 13]  # 床位数（张） is beds
    assert rows[1].extra == {"备注": "新建"}
    with pytest.raises(InputFileError, match=r"工作表「空表」是空的.*名录（7 行）、空表（0 行）"):
        load_file(district_loaded, "eldercare_sites", path, sheet="空表")


def test_header_row_option_and_normalised_headers(district_loaded, tmp_path):
    points = inside_points(district_loaded, 2)
    path = tmp_path / "headers.csv"
    lines = ["说明：本表由镇民政办填报", "填报日期：2024-05-01",
             "ＩＤ,名　称,类　型,床位数[张],经度（度）,纬度（度）"]
    lines += [f"H-{i},站{i},老年食堂,5,{lon},{lat}" for i, (lon, lat) in enumerate(points)]
    path.write_text("\n".join(lines), encoding="utf-8")
    report = load_file(district_loaded, "eldercare_sites", path,
                       options=LoadOptions(header_row=3))
    assert report.inserted == 2
    assert count(district_loaded) == 2
    with district_loaded.connect() as conn:
        assert conn.execute(text("SELECT sum(beds) FROM eldercare_sites")).scalar_one() == 10


def _client(engine: Engine):
    from fastapi.testclient import TestClient

    from geo_service.api.app import create_app

    return TestClient(create_app(engine))


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "gpkg", "geojson"])
def test_download_edit_one_cell_reload_changes_one_row(district_loaded, tmp_path, fmt):
    points = inside_points(district_loaded, 5)
    path = tmp_path / "full.csv"
    full_frame(points).to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    before = stored_rows(district_loaded)
    with _client(district_loaded) as client:
        got = client.get("/collections/eldercare_sites/download", params={"format": fmt})
    assert got.status_code == 200, got.text
    downloaded = tmp_path / f"download.{fmt}"
    downloaded.write_bytes(got.content)
    if fmt == "csv":
        frame = pd.read_csv(downloaded, dtype=str, keep_default_na=False)
        assert "位置精度(illustrative = 示意)" in frame.columns
        frame.loc[frame["编号"] == "F-002", "床位数"] = "99"
        frame.to_csv(downloaded, index=False)
    elif fmt == "xlsx":
        from openpyxl import load_workbook

        book = load_workbook(downloaded)
        ws = book.active
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows(min_row=2):
            if row[header.index("编号")].value == "F-002":
                row[header.index("床位数")].value = 99
        book.save(downloaded)
    elif fmt == "gpkg":
        gdf = gpd.read_file(downloaded)
        gdf.loc[gdf["external_id"] == "F-002", "beds"] = 99
        downloaded.unlink()
        gdf.to_file(downloaded, driver="GPKG")
    else:
        import json

        collection = json.loads(downloaded.read_text(encoding="utf-8"))
        for feature in collection["features"]:
            if feature["properties"]["external_id"] == "F-002":
                feature["properties"]["beds"] = 99
        downloaded.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    report = load_file(district_loaded, "eldercare_sites", downloaded)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 4), report.changes
    assert [c.key for c in report.changes] == ["F-002"]
    assert set(report.changes[0].fields) == {"beds"}
    after = stored_rows(district_loaded)
    assert after["F-002"]["beds"] == 99
    assert {r["geometry_accuracy"] for r in after.values()} == {"illustrative"}
    assert {r["source"] for r in after.values()} == {"民政局名录"}
    assert all(r["extra"] == {} for r in after.values())  # id/更新时间 are not kept as extra
    assert after["F-001"]["updated_at"] == before["F-001"]["updated_at"]


def test_dry_run_writes_nothing_and_shows_field_diffs(district_loaded, tmp_path):
    points = inside_points(district_loaded, 3)
    path = tmp_path / "full.csv"
    frame = full_frame(points)
    frame.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    mark = fingerprint(district_loaded)
    frame.loc[0, "床位数"] = "120"
    frame.loc[0, "地址"] = "龙水镇新址"
    add_new_site(frame, (points[0][0] + 0.001, points[0][1]))
    frame.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path,
                       options=LoadOptions(dry_run=True))
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 2)
    assert report.changes[0].fields == {"beds": (80, 120), "address": ("龙水镇0号", "龙水镇新址")}
    assert fingerprint(district_loaded) == mark
    from geo_service.ingest.cli_report import change_lines

    assert change_lines(report) == [
        "更新「完整养老院0」（编号 F-000）：床位数：80 → 120；地址：龙水镇0号 → 龙水镇新址"]


def test_every_load_keeps_versions_and_undo_restores(district_loaded, tmp_path):
    from geo_service.errors import ConflictError
    from geo_service.ingest.history import undo_run

    points = inside_points(district_loaded, 3)
    path = tmp_path / "full.csv"
    frame = full_frame(points)
    frame.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    before = stored_rows(district_loaded)
    frame.loc[0, "床位数"] = "25"
    frame.loc[1, ["经度", "纬度"]] = [f"{points[2][0]:.9f}", f"{points[2][1]:.9f}"]
    add_new_site(frame, points[0])
    frame.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path)
    assert (report.inserted, report.updated) == (1, 2) and report.run_id
    with district_loaded.connect() as conn:
        versions = conn.execute(text(
            "SELECT v.data->'properties'->>'external_id', (v.data->'properties'->>'beds')::int "
            "FROM feature_versions v WHERE v.ingest_run_id = :run ORDER BY 1"),
            {"run": report.run_id}).all()
    assert versions == [("F-000", 80), ("F-001", 81)]  # the previous versions, with the run id
    with district_loaded.begin() as conn:
        undone = undo_run(conn, report.run_id, "测试员")
    assert (undone.restored, undone.removed) == (2, 1)
    after = stored_rows(district_loaded)
    assert set(after) == set(before)
    for key, row in before.items():
        for column, value in row.items():
            if column != "updated_at":
                assert after[key][column] == value, (key, column)
    with district_loaded.begin() as conn, pytest.raises(ConflictError, match="已于"):
        undo_run(conn, report.run_id, "测试员")
    # a row edited after the load: undo is refused and nothing changes
    again = load_file(district_loaded, "eldercare_sites", path)
    with district_loaded.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET phone = '110' WHERE external_id = 'F-000'"))
    with district_loaded.begin() as conn, pytest.raises(ConflictError, match="完整养老院0"):
        undo_run(conn, again.run_id, "测试员")
    assert stored_rows(district_loaded)["F-NEW"]["beds"] == 50


def test_cli_dry_run_errors_out_and_undo(district_loaded, cli_env, tmp_path):
    from openpyxl import load_workbook

    frame = eldercare_frame(inside_points(district_loaded, 4))
    frame.loc[1, "床位数"] = "约30"
    frame.loc[2, "地址"] = "=HYPERLINK(\"http://x\")"
    path = tmp_path / "cli.csv"
    frame.to_csv(path, index=False)
    errors = tmp_path / "错误.xlsx"
    geo = [sys.executable, "-m", "geo_service.cli"]
    result = subprocess.run([*geo, "load", "eldercare_sites", str(path), "--errors-out",
                             str(errors)], env=cli_env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and "第 3 行，列「床位数」" in result.stderr
    ws = load_workbook(errors).active
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    assert rows[0][:3] == ["错误原因", "原行号", "编号"]
    assert len(rows) == 2 and rows[1][1] == "第 3 行" and "「约30」不是数字" in rows[1][0]
    frame.loc[1, "床位数"] = "30"
    frame.to_csv(path, index=False)
    preview = subprocess.run([*geo, "load", "eldercare_sites", str(path), "--dry-run"],
                             env=cli_env, capture_output=True, text=True, timeout=120)
    assert preview.returncode == 0, preview.stderr
    assert "预览，未写入" in preview.stdout and "新增 4" in preview.stdout
    assert count(district_loaded) == 0
    loaded = subprocess.run([*geo, "load", "eldercare_sites", str(path)], env=cli_env,
                            capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr
    with district_loaded.connect() as conn:
        run_id = conn.execute(text("SELECT max(id) FROM ingest_runs")).scalar_one()
        formula = conn.execute(text(
            "SELECT address FROM eldercare_sites WHERE external_id = 'T-002'")).scalar_one()
    assert formula.startswith("=HYPERLINK")  # stored as text; the errors workbook kept it text
    assert f"--undo {run_id}" in loaded.stdout
    undo = subprocess.run([*geo, "load", "--undo", str(run_id)], env=cli_env,
                          capture_output=True, text=True, timeout=120)
    assert undo.returncode == 0, undo.stderr
    assert "删除 4 条" in undo.stdout and count(district_loaded) == 0
    again = subprocess.run([*geo, "load", "--undo", str(run_id)], env=cli_env,
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "已于" in again.stderr and "Traceback" not in again.stderr
    template = tmp_path / "模板.xlsx"
    made = subprocess.run([*geo, "template", "child_sites", str(template)], env=cli_env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0 and load_workbook(template).sheetnames[-1] == "填写说明"


def _kml(points: list[tuple[float, float]]) -> str:
    """A Google Earth / 奥维 style KML: two folders of placemarks with descriptions."""
    marks = []
    for i, (lon, lat) in enumerate(points):
        folder = "老年食堂" if i % 2 == 0 else "互助点"
        marks.append((folder, f"<Placemark><name>奥维点{i}</name><description>第{i}个点"
                              f"</description><Point><coordinates>{lon:.9f},{lat:.9f},0"
                              f"</coordinates></Point></Placemark>"))
    body = "".join(f"<Folder><name>{f}</name>{''.join(m for g, m in marks if g == f)}</Folder>"
                   for f in ("老年食堂", "互助点"))
    return ('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
            f"<Document><name>导出</name>{body}</Document></kml>")


@pytest.mark.parametrize("suffix", ["kml", "kmz"])
def test_kml_and_kmz_with_folders_load_within_half_a_metre(district_loaded, tmp_path, suffix):
    truth = inside_points(district_loaded, 4)
    path = tmp_path / f"奥维.{suffix}"
    if suffix == "kml":
        path.write_text(_kml(truth), encoding="utf-8")
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("doc.kml", _kml(truth))
    report = load_file(district_loaded, "eldercare_sites", path, kind="老年食堂")
    assert report.inserted == 4
    with district_loaded.connect() as conn:
        rows = conn.execute(text("SELECT name, extra, ST_X(geom), ST_Y(geom) FROM "
                                 "eldercare_sites ORDER BY name")).all()
    for i, (name, extra, x, y) in enumerate(rows):
        assert name == f"奥维点{i}"
        assert extra["描述"] == f"第{i}个点"
        assert extra["文件夹"] == ("老年食堂" if i % 2 == 0 else "互助点")
        assert crs.geodesic_distance_m(truth[i][0], truth[i][1], x, y) < 0.5


def _dms(value: float, word: str, style: int) -> str:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = (value - degrees - minutes / 60) * 3600
    if style == 0:
        return f"{degrees}°{minutes}'{seconds:.3f}\""
    if style == 1:
        return f"{degrees}度{minutes}分{seconds:.3f}秒"
    return f"{word}{value:.7f}" if style == 2 else f"{value:.7f}{'E' if word == '东经' else 'N'}"


def test_dms_prefixed_and_single_column_coordinates(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 4)
    frame = eldercare_frame(truth)
    frame["经度"] = [_dms(lon, "东经", i) for i, (lon, _) in enumerate(truth)]
    frame["纬度"] = [_dms(lat, "北纬", i) for i, (_, lat) in enumerate(truth)]
    assert frame.loc[0, "经度"].count("°") == 1 and "度" in frame.loc[1, "经度"]
    path = tmp_path / "dms.csv"
    frame.to_csv(path, index=False)
    assert load_file(district_loaded, "eldercare_sites", path).inserted == 4
    stored = stored_positions(district_loaded)
    for i, (lon, lat) in enumerate(truth):
        slon, slat, _ = stored[f"T-{i:03d}"]
        assert crs.geodesic_distance_m(lon, lat, slon, slat) < 0.5
    single = eldercare_frame(truth).drop(columns=["经度", "纬度"])
    single["位置"] = [f"{lon:.9f},{lat:.9f}" for lon, lat in truth]
    single["编号"] = [f"S-{i}" for i in range(4)]
    single["名称"] = [f"单列坐标站{i}" for i in range(4)]
    path = tmp_path / "single.csv"
    single.to_csv(path, index=False)
    report = load_file(district_loaded, "eldercare_sites", path,
                       options=LoadOptions(coord_column="位置"))
    assert report.inserted == 4


def test_metre_coordinates_get_hints_and_survey_xy_loads(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 2)
    x, y = crs.transformer(4490, 4544).transform(*np.array(truth).T)
    frame = eldercare_frame(truth)
    frame["经度"], frame["纬度"] = [f"{v:.3f}" for v in x], [f"{v:.3f}" for v in y]
    path = tmp_path / "metres.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match="EPSG:4544"):
        load_file(district_loaded, "eldercare_sites", path)
    frame["经度"] = [f"{35_000_000 + v:.3f}" for v in x]
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match="EPSG:4523"):
        load_file(district_loaded, "eldercare_sites", path, input_crs="EPSG:4544")
    frame["经度"], frame["纬度"] = [f"{v:.3f}" for v in y], [f"{v:.3f}" for v in x]  # X = north
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match="--xy northing,easting"):
        load_file(district_loaded, "eldercare_sites", path, input_crs="EPSG:4544")
    report = load_file(district_loaded, "eldercare_sites", path, input_crs="EPSG:4544",
                       options=LoadOptions(northing_first=True))
    assert report.inserted == 2
    stored = stored_positions(district_loaded)
    for i, (lon, lat) in enumerate(truth):
        slon, slat, _ = stored[f"T-{i:03d}"]
        assert crs.geodesic_distance_m(lon, lat, slon, slat) < 0.01


def test_multi_layer_geopackage_needs_a_layer(district_loaded, tmp_path):
    truth = inside_points(district_loaded, 4)
    path = tmp_path / "two.gpkg"
    frame = eldercare_frame(truth)
    gdf = gpd.GeoDataFrame(frame.drop(columns=["经度", "纬度"]),
                           geometry=[Point(p) for p in truth], crs="EPSG:4490")
    gdf.iloc[:2].to_file(path, layer="养老", driver="GPKG")
    gdf.iloc[2:].to_file(path, layer="食堂", driver="GPKG")
    with pytest.raises(InputFileError, match=r"2 个图层（养老、食堂）.*--layer"):
        load_file(district_loaded, "eldercare_sites", path)
    report = load_file(district_loaded, "eldercare_sites", path,
                       options=LoadOptions(layer_name="食堂"))
    assert report.inserted == 2 and set(stored_positions(district_loaded)) == {"T-002", "T-003"}


def test_near_duplicates_need_permission(district_loaded, tmp_path):
    points = inside_points(district_loaded, 3)
    frame = eldercare_frame(points).drop(columns=["编号"])
    frame.loc[0, "名称"] = "龙水镇第1互助点(东街)"
    path = tmp_path / "first.csv"
    frame.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    again = frame.iloc[[0]].copy()
    again.loc[0, "名称"] = "龙水镇第１互助点（东街）"  # full-width digit and brackets
    path = tmp_path / "again.csv"
    again.to_csv(path, index=False)
    preview = load_file(district_loaded, "eldercare_sites", path,
                        options=LoadOptions(dry_run=True))
    assert preview.updated == 1 and preview.inserted == 0  # same normalised key: an update
    again["编号"] = ["NEW-1"]
    again.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match=r"疑似重复.*--allow-near-duplicates"):
        load_file(district_loaded, "eldercare_sites", path)
    assert count(district_loaded) == 3
    report = load_file(district_loaded, "eldercare_sites", path,
                       options=LoadOptions(allow_near_duplicates=True))
    assert report.inserted == 1 and report.near_duplicates
    assert "auto:" not in " ".join(report.near_duplicates)  # internal keys are not shown
    twins = eldercare_frame(inside_points(district_loaded, 2))
    twins["名称"] = ["大足区 棠香街道 老年食堂", "大足区棠香街道老年食堂"]  # an inner space
    path = tmp_path / "twins.csv"
    twins.to_csv(path, index=False)
    preview = load_file(district_loaded, "eldercare_sites", path,
                        options=LoadOptions(dry_run=True))
    assert any(m.startswith("第 3 行") and "第 2 行" in m for m in preview.near_duplicates)


def test_replace_scope_retires_missing_facilities_of_the_township(district_loaded, tmp_path):
    points = inside_points(district_loaded, 4)
    frame = eldercare_frame(points)
    frame["所属镇街代码"] = "500111100000"
    path = tmp_path / "town.csv"
    frame.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    shorter = frame.drop(index=[1, 3])
    shorter.to_csv(path, index=False)
    scope = LoadOptions(replace_township="500111100000", dry_run=True)
    preview = load_file(district_loaded, "eldercare_sites", path, options=scope)
    assert [r.split("（")[0] for r in preview.retired] == ["测试养老服务站1", "测试养老服务站3"]
    scope.dry_run = False
    report = load_file(district_loaded, "eldercare_sites", path, options=scope)
    assert len(report.retired) == 2
    with district_loaded.connect() as conn:
        rows = dict(conn.execute(text(
            "SELECT external_id, status || '/' || is_public FROM eldercare_sites")).all())
    assert rows == {"T-000": "运营/true", "T-001": "停业/false", "T-002": "运营/true",
                    "T-003": "停业/false"}


def test_template_has_headers_guide_and_kind_list_and_loads_back(district_loaded, tmp_path):
    from openpyxl import load_workbook

    from geo_service.ingest.workbooks import write_template

    path = write_template("eldercare_sites", tmp_path / "模板.xlsx")
    book = load_workbook(path)
    assert book.sheetnames == ["养老服务设施", "选项", "填写说明"]
    ws = book["养老服务设施"]
    headers = [c.value for c in ws[1]]
    assert headers[:3] == ["编号", "名称", "类型"] and "床位数" in headers and "经度" in headers
    rules = ws.data_validations.dataValidation
    assert any(rule.formula1.startswith("=选项!$A$2") for rule in rules)
    kinds = [c.value for c in book["选项"]["A"][1:]]
    assert kinds[0] == "养老机构" and len(kinds) == 7
    lon, lat = inside_points(district_loaded, 1)[0]
    values = {"编号": "TPL-1", "名称": "模板站", "类型": "老年食堂", "床位数": 8,
              "经度": lon, "纬度": lat, "位置精度": "示意"}
    ws.append([values.get(h) for h in headers])
    book.save(path)
    assert load_file(district_loaded, "eldercare_sites", path).inserted == 1
    assert stored_rows(district_loaded)["TPL-1"]["geometry_accuracy"] == "illustrative"


def test_statement_timeout_is_reported_as_a_timeout(district_loaded, db_url, tmp_path):
    from geo_service.db.engine import make_engine
    from geo_service.ingest.loader import LoadTimeoutError
    from geo_service.settings import DatabaseSettings

    path = tmp_path / "sites.csv"
    eldercare_frame(inside_points(district_loaded, 3)).to_csv(path, index=False)
    impatient = make_engine(db_url, DatabaseSettings(statement_timeout_ms=300, pool_size=1))
    try:
        with district_loaded.connect() as holder:
            holder.execute(text("LOCK TABLE eldercare_sites IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(LoadTimeoutError, match=r"语句超时.*STATEMENT_TIMEOUT_MS"):
                load_file(impatient, "eldercare_sites", path)
            holder.rollback()
    finally:
        impatient.dispose()
    assert count(district_loaded) == 0


# -- the web upload page (data_editor) ----------------------------------------------------

UPLOADER = "upload_editor"


def _uploader(engine: Engine) -> None:
    """A data_editor account for the upload tests (once per database)."""
    from accounts_helpers import PASSWORD

    from geo_service.auth import users

    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM users WHERE username = :u"),
                        {"u": UPLOADER}).first() is None:
            users.add_user(conn, UPLOADER, PASSWORD, "data_editor")


def test_upload_endpoint_previews_writes_nothing_then_confirms(district_loaded, tmp_path,
                                                               monkeypatch):
    from accounts_helpers import login
    from openpyxl import load_workbook

    monkeypatch.setenv("GEO_SERVICE_MEDIA_DIR", str(tmp_path / "media"))
    monkeypatch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
    _uploader(district_loaded)
    frame = eldercare_frame(inside_points(district_loaded, 3))
    frame.loc[1, "床位数"] = "很多"
    path = tmp_path / "站点.csv"
    frame.to_csv(path, index=False)
    with _client(district_loaded) as client:
        send = {"files": {"file": ("站点.csv", path.read_bytes(), "text/csv")},
                "data": {"layer": "eldercare_sites"}}
        assert client.post("/uploads", **send).status_code == 401
        headers = login(client, UPLOADER)
        mark = fingerprint(district_loaded)
        bad = client.post("/uploads", headers=headers, **send)
        assert bad.status_code == 200, bad.text
        body = bad.json()
        assert body["can_confirm"] is False and body["counts"]["inserted"] == 2
        assert body["problems"][0]["row"] == "第 3 行" and body["problems"][0]["column"] == "床位数"
        errors = client.get(f"/uploads/{body['errors_xlsx']}", headers=headers)
        assert errors.status_code == 200
        (tmp_path / "e.xlsx").write_bytes(errors.content)
        assert load_workbook(tmp_path / "e.xlsx").active["A1"].value == "错误原因"
        assert fingerprint(district_loaded) == mark  # the preview wrote nothing
        frame.loc[1, "床位数"] = "12"
        frame.to_csv(path, index=False)
        send["files"] = {"file": ("站点.csv", path.read_bytes(), "text/csv")}
        good = client.post("/uploads", headers=headers, **send).json()
        assert good["can_confirm"] is True and good["errors_xlsx"] is None
        done = client.post(f"/uploads/{good['token']}/confirm", headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["counts"]["inserted"] == 3 and done.json()["run_id"]
        assert count(district_loaded) == 3
        again = client.post(f"/uploads/{good['token']}/confirm", headers=headers)
        assert again.status_code == 404  # an upload is loaded once
        wrong = client.post("/uploads", headers=headers, data={"layer": "eldercare_sites"},
                            files={"file": ("x.exe", b"MZ\x90\x00", "application/octet-stream")})
        assert wrong.status_code == 400 and "不支持的文件类型" in wrong.json()["detail"]
        fake = client.post("/uploads", headers=headers, data={"layer": "eldercare_sites"},
                           files={"file": ("x.xlsx", b"not a zip", "application/octet-stream")})
        assert fake.status_code == 400 and "不是有效的 .xlsx" in fake.json()["detail"]
        big = client.post("/uploads", headers=headers, data={"layer": "eldercare_sites"},
                          files={"file": ("big.csv", b"a" * (9 * 1024 * 1024), "text/csv")})
        assert big.status_code in {400, 413}


def test_upload_page_in_chromium(district_loaded, db_url, tmp_path):
    from accounts_helpers import PASSWORD
    from playwright.sync_api import sync_playwright
    from test_care_map_browser import CHROMIUM_ARGS, SCREENSHOTS

    from geo_service.devserver import running_service

    _uploader(district_loaded)
    frame = eldercare_frame(inside_points(district_loaded, 4))
    frame.loc[2, "类型"] = "养老院"
    frame["备注"] = "镇上报"
    path = tmp_path / "镇街名录.csv"
    frame.to_csv(path, index=False)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_service(db_url, log=tmp_path / "server.log",
                         GEO_SERVICE_MEDIA_DIR=str(tmp_path / "media"),
                         GEO_SERVICE_RATE_LIMIT_PER_S="0") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 1300}, locale="zh-CN")
        page.goto(base + "/uploads")
        page.fill("input[name=username]", UPLOADER)
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button")
        page.wait_for_selector("#app:not([hidden])")
        page.select_option("#layer", "eldercare_sites")
        page.set_input_files("#file", str(path))
        page.click("#preview-button")
        page.wait_for_selector("#preview:not([hidden])")
        assert page.is_disabled("#confirm-button")
        assert "第 4 行" in page.inner_text("#problems")
        assert "未知的类型「养老院」" in page.inner_text("#problems")
        assert "备注" in page.inner_text("#notes")
        page.screenshot(path=str(SCREENSHOTS / "upload-preview-errors.png"), full_page=True)
        frame.loc[2, "类型"] = "老年食堂"
        frame.to_csv(path, index=False)
        page.set_input_files("#file", str(path))
        page.click("#preview-button")
        page.wait_for_function("() => !document.getElementById('confirm-button').disabled")
        assert count(district_loaded) == 0
        page.click("#confirm-button")
        page.wait_for_selector("#result:not([hidden])")
        assert "新增 4" in page.inner_text("#result-summary")
        page.screenshot(path=str(SCREENSHOTS / "upload-done.png"), full_page=True)
        browser.close()
    assert count(district_loaded) == 4


def test_batch_rows_equal_the_per_row_path(district_loaded):
    """Rows checked as arrays give exactly the records and messages of one-by-one checks."""
    from geo_service.catalog import catalogue
    from geo_service.ingest.loader import load_context
    from geo_service.ingest.readers import SourceTable
    from geo_service.ingest.rows import RowBuilder, map_columns

    points = inside_points(district_loaded, 30)
    glon, glat = crs.wgs84_to_gcj02(*np.array(points).T)
    frame = eldercare_frame(list(zip(glon, glat, strict=True)))
    frame.loc[1, "经度"], frame.loc[1, "纬度"] = frame.loc[1, "纬度"], frame.loc[1, "经度"]
    frame.loc[2, "经度"] = "106.9"  # outside the district
    frame.loc[3, "经度"] = "105°43'10\""  # DMS: the per-row parser
    frame.loc[4, "经度"], frame.loc[4, "纬度"] = "35500000", "3300000"  # zone-prefixed metres
    frame.loc[5, "纬度"] = ""
    frame.loc[6, "经度"] = "nan"
    frame.loc[7, "经度"] = "200"
    frame.loc[8, "类型"] = "不存在的类型"
    layer = catalogue().layer("eldercare_sites")
    table = SourceTable(frame=frame, geometries=None, file_crs=None, sha256="", is_tabular=True,
                        labels=[f"第 {i + 2} 行" for i in range(len(frame))])
    columns = map_columns(table, layer, catalogue(), None)
    with district_loaded.connect() as conn:
        ctx = load_context(conn, layer)
    builder = RowBuilder(layer, columns, crs.parse_crs("gcj02"), ctx, default_kind=None,
                         source_name=None, partial=True)
    rows = frame.to_dict("records")
    located = builder.located_points(rows)
    assert len(located) == 30 - 7 and {1, 2, 3, 4, 5, 6, 7}.isdisjoint(located)
    batch = list(builder.build_many(rows, table.labels, None, []))
    single = [builder.build(row, label, None, []) for row, label in zip(rows, table.labels,
                                                                        strict=True)]
    assert [[str(p) for p in problems] for _, problems in batch] == [
        [str(p) for p in problems] for _, problems in single]
    assert {1, 2, 4, 5, 6, 7, 8} <= {i for i, (record, _) in enumerate(batch) if record is None}
    for (record, _), (expected, _) in zip(batch, single, strict=True):
        if expected is None:
            assert record is None
            continue
        assert record is not None and record["geom"].equals_exact(expected["geom"], 1e-9)
        assert {k: v for k, v in record.items() if k != "geom"} == {
            k: v for k, v in expected.items() if k != "geom"}
        assert record["township_code"] is not None


def _messy_reload(engine: Engine, tmp_path: Path) -> tuple[Path, Path]:
    """A first file, and a reload of it that changes, blanks, repeats and keeps cells."""
    points = inside_points(engine, 12)
    first = eldercare_frame(points)
    first["备注"] = "老年协会推荐"
    first.loc[3, "护理型床位数"] = ""
    path = tmp_path / "first.csv"
    first.to_csv(path, index=False)
    again = first.copy()
    again.loc[0, "床位数"] = "99"  # a changed figure
    again.loc[1, "电话"] = ""  # an empty cell: left unchanged without --clear-empty
    again.loc[2, "经度"] = f"{points[2][0] + 2e-11:.11f}"  # within 0.1 mm: the same position
    again.loc[4, "经度"] = f"{points[4][0] + 1e-5:.9f}"  # about a metre: moved
    again.loc[5, "备注"] = "改为社区推荐"  # an extra column's value
    again.loc[6, "名称"] = "测试养老服务站6（东街）"  # a renamed row
    again.loc[7, "护理型床位数"] = "30"  # part above its whole: a problem
    again.loc[8, "是否公开"] = "否"
    again = pd.concat([again, eldercare_frame(inside_points(engine, 14)[12:]).assign(
        编号=["NEW-1", "NEW-2"], 备注="")], ignore_index=True)  # two new rows
    reload = tmp_path / "again.csv"
    again.to_csv(reload, index=False)
    return path, reload


def test_the_database_side_unchanged_check_plans_what_the_row_by_row_one_does(
        district_loaded, tmp_path):
    """Reload planning first finds, by one join on the staged records, the rows equal to
    their stored version; the plan equals comparing every row field by field."""
    from geo_service.catalog import catalogue
    from geo_service.db.models import LAYER_TABLES
    from geo_service.ingest import loader
    from geo_service.ingest.writing import InsertStream

    first, reload = _messy_reload(district_loaded, tmp_path)
    load_file(district_loaded, "eldercare_sites", first)
    layer = catalogue().layer("eldercare_sites")
    table = LAYER_TABLES["eldercare_sites"]
    options = LoadOptions()

    def planned(staged: bool) -> tuple:
        with district_loaded.begin() as conn:
            prepared = loader.prepare(conn, "eldercare_sites", reload, options)
            stage = None
            if staged:
                stream = InsertStream(conn, table, loader._compare_stage(conn, table))
                stream.put([loader.record_values(r) for r in prepared.records])
                stage = loader.Staged("load_compare", set(stream.close()))
                same = loader._unchanged_keys(conn, table, stage, sorted(
                    k for k in set().union(*prepared.records) if not k.startswith("_")))
            plan = loader.plan_changes(conn, layer, prepared.records, options, "x",
                                       prepared.columns, stage)
        updates = [(row_id, {k: v for k, v in final.items() if k != "geom"}, change.key,
                    sorted(change.fields)) for row_id, final, change in plan.updates]
        return (updates, plan.unchanged, [str(p) for p in plan.problems],
                [r["external_id"] for r in plan.inserts], same if staged else None)

    *fast, same = planned(staged=True)
    *slow, _ = planned(staged=False)
    assert fast == slow
    updates, unchanged, problems, inserts = fast
    assert {key for _, _, key, _ in updates} == {"T-000", "T-004", "T-005", "T-006", "T-008"}
    # T-007 (nursing beds above beds) is rejected before planning; T-001's empty phone (left
    # as stored) and T-002's position 2e-11° off (within 0.1 mm) are unchanged, but only the
    # field-by-field comparison can tell
    assert unchanged == 6 and inserts == ["NEW-1", "NEW-2"] and problems == []
    assert same == {"T-003", "T-009", "T-010", "T-011"}


def test_near_duplicates_of_repeated_names_only_equal_the_full_comparison(district_loaded,
                                                                          tmp_path):
    """Only rows whose name key repeats are compared; the messages equal comparing all."""
    from geo_service.catalog import catalogue
    from geo_service.ingest import loader
    from geo_service.ingest.duplicates import Site, near_duplicates

    points = inside_points(district_loaded, 8)
    stored = eldercare_frame(points[:3])
    stored.loc[1, "类型"] = "老年食堂"
    path = tmp_path / "stored.csv"
    stored.to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    lon, lat = points[5]
    frame = eldercare_frame([points[0], points[1], (lon, lat), (lon + 2e-4, lat),
                             (lon + 0.02, lat), points[6], points[7]])
    frame["编号"] = ["T-000", "N-1", "N-2", "N-3", "N-4", "N-5", "N-6"]
    frame["名称"] = ["测试养老服务站0", "测试养老服务站１", "大足 老年食堂", "大足老年食堂",
                   "大足老年食堂", "测试养老服务站2", "独一无二的站点"]
    frame.loc[3, "类型"] = "老年食堂"  # 20 m from row 4 (another kind); row 6 is 2 km off
    file = tmp_path / "file.csv"
    frame.to_csv(file, index=False)
    layer = catalogue().layer("eldercare_sites")
    with district_loaded.connect() as conn:
        prepared = loader.prepare(conn, "eldercare_sites", file, LoadOptions())
        records = prepared.records
        new = {r["external_id"] for r in records} - {"T-000"}
        found = loader._duplicate_messages(conn, layer, records, new)
        everything = [Site(*row, "库中记录") for row in conn.execute(text(
            "SELECT external_id, name, kind, ST_X(geom), ST_Y(geom) FROM eldercare_sites"))]
    sites = [Site(r["external_id"], r["name"], r["kind"], r["geom"].x, r["geom"].y,
                  r["_label"]) for r in records]
    expected = near_duplicates(sites, [])
    expected += near_duplicates([s for s in sites if s.key in new], everything)
    assert found == sorted(set(expected), key=expected.index)
    assert len(found) == 4 and not any("独一无二" in m for m in found)
    assert sum("库中记录" in m for m in found) == 2  # the fullwidth １ and the stored twin


def test_a_load_pauses_the_cycle_collector_and_restores_it(district_loaded, tmp_path,
                                                          monkeypatch):
    import gc

    from geo_service.ingest import loader

    seen: list[bool] = []
    real = loader.check_rows

    def watched(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "check_rows", watched)
    path = tmp_path / "sites.csv"
    eldercare_frame(inside_points(district_loaded, 2)).to_csv(path, index=False)
    assert gc.isenabled()
    load_file(district_loaded, "eldercare_sites", path)
    assert seen == [False] and gc.isenabled()
    with pytest.raises(InputFileError):
        load_file(district_loaded, "eldercare_sites", tmp_path / "missing.csv")
    assert gc.isenabled()  # restored after a failed load too
    gc.disable()
    try:
        load_file(district_loaded, "eldercare_sites", path)
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


def test_a_load_into_an_empty_layer_streams_its_rows_and_stays_all_or_nothing(
        district_loaded, tmp_path, monkeypatch):
    """Rows go to the database chunk by chunk while later ones are checked (several COPY
    statements); a bad row or a row the database refuses late in the file rolls back all."""
    from geo_service.ingest import loader, writing
    from geo_service.ingest.history import undo_run

    monkeypatch.setattr(loader, "STREAM_CHUNK", 3)
    monkeypatch.setattr(writing, "COPY_ROWS", 5)
    chunks: list[int] = []
    put = writing.InsertStream.put
    monkeypatch.setattr(writing.InsertStream, "put",
                        lambda self, rows: chunks.append(len(rows)) or put(self, rows))
    frame = eldercare_frame(inside_points(district_loaded, 12))
    path = tmp_path / "sites.csv"
    bad = frame.copy()
    bad.loc[10, "床位数"] = "十张"
    bad.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match="第 12 行"):
        load_file(district_loaded, "eldercare_sites", path)
    assert count(district_loaded) == 0 and sum(chunks) == 9  # sent, then rolled back
    chunks.clear()
    real_columns = writing._copy_columns

    def blank_name(table, columns, rows, defaults=None):  # a name only the database refuses
        values = real_columns(table, columns, rows, defaults)
        names, keys = values[columns.index("name")], values[columns.index("external_id")]
        names[:] = [" " if key == "T-010" else name for key, name in
                    zip(keys, names, strict=True)]
        return values

    monkeypatch.setattr(writing, "_copy_columns", blank_name)
    frame.to_csv(path, index=False)
    with pytest.raises(LoadRejectedError, match="数据库拒绝了这些行"):
        load_file(district_loaded, "eldercare_sites", path)
    assert count(district_loaded) == 0
    monkeypatch.setattr(writing, "_copy_columns", real_columns)
    chunks.clear()
    report = load_file(district_loaded, "eldercare_sites", path)
    assert report.inserted == 12 and [n for n in chunks if n] == [3, 3, 3, 3]
    with district_loaded.connect() as conn:
        ids = conn.execute(text("SELECT id FROM eldercare_sites ORDER BY id")).scalars().all()
        kept = conn.execute(text("SELECT inserted_ids, rows_inserted FROM ingest_runs "
                                 "WHERE id = :run"), {"run": report.run_id}).one()
    assert list(kept.inserted_ids) == ids and kept.rows_inserted == 12
    assert set(stored_positions(district_loaded)) == {f"T-{i:03d}" for i in range(12)}
    with district_loaded.begin() as conn:
        undo_run(conn, report.run_id, "tester")
    assert count(district_loaded) == 0


def test_the_name_index_takes_a_load_into_its_pending_list_and_is_merged_after(
        district_loaded, tmp_path, monkeypatch):
    """During the load new names wait in the GIN index's pending list; right after the
    commit the loader merges them (gin_clean_pending_list then has nothing left to do)."""
    from geo_service.ingest import loader

    merge = text("SELECT gin_clean_pending_list('eldercare_sites_name_trgm_idx'::regclass)")
    path = tmp_path / "sites.csv"
    frame = eldercare_frame(inside_points(district_loaded, 20))
    frame.iloc[:10].to_csv(path, index=False)
    monkeypatch.setattr(loader, "_merge_pending_gin", lambda *_a: None)
    load_file(district_loaded, "eldercare_sites", path)
    with district_loaded.begin() as conn:
        assert conn.execute(merge).scalar_one() > 0  # pages were left pending
        found = conn.execute(text("SELECT count(*) FROM eldercare_sites "
                                  "WHERE name LIKE '%养老服务站%'")).scalar_one()
    assert found == 10
    monkeypatch.undo()
    frame.iloc[10:].to_csv(path, index=False)  # a load into the non-empty layer, merged
    load_file(district_loaded, "eldercare_sites", path)
    with district_loaded.begin() as conn:
        assert conn.execute(merge).scalar_one() == 0
