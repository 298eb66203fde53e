"""Boundary lines, topology, markers, joint inspections, photos and disputes on real PostGIS."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from datetime import datetime
from struct import pack
from zoneinfo import ZoneInfo

import psycopg
import pytest
import shapely
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geo_service.access import Principal, Role
from geo_service.api.app import create_app
from geo_service.api.deps import get_principal
from geo_service.auth import users
from geo_service.boundaries import lines
from geo_service.crs import transformer
from geo_service.db import migrate
from geo_service.db.engine import make_engine
from geo_service.sample import load_admin_areas, load_neighbours

ROLES = {"officer_a": Role.boundary_officer, "officer_b": Role.boundary_officer,
         "officer_c": Role.boundary_officer, "officer_none": Role.boundary_officer,
         "chief": Role.admin, "planner": Role.planner, "editor": Role.data_editor}
DERIVER = Principal("deriver", Role.admin)


def _areas_db(database_factory, label: str) -> Engine:
    engine = make_engine(database_factory(label))
    migrate.upgrade(engine)
    load_admin_areas(engine)
    load_neighbours(engine)
    return engine


@pytest.fixture(scope="module")
def bengine(database_factory) -> Iterator[Engine]:
    """Own database: the sample's areas and neighbours, lines derived."""
    engine = _areas_db(database_factory, "boundaries")
    lines.derive_and_save(engine, DERIVER)
    line = a_line(engine)
    with engine.begin() as conn:  # each officer belongs to one side of the test line
        third = conn.execute(text(
            "SELECT code FROM admin_areas WHERE level = 'township' AND code NOT IN (:a, :b) "
            "ORDER BY code LIMIT 1"), {"a": line["side_a_code"], "b": line["side_b_code"]}
        ).scalar_one()
        for name, code in (("officer_a", line["side_a_code"]), ("officer_b", line["side_b_code"]),
                           ("officer_c", third), ("officer_none", None), ("chief", None),
                           ("planner", None), ("editor", None)):
            users.add_user(conn, name, "a-long-password", ROLES[name].value, area_code=code)
    yield engine
    engine.dispose()


@pytest.fixture
def client(bengine, tmp_path, monkeypatch) -> Iterator[TestClient]:
    """The app; the caller is chosen per request with the X-Test-User header (absent = public)."""
    monkeypatch.setenv("GEO_SERVICE_MEDIA_DIR", str(tmp_path / "media"))
    app = create_app(bengine)

    def principal(request: Request) -> Principal:
        name = request.headers.get("x-test-user")
        return Principal(name, ROLES[name]) if name else Principal(None, Role.public)

    app.dependency_overrides[get_principal] = principal
    with TestClient(app) as test_client:
        yield test_client


def as_(user: str, **headers: str) -> dict[str, str]:
    return {"x-test-user": user, **headers}


def png_bytes(seed: int = 0) -> bytes:
    """A real 1×1 PNG (different pixel per seed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return pack(">I", len(data)) + kind + data + pack(">I", zlib.crc32(kind + data))
    raw = b"\x00" + bytes([seed % 256, 80, 160])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def a_line(bengine: Engine, level: str = "township") -> dict:
    with bengine.connect() as conn:
        row = conn.execute(text("SELECT id, side_a_code, side_b_code FROM boundary_lines "
                                "WHERE level = :l AND status = 'current' ORDER BY id LIMIT 1"),
                           {"l": level}).one()
    return dict(row._mapping)


def point_on(bengine: Engine, line_id: int, fraction: float) -> tuple[float, float]:
    with bengine.connect() as conn:
        x, y = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_LineInterpolatePoint("
            "ST_GeometryN(geom, 1), :f) AS p FROM boundary_lines WHERE id = :i) s"),
            {"f": fraction, "i": line_id}).one()
    return x, y


def new_marker(client: TestClient, bengine: Engine, number: str, fraction: float = 0.5
               ) -> dict:
    line = a_line(bengine)
    lon, lat = point_on(bengine, line["id"], fraction)
    refs = [{"name": n, "bearing_deg": b, "distance_m": d}
            for n, b, d in (("电杆", 10, 12.5), ("古树", 130, 20), ("房角", 250, 33))]
    response = client.post("/boundaries/markers", headers=as_("officer_a"), json={
        "number": number, "marker_type": "双面", "material": "花岗岩", "lon": lon, "lat": lat,
        "line_id": line["id"], "installed_on": "2016-05-04", "references": refs})
    assert response.status_code == 201, response.text
    return response.json()


def new_inspection(client: TestClient, bengine: Engine, round_: str = "2026",
                   key: str | None = None) -> dict:
    line = a_line(bengine)
    headers = as_("officer_a", **({"Idempotency-Key": key} if key else {}))
    response = client.post("/boundaries/inspections", headers=headers, json={
        "line_id": line["id"], "round": round_, "inspected_on": "2026-03-15",
        "side_a_officers": ["张伟"], "side_b_officers": ["李娜"]})
    assert response.status_code == 201, response.text
    return response.json()


def sign(client: TestClient, inspection_id: int, user: str, side: str,
         content_hash: str | None = None):
    """Sign a side of what the officer was just shown (its content_hash)."""
    url = f"/boundaries/inspections/{inspection_id}"
    shown = content_hash or client.get(url, headers=as_(user)).json()["content_hash"]
    return client.post(f"{url}/sign", headers=as_(user),
                       json={"side": side, "content_hash": shown})


# --- lines ----------------------------------------------------------------------------

def test_township_and_outer_lines_sum_to_the_total_boundary_length(bengine):
    with bengine.connect() as conn:
        perimeters = conn.execute(text(
            "SELECT sum(ST_Perimeter(ST_Transform(geom, 4544))) FROM admin_areas "
            "WHERE level = 'township'")).scalar_one()
        district = conn.execute(text(
            "SELECT ST_Perimeter(ST_Transform(geom, 4544)) FROM admin_areas "
            "WHERE level = 'district'")).scalar_one()
        rows = conn.execute(text(
            "SELECT level, side_a_code, side_b_code, side_b_name, length_m, "
            "ST_Length(ST_Transform(geom, 4544)) AS measured FROM boundary_lines "
            "WHERE status = 'current'")).all()
        towns = conn.execute(text("SELECT count(*) FROM admin_areas "
                                  "WHERE level = 'township'")).scalar_one()
    internal = sum(r.length_m for r in rows if r.level == "township")
    outer = sum(r.length_m for r in rows if r.level != "township")
    assert towns == 27 and sum(r.level == "township" for r in rows) >= towns
    assert perimeters == pytest.approx(2 * internal + outer, abs=1.0)
    assert outer == pytest.approx(district, abs=1.0)
    for r in rows:  # stored lengths agree with PostGIS measuring the stored geometry
        assert r.length_m == pytest.approx(r.measured, rel=1e-6, abs=0.01)
    outer_rows = {r.side_b_name: r for r in rows if r.level != "township"}
    assert set(outer_rows) == {"永川区", "铜梁区", "潼南区", "荣昌区", "安岳县"}
    assert outer_rows["安岳县"].level == "provincial"
    assert {r.level for n, r in outer_rows.items() if n != "安岳县"} == {"county"}


def test_rederiving_after_a_polygon_change_keeps_the_ids_of_unchanged_lines(
        database_factory):
    engine = _areas_db(database_factory, "rederive")
    first = lines.derive_and_save(engine, DERIVER)
    with engine.connect() as conn:
        before = dict(conn.execute(text("SELECT line_key, id FROM boundary_lines")).all())
        target = conn.execute(text(
            "SELECT id, side_a_code, side_b_code, ST_AsBinary(geom) AS geom FROM boundary_lines "
            "WHERE level = 'township' ORDER BY length_m DESC LIMIT 1")).one()
    coords = shapely.get_coordinates(shapely.from_wkb(bytes(target.geom)))
    old = tuple(coords[len(coords) // 2])
    new = (old[0] + 0.0004, old[1] + 0.0003)  # ~50 m
    moved = lambda xy: [new if tuple(p) == old else tuple(p) for p in xy]  # noqa: E731
    with engine.begin() as conn:
        for code in (target.side_a_code, target.side_b_code):
            geom = shapely.from_wkb(bytes(conn.execute(text(
                "SELECT ST_AsBinary(geom) FROM admin_areas WHERE code = :c"),
                {"c": code}).scalar_one()))
            changed = shapely.transform(geom, lambda a: shapely.get_coordinates(
                shapely.points(moved(a))))
            assert not changed.equals(geom)
            conn.execute(text("UPDATE admin_areas SET geom = ST_GeomFromWKB(:g, 4490) "
                              "WHERE code = :c"), {"g": shapely.to_wkb(changed), "c": code})
    second = lines.derive_and_save(engine, DERIVER)
    with engine.connect() as conn:
        after = dict(conn.execute(text("SELECT line_key, id FROM boundary_lines")).all())
    assert len(first.inserted) == len(before) and not second.inserted
    assert second.updated == [target.id]
    assert len(second.unchanged) == len(before) - 1
    assert after == before
    engine.dispose()


def test_topology_report_finds_what_was_broken(database_factory, client):
    engine = _areas_db(database_factory, "topology")
    with engine.connect() as conn:
        clean = conn.execute(text("SELECT count(*) FROM admin_areas")).scalar_one()
    from geo_service.boundaries import topology

    with engine.connect() as conn:
        assert topology.check(conn)["features"] == []
    to_m = "ST_Transform(geom, 4544)"
    with engine.begin() as conn:
        towns: list[str] = []
        for code in conn.execute(text("SELECT code FROM admin_areas WHERE level = 'township' "
                                      "ORDER BY code")).scalars():
            apart = conn.execute(text(  # far from the ones already broken
                "SELECT NOT EXISTS (SELECT 1 FROM admin_areas a, admin_areas b WHERE "
                "a.code = :c AND b.code = ANY(:chosen) AND ST_DWithin("
                "ST_Transform(a.geom, 4544), ST_Transform(b.geom, 4544), 1000))"),
                {"c": code, "chosen": towns}).scalar_one()
            if apart:
                towns.append(code)
        # a 300 m inward buffer leaves a gap; a 2 m one elsewhere a sliver;
        # a 400 m outward buffer overlaps neighbours (and may leave the district)
        for code, dist in ((towns[0], -300), (towns[1], -2), (towns[2], 400)):
            conn.execute(text(f"UPDATE admin_areas SET geom = ST_Multi(ST_Transform("
                              f"ST_Buffer({to_m}, :d), 4490)) WHERE code = :c"),
                         {"d": dist, "c": code})
        village = conn.execute(text("SELECT code FROM admin_areas WHERE level = 'village' "
                                    "ORDER BY code LIMIT 1")).scalar_one()
        conn.execute(text(
            "UPDATE admin_areas SET geom = ST_Multi(ST_MakePolygon(ST_MakeLine(ARRAY["
            "ST_MakePoint(ST_X(c) - 0.001, ST_Y(c) - 0.001), "
            "ST_MakePoint(ST_X(c) + 0.001, ST_Y(c) + 0.001), "
            "ST_MakePoint(ST_X(c) + 0.001, ST_Y(c) - 0.001), "
            "ST_MakePoint(ST_X(c) - 0.001, ST_Y(c) + 0.001), "
            "ST_MakePoint(ST_X(c) - 0.001, ST_Y(c) - 0.001)]))) "
            "FROM (SELECT ST_PointOnSurface(geom) AS c FROM admin_areas WHERE code = :v) s "
            "WHERE code = :v").bindparams(v=village))
    with engine.connect() as conn:
        report = topology.check(conn)
    by_type: dict[str, list[dict]] = {}
    for f in report["features"]:
        by_type.setdefault(f["properties"]["type"], []).append(f)
    assert report["areas_checked"] == clean
    assert {"gap", "sliver", "overlap", "invalid_ring"} <= set(by_type)
    assert any(towns[2] in f["properties"]["codes"] for f in by_type["overlap"])
    assert any(f["properties"]["codes"] == [village] for f in by_type["invalid_ring"])
    gap = max(by_type["gap"], key=lambda f: f["properties"]["area_m2"])
    assert gap["properties"]["area_m2"] > 1e6 and gap["geometry"]["type"] == "Polygon"
    assert all(f["properties"]["mean_width_m"] < 5 for f in by_type["sliver"])
    # child outside parent: push a village 2 km out of its township
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE admin_areas SET geom = ST_Multi(ST_Transform(ST_Translate("
                          f"{to_m}, 2000, 0), 4490)) WHERE code = (SELECT code FROM "
                          f"admin_areas WHERE level = 'village' ORDER BY code OFFSET 5 LIMIT 1)"))
    with engine.connect() as conn:
        assert topology.check(conn)["counts"].get("child_outside_parent", 0) >= 1
    engine.dispose()
    # the endpoint: planners may read, the public may not
    assert client.get("/boundaries/topology", headers=as_("planner")).status_code == 200
    assert client.get("/boundaries/topology").status_code == 401
    assert client.get("/boundaries/topology", headers=as_("editor")).status_code == 403


# --- markers and findings -------------------------------------------------------------

def test_marker_measured_3_m_away_reports_3_m_displacement(client, bengine):
    marker = new_marker(client, bengine, "JZ-DISP-1", 0.3)
    assert len(marker["references"]) == 3
    to_gk = transformer(4490, 4544)
    x, y = to_gk.transform(marker["lon"], marker["lat"])
    lon, lat = transformer(4544, 4490).transform(x + 3.0 * 0.6, y + 3.0 * 0.8)  # 3.0 m on GK
    inspection = new_inspection(client, bengine, "disp")
    response = client.post(f"/boundaries/inspections/{inspection['id']}/findings",
                           headers=as_("officer_b"),
                           json={"marker_id": marker["id"], "condition": "移位",
                                 "measured_lon": lon, "measured_lat": lat, "note": "被挖机碰歪"})
    assert response.status_code == 201, response.text
    finding = response.json()["findings"][0]
    assert abs(finding["displacement_m"] - 3.0) < 0.1
    # a marker needs three reference objects; a far-off marker is refused
    bad = client.post("/boundaries/markers", headers=as_("officer_a"), json={
        "number": "JZ-X", "marker_type": "单面", "lon": marker["lon"], "lat": marker["lat"],
        "line_id": marker["line_id"], "references": [
            {"name": "a", "bearing_deg": 1, "distance_m": 2}]})
    assert bad.status_code == 422 and "references" in bad.text
    far = client.post("/boundaries/markers", headers=as_("officer_a"), json={
        "number": "JZ-FAR", "marker_type": "单面", "lon": marker["lon"] + 0.05,
        "lat": marker["lat"], "line_id": marker["line_id"],
        "references": [{k: r[k] for k in ("name", "bearing_deg", "distance_m")}
                       for r in marker["references"]]})
    assert far.status_code == 422
    assert "m from line" in far.json()["detail"]


def test_two_officers_saving_the_same_inspection_one_gets_412_no_edit_lost(client, bengine):
    inspection = new_inspection(client, bengine, "concurrent")
    url = f"/boundaries/inspections/{inspection['id']}"
    etag = client.get(url, headers=as_("officer_a")).headers["etag"]
    results: dict[str, int] = {}
    barrier = threading.Barrier(2)

    def save(user: str, body: dict) -> None:
        barrier.wait()
        results[user] = client.patch(url, headers=as_(user, **{"If-Match": etag}),
                                     json=body).status_code

    edits = {"officer_a": {"summary": "界桩 3 号周边新修机耕道"},
             "officer_b": {"side_b_officers": ["李娜", "王强"]}}
    threads = [threading.Thread(target=save, args=(u, b)) for u, b in edits.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 412]
    loser = next(u for u, s in results.items() if s == 412)
    fresh = client.get(url, headers=as_(loser))
    retry = client.patch(url, headers=as_(loser, **{"If-Match": fresh.headers["etag"]}),
                         json=edits[loser])
    assert retry.status_code == 200
    final = client.get(url, headers=as_("planner")).json()
    assert final["summary"] == edits["officer_a"]["summary"]
    assert final["side_b_officers"] == edits["officer_b"]["side_b_officers"]
    assert client.patch(url, headers=as_("officer_a"), json={"summary": "x"}).status_code == 428


def test_signed_off_inspection_cannot_be_changed_and_is_corrected_by_a_new_record(
        client, bengine):
    marker = new_marker(client, bengine, "JZ-SIGN-1", 0.6)
    inspection = new_inspection(client, bengine, "sign")
    url = f"/boundaries/inspections/{inspection['id']}"
    client.post(f"{url}/findings", headers=as_("officer_a"),
                json={"marker_id": marker["id"], "condition": "完好"})
    first = sign(client, inspection["id"], "officer_a", "a")
    assert first.status_code == 200 and first.json()["state"] == "partly_signed"
    same_person = sign(client, inspection["id"], "officer_a", "b")
    assert same_person.status_code == 409
    done = sign(client, inspection["id"], "officer_b", "b")
    assert done.status_code == 200 and done.json()["state"] == "signed_off"
    tag = done.headers["etag"]
    assert client.patch(url, headers=as_("officer_a", **{"If-Match": tag}),
                        json={"summary": "改"}).status_code == 409
    assert client.post(f"{url}/findings", headers=as_("officer_a"),
                       json={"marker_id": marker["id"], "condition": "丢失"}).status_code == 409
    assert client.post(f"{url}/notes", headers=as_("officer_a"),
                       json={"category": "建筑", "note": "新建房屋"}).status_code == 409
    # …and the database refuses too, whoever asks
    raw = bengine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(raw) as conn:
        for statement in (f"UPDATE inspections SET summary = 'x' WHERE id = {inspection['id']}",
                          f"DELETE FROM inspection_findings WHERE inspection_id = "
                          f"{inspection['id']}",
                          f"DELETE FROM inspections WHERE id = {inspection['id']}"):
            with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
                conn.execute(statement)
            conn.rollback()
    correction = client.post("/boundaries/inspections", headers=as_("officer_b"), json={
        "line_id": inspection["line_id"], "round": "sign", "inspected_on": "2026-03-16",
        "corrects_id": inspection["id"]})
    assert correction.status_code == 201
    body = correction.json()
    assert body["corrects_id"] == inspection["id"] and body["state"] == "draft"
    assert [f["marker_id"] for f in body["findings"]] == [marker["id"]]
    original = client.get(url, headers=as_("planner")).json()
    assert original["corrected_by"] == [body["id"]] and original["summary"] is None


def test_each_side_is_signed_by_an_officer_of_that_side(client, bengine):
    inspection = new_inspection(client, bengine, "sides")
    url = f"/boundaries/inspections/{inspection['id']}"
    shown = client.get(url, headers=as_("officer_a")).json()["content_hash"]
    line = a_line(bengine)
    for user, side in (("officer_c", "a"), ("officer_none", "b"), ("officer_a", "b"),
                       ("officer_b", "a"), ("chief", "a")):
        refused = sign(client, inspection["id"], user, side, shown)
        assert refused.status_code == 403, (user, side, refused.text)
        detail = refused.json()["detail"]
        code = line[f"side_{side}_code"]
        assert code in detail and "set-area" in detail, detail
    assert client.get(url, headers=as_("planner")).json()["state"] == "draft"
    first = sign(client, inspection["id"], "officer_b", "b", shown)
    assert first.status_code == 200 and first.json()["side_b_signed_by"] == "officer_b"
    with bengine.begin() as conn:  # an admin ties the chief to side a: now the chief may sign
        users.set_area(conn, "chief", line["side_a_code"])
    try:
        done = sign(client, inspection["id"], "chief", "a", shown)
    finally:
        with bengine.begin() as conn:
            users.set_area(conn, "chief", None)
    assert done.status_code == 200 and done.json()["state"] == "signed_off"
    html = client.get(f"/boundaries/lines/{line['id']}/report?round=sides",
                      headers=as_("planner")).text
    for side in "ab":  # sign-offs printed in Beijing time, not the raw UTC timestamp
        stamp = datetime.fromisoformat(done.json()[f"side_{side}_signed_at"])
        assert f"{stamp.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M} (北京时间)" in html
        assert done.json()[f"side_{side}_signed_at"] not in html


def test_report_photos_name_the_marker_they_show(client, bengine):
    marker = new_marker(client, bengine, "JZ-PHOTO-CAP", 0.35)
    inspection = new_inspection(client, bengine, "photo-caption")
    sha = client.post("/boundaries/photos", headers=as_("officer_a"),
                      files={"file": ("a.png", png_bytes(77), "image/png")}).json()["sha256"]
    saved = client.post(f"/boundaries/inspections/{inspection['id']}/findings",
                        headers=as_("officer_a"), json={"marker_id": marker["id"],
                                                        "condition": "损坏", "photos": [sha]})
    assert saved.status_code in (200, 201), saved.text
    html = client.get(f"/boundaries/inspections/{inspection['id']}/report",
                      headers=as_("planner")).text
    assert f"<figcaption>界桩 JZ-PHOTO-CAP · SHA-256 {sha[:12]}" in html


def test_the_database_refuses_one_person_signing_both_sides(client, bengine):
    inspection = new_inspection(client, bengine, "both-sides")
    raw = bengine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(raw) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE inspections SET side_a_signed_by = 'officer_a', side_a_signed_at = "
                     "now(), side_b_signed_by = 'Officer_A', side_b_signed_at = now() "
                     "WHERE id = %s", (inspection["id"],))


def test_an_officer_area_must_be_a_known_township_district_or_neighbour(bengine):
    with bengine.begin() as conn:
        with pytest.raises(users.UserError, match="unknown area code '500111999000'"):
            users.set_area(conn, "officer_none", "500111999000")
        village = conn.execute(text("SELECT code FROM admin_areas WHERE level = 'village' "
                                    "LIMIT 1")).scalar_one()
        with pytest.raises(users.UserError, match="unknown area code"):
            users.set_area(conn, "officer_none", village)
        assert users.set_area(conn, "officer_none", "512021000000").area_code == "512021000000"
        assert users.area_of(conn, "OFFICER_NONE") == "512021000000"
        assert users.set_area(conn, "officer_none", None).area_code is None


def test_repeated_submission_with_the_same_idempotency_key_creates_one_record(client, bengine):
    first = new_inspection(client, bengine, "idem", key="phone-42-draft-7")
    again = client.post("/boundaries/inspections",
                        headers=as_("officer_a", **{"Idempotency-Key": "phone-42-draft-7"}),
                        json={"line_id": first["line_id"], "round": "idem",
                              "inspected_on": "2026-03-15", "side_a_officers": ["张伟"],
                              "side_b_officers": ["李娜"]})
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert again.headers["idempotency-replayed"] == "true"
    with bengine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM inspections WHERE round = 'idem'")
                            ).scalar_one() == 1
    reused = client.post("/boundaries/inspections",
                         headers=as_("officer_a", **{"Idempotency-Key": "phone-42-draft-7"}),
                         json={"line_id": first["line_id"], "round": "other",
                               "inspected_on": "2026-03-15"})
    assert reused.status_code == 422 and "different request" in reused.text


def test_audit_log_holds_each_change_with_before_and_after(client, bengine):
    inspection = new_inspection(client, bengine, "audit")
    url = f"/boundaries/inspections/{inspection['id']}"
    client.patch(url, headers=as_("officer_b", **{"If-Match": inspection["etag"]}),
                 json={"summary": "沿线良好"})
    with bengine.connect() as conn:
        rows = conn.execute(text(
            "SELECT actor, action, before, after FROM audit_log WHERE table_name = "
            "'inspections' AND record_id = :r ORDER BY id"), {"r": str(inspection["id"])}).all()
        derived = conn.execute(text("SELECT count(*) FROM audit_log WHERE table_name = "
                                    "'boundary_lines' AND action = 'insert'")).scalar_one()
    assert [(r.actor, r.action) for r in rows] == [("officer_a", "insert"),
                                                   ("officer_b", "update")]
    assert rows[0].before is None and rows[0].after["round"] == "audit"
    assert rows[1].before["summary"] is None and rows[1].after["summary"] == "沿线良好"
    assert derived >= 66


# --- photos ---------------------------------------------------------------------------

def test_photos_are_checked_by_content_stored_by_hash_and_served_to_staff_only(
        client, bengine):
    import hashlib

    inspection = new_inspection(client, bengine, "photo")
    data = png_bytes(7)
    up = client.post(f"/boundaries/inspections/{inspection['id']}/photos",
                     headers=as_("officer_a"), files={"file": ("a.heic", data, "image/heic")},
                     data={"caption": "界桩正面"})
    assert up.status_code == 201, up.text
    sha = hashlib.sha256(data).hexdigest()
    assert up.json()["photos"][0]["sha256"] == sha
    assert up.json()["photos"][0]["content_type"] == "image/png"  # by content, not name
    media = client.app.state.settings.data.media_dir
    assert (media / "photos" / sha[:2] / sha).read_bytes() == data
    got = client.get(f"/boundaries/photos/{sha}", headers=as_("planner"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert client.get(f"/boundaries/photos/{sha}").status_code == 401
    fake = client.post("/boundaries/photos", headers=as_("officer_a"),
                       files={"file": ("x.jpg", b"<html>not a photo</html>", "image/jpeg")})
    assert fake.status_code == 415
    big = b"\xff\xd8\xff" + b"\0" * (15 * 1024 * 1024)
    assert client.post("/boundaries/photos", headers=as_("officer_a"),
                       files={"file": ("big.jpg", big, "image/jpeg")}).status_code == 413


# --- disputes and the report ----------------------------------------------------------

def test_dispute_timeline_moves_forward_only_and_links_inspections(client, bengine):
    inspection = new_inspection(client, bengine, "dispute")
    lon, lat = point_on(bengine, inspection["line_id"], 0.4)
    created = client.post("/boundaries/disputes", headers=as_("officer_a"), json={
        "title": "山林权属争议", "nature": "山林",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "parties": ["甲村", "乙村"], "line_id": inspection["line_id"],
        "inspection_ids": [inspection["id"]]})
    assert created.status_code == 201, created.text
    url = f"/boundaries/disputes/{created.json()['id']}"

    def step(user: str, body: dict):
        tag = client.get(url, headers=as_("planner")).headers["etag"]
        return client.post(f"{url}/status", headers=as_(user, **{"If-Match": tag}), json=body)

    assert client.post(f"{url}/status", headers=as_("officer_a"),
                       json={"status": "mediating"}).status_code == 428  # If-Match needed
    assert step("officer_a", {"status": "mediating", "note": "镇调委会受理"}).status_code == 200
    assert step("officer_a", {"status": "reported"}).status_code == 409
    for note in ("第一次调解", "第二次调解"):  # any number of mediation events
        assert client.post(f"{url}/events", headers=as_("officer_b"),
                           json={"note": note}).status_code == 201
    assert step("officer_c", {"status": "resolved"}).status_code == 403  # not a party
    half = step("officer_a", {"status": "resolved", "note": "甲方同意"})
    assert half.status_code == 200 and half.json()["status"] == "mediating"
    done = step("officer_b", {"status": "resolved"})
    assert done.json()["status"] == "resolved"
    statuses = [e["status"] for e in done.json()["timeline"] if e["kind"] == "status"]
    assert statuses == ["reported", "mediating", "resolved"]
    assert [e["note"] for e in done.json()["timeline"] if e["kind"] == "mediation"] == [
        "第一次调解", "第二次调解"]
    assert done.json()["inspection_ids"] == [inspection["id"]]
    # resolved: it changes only by reopening with a reason
    tag = done.headers["etag"]
    assert client.patch(url, headers=as_("officer_a", **{"If-Match": tag}),
                        json={"title": "改"}).status_code == 409
    assert client.post(f"{url}/events", headers=as_("officer_a"),
                       json={"note": "x"}).status_code == 409
    assert step("officer_a", {"status": "mediating", "reopen": True}).status_code == 422
    reopened = step("officer_b", {"status": "mediating", "reopen": True, "note": "村民再次上访"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "mediating"
    assert step("officer_a", {"status": "resolved",
                              "decision_document": "大足府发〔2026〕12号"}).status_code == 403
    decided = step("chief", {"status": "resolved", "decision_document": "大足府发〔2026〕12号"})
    assert decided.json()["status"] == "resolved"
    assert decided.json()["decision_document"] == "大足府发〔2026〕12号"
    bad = client.post("/boundaries/disputes", headers=as_("officer_a"), json={
        "title": "x", "nature": "空气", "geometry": {"type": "Point", "coordinates": [0, 0]},
        "parties": ["甲", "乙"]})
    assert bad.status_code == 422 and "nature" in bad.text
    far = client.post("/boundaries/disputes", headers=as_("officer_a"), json={
        "title": "远处", "nature": "土地", "line_id": inspection["line_id"],
        "geometry": {"type": "Point", "coordinates": [110.0, 35.0]}, "parties": ["甲", "乙"]})
    assert far.status_code == 400 and "outside" in far.text


def test_disputes_take_documents_and_photos(client, bengine):
    lon, lat = point_on(bengine, a_line(bengine)["id"], 0.3)
    created = client.post("/boundaries/disputes", headers=as_("officer_b"), json={
        "title": "耕地边界", "nature": "土地", "line_id": a_line(bengine)["id"],
        "geometry": {"type": "Point", "coordinates": [lon, lat]}, "parties": ["甲组", "乙组"]})
    url = f"/boundaries/disputes/{created.json()['id']}/attachments"
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    doc = client.post(url, headers=as_("officer_a"), files={"file": ("协议.pdf", pdf, "x/y")},
                      data={"caption": "调解协议"})
    assert doc.status_code == 201, doc.text
    photo = client.post(url, headers=as_("officer_a"),
                        files={"file": ("现场.png", png_bytes(33), "image/png")})
    assert photo.status_code == 201
    kinds = [(a["kind"], a["content_type"]) for a in photo.json()["attachments"]]
    assert kinds == [("document", "application/pdf"), ("photo", "image/png")]
    fake = client.post(url, headers=as_("officer_a"),
                       files={"file": ("x.pdf", b"%PDF-1.4 <html>", "application/pdf")})
    assert fake.status_code == 415
    first = photo.json()["attachments"][0]["id"]
    got = client.get(f"{url}/{first}", headers=as_("planner"))
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["content-type"] == "application/pdf"
    assert client.get(f"{url}/{first}").status_code == 401


def test_inspection_report_page_shows_markers_findings_and_sign_offs(client, bengine):
    marker = new_marker(client, bengine, "JZ-REP-1", 0.2)
    inspection = new_inspection(client, bengine, "report")
    lon, lat = point_on(bengine, inspection["line_id"], 0.2)
    client.post(f"/boundaries/inspections/{inspection['id']}/findings",
                headers=as_("officer_a"), json={"marker_id": marker["id"], "condition": "损坏",
                                                "measured_lon": lon, "measured_lat": lat})
    page = client.get(f"/boundaries/inspections/{inspection['id']}/report",
                      headers=as_("planner"))
    assert page.status_code == 200
    html = page.text
    assert "联检报告" in html and "JZ-REP-1" in html and "损坏" in html
    assert "<svg" in html and "张伟" in html and "示意" in html
    assert client.get(f"/boundaries/lines/{inspection['line_id']}/report").status_code == 401
    draft_only = client.get(f"/boundaries/lines/{inspection['line_id']}/report?round=report",
                            headers=as_("planner"))  # a round's report is never a draft
    assert draft_only.status_code == 404 and f"#{inspection['id']}" in draft_only.text


# --- nobody anonymous -----------------------------------------------------------------

def test_anonymous_callers_see_none_of_it(client, bengine):
    sha = "0" * 64
    checked = 0
    from geo_service.api.routes.boundaries import router

    for route in router.routes:
        path = getattr(route, "path", "")
        if not path.startswith("/boundaries") or path.startswith("/boundaries/field"):
            continue
        url = (path.replace("{sha256}", sha).replace("{line_id}", "1")
               .replace("{marker_id}", "1").replace("{inspection_id}", "1")
               .replace("{finding_id}", "1").replace("{dispute_id}", "1")
               .replace("{attachment_id}", "1"))
        for method in route.methods - {"HEAD", "OPTIONS"}:
            response = client.request(method, url, json={})
            assert response.status_code == 401, (method, url, response.status_code)
            checked += 1
    assert checked >= 25
    listing = client.get("/boundaries/lines", headers=as_("planner")).json()
    assert len(listing["features"]) >= 66
    assert client.post("/boundaries/lines/derive", headers=as_("planner")).status_code == 403


def test_cli_derive_check_sample_markers_and_report(bengine, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env["GEO_SERVICE_DATABASE_URL"] = bengine.url.set(drivername="postgresql").render_as_string(
        hide_password=False)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "geo_service.cli", "boundary", *args],
                              env=env, capture_output=True, text=True, timeout=120)

    derived = run("derive", "--dry-run")
    assert derived.returncode == 0, derived.stderr
    assert "安岳县" in derived.stdout and "identity_residual_m=0" in derived.stdout
    checked = run("check")
    assert checked.returncode == 0 and "0 issues" in checked.stdout
    sample = run("sample-markers", "--lines", "1", "--per-line", "2")
    assert sample.returncode == 0 and "2 illustrative markers" in sample.stdout
    with bengine.connect() as conn:
        line_id = conn.execute(text("SELECT line_id FROM boundary_markers WHERE number LIKE "
                                    "'示意-%' LIMIT 1")).scalar_one()
    new_line = run("report", str(line_id), "--output", str(tmp_path / "r.html"))
    if new_line.returncode == 0:  # other tests may have inspected this line already
        assert "联检报告" in (tmp_path / "r.html").read_text(encoding="utf-8")
    else:
        assert "no inspection" in new_line.stderr
    missing = run("report", "999999", "--output", str(tmp_path / "x.html"))
    assert missing.returncode == 1 and "999999 not found" in missing.stderr


def test_cli_report_stands_alone_as_html_and_prints_to_pdf(client, bengine, tmp_path):
    import base64
    import os
    import subprocess
    import sys

    marker = new_marker(client, bengine, "JZ-PDF", 0.4)
    inspection = new_inspection(client, bengine, "pdf-round")
    picture = png_bytes(91)
    sha = client.post("/boundaries/photos", headers=as_("officer_a"),
                      files={"file": ("p.png", picture, "image/png")}).json()["sha256"]
    saved = client.post(f"/boundaries/inspections/{inspection['id']}/findings",
                        headers=as_("officer_a"), json={"marker_id": marker["id"],
                                                        "condition": "完好", "photos": [sha]})
    assert saved.status_code in (200, 201), saved.text
    env = dict(os.environ, GEO_SERVICE_MEDIA_DIR=str(client.app.state.settings.data.media_dir))
    env["GEO_SERVICE_DATABASE_URL"] = bengine.url.set(drivername="postgresql").render_as_string(
        hide_password=False)

    def report(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "geo_service.cli", "boundary", "report",
             "--inspection", str(inspection["id"]), "--output",
             str(tmp_path / name)], env=env, capture_output=True, text=True, timeout=180)

    html = report("联检报告.html")
    assert html.returncode == 0, html.stderr
    page = (tmp_path / "联检报告.html").read_text(encoding="utf-8")
    assert f"data:image/png;base64,{base64.b64encode(picture).decode()}" in page  # no server
    assert "/boundaries/photos/" not in page
    pdf = report("联检报告.pdf")
    assert pdf.returncode == 0, pdf.stderr
    data = (tmp_path / "联检报告.pdf").read_bytes()
    assert data.startswith(b"%PDF-") and b"/Subtype /Image" in data  # the photo is in it
    wrong = report("联检报告.docx")
    assert wrong.returncode == 1 and "use a .html or .pdf" in wrong.stderr
