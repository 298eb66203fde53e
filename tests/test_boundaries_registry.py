"""The marker registry (界桩成果表): import with X = northing, export, round trips, search."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import shapely
from fastapi import Request
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from pyproj import Transformer
from sqlalchemy import Engine, text

from geo_service.access import Principal, Role
from geo_service.api.app import create_app
from geo_service.api.deps import get_principal
from geo_service.boundaries import lines, registry
from geo_service.db import migrate
from geo_service.db.engine import make_engine
from geo_service.errors import LoadRejectedError
from geo_service.sample import load_admin_areas, load_neighbours

ADMIN = Principal("registry-admin", Role.admin)
# EPSG:4544 axis order is (northing, easting): pyproj without always_xy is the survey's X, Y
TO_GK = Transformer.from_crs(4490, 4544)
HEADERS = ["序号", "界桩编号", "类型", "所在界线", "X", "Y", "高程", "方位物1", "方位物1方位角",
           "方位物1距离", "方位物2", "方位物2方位角", "方位物2距离", "方位物3", "方位物3方位角",
           "方位物3距离", "埋设日期", "备注"]


@pytest.fixture(scope="module")
def rengine(database_factory) -> Iterator[Engine]:
    """Own database: the sample's areas and neighbours, lines derived."""
    engine = make_engine(database_factory("registry"))
    migrate.upgrade(engine)
    load_admin_areas(engine)
    load_neighbours(engine)
    lines.derive_and_save(engine, ADMIN)
    yield engine
    engine.dispose()


def _line(engine: Engine, offset: int = 0):
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT id, side_a_name, side_b_name, ST_AsText(ST_Transform(geom, 4544)) AS gk "
            "FROM boundary_lines WHERE level = 'township' AND status = 'current' "
            "ORDER BY length_m DESC OFFSET :o LIMIT 1"), {"o": offset}).one()


def _survey_points(line, n: int) -> list[tuple[float, float]]:
    """n surveyed (X northing, Y easting) positions on the line, to the millimetre."""
    gk = shapely.from_wkt(line.gk)
    longest = max(shapely.get_parts(gk), key=lambda g: g.length)
    out = []
    for k in range(n):
        p = longest.interpolate((k + 1) / (n + 1), normalized=True)
        out.append((round(p.y, 3), round(p.x, 3)))    # X = northing, Y = easting
    return out


def _survey_workbook(path: Path, line, prefix: str, points) -> None:
    """A 勘界 survey's 界桩成果表 as a clerk types it (title row above the headers? no)."""
    wb = Workbook()
    ws = wb.active
    ws.title = "成果表"
    ws.append(HEADERS)
    for k, (x, y) in enumerate(points):
        y_cell: float | str = y if k != 1 else f"35{y:.3f}"   # one Y with the zone prefix
        ws.append([k + 1, f"{prefix}-{k + 1:03d}", ["单立", "双立同号", "三立异号"][k % 3],
                   f"{line.side_a_name}—{line.side_b_name}", x, y_cell, 312.5 + k,
                   "电杆", "37°15′30″" if k == 0 else 37.25, 15.2,
                   "大树", 157.0, "26.4m", "房角", 277.5, 8.0,
                   "2008年6月12日" if k == 0 else "2008-06-12", "勘界埋设"])
    wb.save(path)


def _env(engine: Engine) -> dict[str, str]:
    return dict(os.environ, GEO_SERVICE_DATABASE_URL=engine.url.set(
        drivername="postgresql").render_as_string(hide_password=False))


def _cli(engine: Engine, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "geo_service.cli", "boundary", *args],
                          env=_env(engine), capture_output=True, text=True, timeout=180)


def _snapshot(engine: Engine, prefix: str) -> dict:
    """Every stored fact of the markers (geometry bytes, references, versions, updated_at)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT m.number, m.marker_type, m.material, encode(ST_AsBinary(m.geom), 'hex') g, "
            "m.elevation_m, m.installed_on, m.line_id, m.note, m.status, m.updated_at, "
            "(SELECT json_agg(json_build_array(r.name, r.bearing_deg, r.distance_m, r.note) "
            " ORDER BY r.id) FROM marker_references r WHERE r.marker_id = m.id) refs, "
            "(SELECT count(*) FROM boundary_marker_versions v WHERE v.marker_id = m.id) versions "
            "FROM boundary_markers m WHERE m.number LIKE :p ORDER BY m.number"),
            {"p": f"{prefix}-%"}).all()
    return {r.number: tuple(r) for r in rows}


def test_xlsx_with_x_northing_loads_within_a_centimetre_and_round_trips(rengine, tmp_path):
    line = _line(rengine)
    points = _survey_points(line, 3)
    survey = tmp_path / "大荣界桩成果表.xlsx"
    _survey_workbook(survey, line, "大荣", points)
    loaded = _cli(rengine, "import-markers", str(survey))
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "界桩导入完成" in loaded.stdout
    with rengine.connect() as conn:  # the oracle: PostGIS's own transformation to EPSG:4544
        stored = conn.execute(text(
            "SELECT number, ST_Y(ST_Transform(geom, 4544)) AS x, "
            "ST_X(ST_Transform(geom, 4544)) AS y, marker_type, elevation_m, installed_on, "
            "(SELECT array_agg(bearing_deg ORDER BY id) FROM marker_references r "
            " WHERE r.marker_id = m.id) AS bearings "
            "FROM boundary_markers m WHERE number LIKE '大荣-%' ORDER BY number")).all()
    assert [r.number for r in stored] == ["大荣-001", "大荣-002", "大荣-003"]
    for row, (x, y) in zip(stored, points, strict=True):
        assert abs(row.x - x) < 0.01 and abs(row.y - y) < 0.01, (row, x, y)
    assert [r.marker_type for r in stored] == ["单立", "双立同号", "三立异号"]
    assert stored[0].installed_on.isoformat() == "2008-06-12" and stored[2].elevation_m == 314.5
    assert stored[0].bearings[0] == pytest.approx(37 + 15 / 60 + 30 / 3600)

    before = _snapshot(rengine, "大荣")
    for suffix in (".xlsx", ".gpkg", ".geojson"):
        out = tmp_path / f"导出{suffix}"
        exported = _cli(rengine, "export-markers", "--output", str(out), "--line", str(line.id))
        assert exported.returncode == 0, exported.stderr
        again = _cli(rengine, "import-markers", str(out))
        assert again.returncode == 0, again.stdout + again.stderr
        assert _snapshot(rengine, "大荣") == before, suffix     # nothing changed, not a byte
    sheet = load_workbook(tmp_path / "导出.xlsx").active
    assert sheet is not None and sheet.title == "界桩成果表"
    headers = [c.value for c in sheet[1]]
    for wanted in ("界桩编号", "类型", "所在界线", "X坐标(m)", "Y坐标(m)", "经度", "纬度",
                   "高程(m)",
                   "方位物1名称", "方位物1方位角", "方位物1距离", "最新状况", "检查日期"):
        assert wanted in headers
    first = dict(zip(headers, [c.value for c in sheet[2]], strict=True))
    expected_x, expected_y = TO_GK.transform(first["纬度"], first["经度"])
    assert abs(first["X坐标(m)"] - points[0][0]) < 0.01
    assert abs(first["X坐标(m)"] - expected_x) < 0.001
    assert abs(first["Y坐标(m)"] - expected_y) < 0.001


def test_a_bad_list_names_row_and_column_and_writes_nothing(rengine, tmp_path):
    line = _line(rengine, 1)
    (x, y), (x2, y2), (x3, y3) = _survey_points(line, 3)
    path = tmp_path / "有错.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS)
    base = [f"{line.side_a_name}—{line.side_b_name}"]
    refs = ["电杆", 10, 5, "大树", 20, 6, "房角", 30, 7]
    ws.append([1, "错-001", "单立", *base, x, y, 300, *refs, "2008-06-12", None])
    ws.append([2, "错-002", "单立", *base, y2, x2, 300, *refs, "2008-06-12", None])  # swapped
    ws.append([3, "错-003", "四立", *base, x3, y3, 300, *refs, "2008-06-12", None])
    ws.append([4, "错-001", "单立", *base, x3, y3, 300, *refs, None, None])          # repeated
    ws.append([5, "错-006", "单立", "不存在镇—也不存在镇", x, y, 300, *refs, None,
               None])
    wb.save(path)
    run = _cli(rengine, "import-markers", str(path))
    assert run.returncode == 1
    with rengine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM boundary_markers WHERE number LIKE "
                                 "'错-%' OR number LIKE '=%'")).scalar_one() == 0
    with pytest.raises(LoadRejectedError) as caught, rengine.begin() as conn:
        registry.import_file(conn, ADMIN, path)
    problems = {(p["row"], p["column"]): p["message"] for p in caught.value.problems}
    assert "写反" in problems[("第 3 行", "X")]
    assert "四立" in problems[("第 4 行", "类型")]
    assert "重复" in problems[("第 5 行", "界桩编号")]
    assert "没有 不存在镇 与 也不存在镇" in problems[("第 6 行", "所在界线")]
    assert len(problems) == 4


@pytest.fixture
def client(rengine) -> Iterator[TestClient]:
    app = create_app(rengine)
    roles = {"admin": Role.admin, "planner": Role.planner}

    def principal(request: Request) -> Principal:
        name = request.headers.get("x-test-user")
        return Principal(name, roles[name]) if name else Principal(None, Role.public)

    app.dependency_overrides[get_principal] = principal
    with TestClient(app) as test_client:
        yield test_client


def test_upload_export_and_search_by_number_over_http(rengine, client, tmp_path):
    line = _line(rengine, 2)
    survey = tmp_path / "上传.xlsx"
    _survey_workbook(survey, line, "宝顶", _survey_points(line, 3))
    files = {"file": ("宝顶.xlsx", survey.read_bytes())}
    assert client.post("/boundaries/markers/import", files=files,
                       headers={"x-test-user": "planner"}).status_code == 403
    assert client.post("/boundaries/markers/import", files={"file": ("a.exe", b"MZ")},
                       headers={"x-test-user": "admin"}).status_code == 415
    bad = tmp_path / "坏.csv"
    bad.write_text("界桩编号,类型\n坏-1,单立\n", encoding="utf-8")
    refused = client.post("/boundaries/markers/import", headers={"x-test-user": "admin"},
                          files={"file": ("坏.csv", bad.read_bytes())})
    assert refused.status_code == 422
    assert refused.json()["detail"]["message"].startswith("坏.csv: 1 处错误, 未导入任何界桩")
    assert refused.json()["detail"]["problems"][0]["row"] == "第 2 行"
    dry = client.post("/boundaries/markers/import?dry_run=true", files=files,
                      headers={"x-test-user": "admin"})
    assert dry.status_code == 200
    assert dry.json()["created_numbers"] == ["宝顶-001", "宝顶-002", "宝顶-003"]
    assert client.get("/boundaries/markers?number=宝顶", headers={"x-test-user": "planner"}
                      ).json()["markers"] == []          # a dry run writes nothing
    done = client.post("/boundaries/markers/import", files=files,
                       headers={"x-test-user": "admin"})
    assert done.status_code == 200, done.text
    found = client.get("/boundaries/markers?number=宝顶-00",
                       headers={"x-test-user": "planner"}).json()["markers"]
    assert [m["number"] for m in found] == ["宝顶-001", "宝顶-002", "宝顶-003"]
    assert found[0]["status"] == "在用" and found[0]["latest_condition"] is None
    assert client.get("/boundaries/markers?number=%25", headers={"x-test-user": "planner"}
                      ).json()["markers"] == []          # % is a character, not a wildcard
    xlsx = client.get(f"/boundaries/markers/export?line_id={line.id}",
                      headers={"x-test-user": "planner"})
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert f"filename*=UTF-8''{quote('界桩成果表.xlsx')}" in xlsx.headers["content-disposition"]
    again = client.post("/boundaries/markers/import", headers={"x-test-user": "admin"},
                        files={"file": ("成果表.xlsx", xlsx.content)})
    assert again.json()["unchanged"] == 3 and again.json()["updated"] == 0
    assert client.get("/boundaries/markers/export", headers={}).status_code == 401


def test_ogr2ogr_reads_boundary_lines_and_staff_read_markers(rengine, tmp_path):
    """GDAL's OAPIF driver (as QGIS uses it): counts and ids as the database has them."""
    import httpx
    import pyogrio

    from geo_service.auth import users
    from geo_service.devserver import running_service

    line = _line(rengine, 3)
    survey = tmp_path / "棠香.xlsx"
    _survey_workbook(survey, line, "棠香", _survey_points(line, 3))
    with rengine.begin() as conn:
        registry.import_file(conn, ADMIN, survey)
        users.add_user(conn, "qgis_planner", "a-long-password-2026", "planner")
        current = set(conn.execute(text(
            "SELECT id FROM boundary_lines WHERE status = 'current'")).scalars())
        marker_ids = set(conn.execute(text("SELECT id FROM boundary_markers")).scalars())
        damaged = set(conn.execute(text(
            "UPDATE boundary_markers SET status = '损毁待修' WHERE id = (SELECT min(id) FROM "
            "boundary_markers) RETURNING id")).scalars())
    assert len(current) > 60 and marker_ids and damaged
    url = rengine.url.render_as_string(hide_password=False)
    with running_service(url, log=tmp_path / "server.log",
                         GEO_SERVICE_MEDIA_DIR=str(tmp_path / "media")) as base:
        # staff only (the catalogue): the anonymous sees neither collection
        anonymous = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{base}/"],
                                   capture_output=True, text=True, timeout=60)
        assert anonymous.returncode == 0, anonymous.stderr
        assert "boundary_lines" not in anonymous.stdout
        assert "boundary_markers" not in anonymous.stdout
        for hidden in ("boundary_lines", "boundary_markers"):
            assert httpx.get(f"{base}/collections/{hidden}/items").status_code == 404
        token = httpx.post(f"{base}/auth/token", data={
            "username": "qgis_planner", "password": "a-long-password-2026"}).json()["access_token"]
        staff = dict(os.environ, GDAL_HTTP_HEADERS=f"Authorization: Bearer {token}")
        info = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}/", "boundary_lines"],
                              capture_output=True, text=True, timeout=120, env=staff)
        assert info.returncode == 0, info.stderr
        assert f"Feature Count: {len(current)}" in info.stdout
        out = tmp_path / "lines.gpkg"
        copied = subprocess.run(["ogr2ogr", "-f", "GPKG", str(out), f"OAPIF:{base}/",
                                 "boundary_lines", "-preserve_fid"],
                                capture_output=True, text=True, timeout=180, env=staff)
        assert copied.returncode == 0, copied.stderr
        frame = pyogrio.read_dataframe(out, fid_as_index=True)
        assert set(frame.index) == current
        assert {"side_a_name", "side_b_name", "length_m", "level"} <= set(frame.columns)
        assert frame.geometry.geom_type.isin(["MultiLineString", "LineString"]).all()
        markers_out = tmp_path / "m.geojson"
        filtered = subprocess.run(
            ["ogr2ogr", "-f", "GeoJSON", str(markers_out), f"OAPIF:{base}/",
             "boundary_markers", "-preserve_fid", "-where", "status = '损毁待修'"],
            capture_output=True, text=True, timeout=120, env=staff)
        assert filtered.returncode == 0, filtered.stderr
        got = pyogrio.read_dataframe(markers_out, fid_as_index=True)
        assert set(got.index) == damaged and set(got["status"]) == {"损毁待修"}


def test_qr_label_sheet_opens_each_marker_in_the_field_form(rengine, client, tmp_path):
    """The A4 sheet, printed by Chromium: OpenCV reads each QR code back as the form's URL."""
    import cv2
    from playwright.sync_api import sync_playwright

    from geo_service.boundaries.labels import field_url

    line = _line(rengine, 4)
    survey = tmp_path / "标签.xlsx"
    _survey_workbook(survey, line, "中敖", _survey_points(line, 3))
    with rengine.begin() as conn:
        registry.import_file(conn, ADMIN, survey)
        ids = dict(conn.execute(text("SELECT number, id FROM boundary_markers WHERE line_id = :l"),
                                {"l": line.id}).all())
    page_html = client.get(f"/boundaries/lines/{line.id}/labels",
                           headers={"x-test-user": "planner"})
    assert page_html.status_code == 200 and "界桩二维码标签" in page_html.text
    assert "<script" not in page_html.text                  # works under script-src 'self'
    assert client.get(f"/boundaries/lines/{line.id}/labels").status_code == 401
    html = tmp_path / "labels.html"
    html.write_text(page_html.text, encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 794, "height": 1123},  # A4 at 96 dpi …
                                device_scale_factor=3)            # … printed at 288 dpi
        page.goto(html.as_uri())
        shot = tmp_path / "labels.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    image = cv2.imread(str(shot))
    found, decoded, _, _ = cv2.QRCodeDetector().detectAndDecodeMulti(image)
    assert found
    assert sorted(d for d in decoded if d) == sorted(
        field_url("http://testserver", i) for i in ids.values())
    assert len(ids) == 3


def test_a_gb18030_csv_with_dms_lon_lat_and_both_sides(rengine, tmp_path):
    """经度/纬度 in 度分秒, the line given by its two sides (either order), GB18030 text."""
    line = _line(rengine, 5)
    (x, y), = _survey_points(line, 1)
    lon, lat = Transformer.from_crs(4544, 4490, always_xy=True).transform(y, x)

    def dms(value: float) -> str:
        d = int(value)
        m = int((value - d) * 60)
        return f"{d}°{m}′{(value - d - m / 60) * 3600:.4f}″"
    path = tmp_path / "界桩.csv"
    path.write_bytes((
        "界桩编号,类型,甲方,乙方,经度,纬度,方位物1名称,方位物1方位角,方位物1距离,"
        "方位物2名称,方位物2方位角,方位物2距离,方位物3名称,方位物3方位角,方位物3距离\n"
        f"龙水-001,双立异号,{line.side_b_name},{line.side_a_name},{dms(lon)},{dms(lat)},"
        "水塔,12°30′,40,石碑,100,12,桥头,200,30\n").encode("gb18030"))
    with rengine.begin() as conn:
        result = registry.import_file(conn, ADMIN, path)
        row = conn.execute(text(
            "SELECT line_id, ST_Y(ST_Transform(geom, 4544)) AS x, ST_X(ST_Transform(geom, 4544)) "
            "AS y FROM boundary_markers WHERE number = '龙水-001'")).one()
    assert result.created == ["龙水-001"]
    assert row.line_id == line.id and abs(row.x - x) < 0.01 and abs(row.y - y) < 0.01
