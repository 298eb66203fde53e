"""Editing layers: validation like the loader, If-Match, versions, audit, roles, app DB role."""

from __future__ import annotations

import math
import threading

import pytest
from accounts_helpers import add_users, login, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app

ITEMS = "/collections/eldercare_sites/items"


@pytest.fixture(scope="module")
def edit_engine(database_factory):
    engine = writable_sample(database_factory, "edit")
    add_users(engine, "planner", "data_editor", "admin")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def client(edit_engine):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GEO_SERVICE_RATE_LIMIT_PER_S", "0")
        app = create_app(edit_engine)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def editor(client):
    return login(client, "data_editor")


@pytest.fixture(scope="module")
def centre(edit_engine) -> tuple[float, float]:
    """A point well inside the district (its representative point), computed by PostGIS."""
    with edit_engine.connect() as conn:
        x, y = conn.execute(text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_areas "
            "WHERE level = 'district') s")).one()
    return float(x), float(y)


def feature(lon: float, lat: float, **properties) -> dict:
    props = {"name": "测试老年食堂", "kind": "老年食堂", "beds": 10, **properties}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": props}


def test_create_read_back_and_audit(client, editor, centre, edit_engine):
    response = client.post(ITEMS, json=feature(*centre, name="𠮷㐂互助点", kind="互助养老点",
                                               contact_phone="023-1234"), headers=editor)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["location"].endswith(f"{ITEMS}/{created['id']}")
    assert created["properties"]["kind"] == "村级互助养老点"  # the loader's alias mapping
    with edit_engine.connect() as conn:
        row = conn.execute(text("SELECT name, township_code, updated_at FROM eldercare_sites "
                                "WHERE id = :id"), {"id": created["id"]}).one()
        entry = conn.execute(text("SELECT actor, action, before, after FROM audit_log WHERE "
                                  "table_name = 'eldercare_sites' AND record_id = :id"),
                             {"id": str(created["id"])}).one()
    assert row.name == "𠮷㐂互助点"  # rare CJK stored intact
    assert row.township_code is not None  # filled in from the position, like the loader
    from geo_service.etags import feature_etag

    assert response.headers["etag"] == feature_etag(created["id"], row.updated_at)
    assert (entry.actor, entry.action, entry.before) == ("data_editor", "insert", None)
    assert entry.after["properties"]["name"] == "𠮷㐂互助点"


@pytest.mark.parametrize(("change", "message"), [
    ({"geometry": {"type": "Point", "coordinates": [116.39, 39.91]}}, "在本区以外"),
    ({"geometry": {"type": "Point", "coordinates": [-73.97, 40.78]}}, "在本区以外"),
    ({"geometry": {"type": "Point", "coordinates": [29.7, 105.7]}}, "写反了"),
    ({"geometry": {"type": "Point", "coordinates": [500, 29]}}, "超出经纬度范围"),
    ({"properties": {"name": "x", "kind": "游乐场"}}, "未知的类型「游乐场」"),
    ({"properties": {"name": "", "kind": "老年食堂"}}, "name"),
    ({"properties": {"name": "x", "kind": "老年食堂", "beds": 5, "nursing_beds": 9}},
     "护理型床位数（9）大于床位数（5）"),
    ({"properties": {"name": "x", "kind": "老年食堂", "beds": "many"}}, "不是数字"),
    ({"properties": {"name": "x", "kind": "老年食堂", "star_rating": 9}}, "超出范围"),
    ({"properties": {"name": "x", "kind": "老年食堂", "colour": "red"}}, "unknown property"),
    ({"properties": {"name": "x", "kind": "老年食堂", "beds": {"a": 1}}}, "not allowed"),
    ({"geometry": {"type": "LineString", "coordinates": [[105.7, 29.7], [105.8, 29.7]]}},
     "本图层要点"),
    ({"geometry": {"type": "Point", "coordinates": "here"}}, "cannot be read"),
    ({"type": "FeatureCollection"}, "GeoJSON Feature"),
])
def test_bad_features_are_422_with_the_reason(client, editor, centre, change, message):
    body = feature(*centre)
    body.update(change)
    response = client.post(ITEMS, json=body, headers=editor)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])


def test_nan_and_infinity_are_refused(client, editor, centre):
    import json

    for bad in ("NaN", "Infinity"):
        raw = json.dumps(feature(*centre)).replace(str(centre[0]), bad)
        response = client.post(ITEMS, content=raw, headers={
            **editor, "content-type": "application/geo+json"})
        assert response.status_code in {400, 422}, response.text
        assert "finite" in response.text or "NaN" in response.text or "JSON" in response.text


def test_polygons_self_intersecting_and_20000_vertices(client, editor, centre, edit_engine):
    x, y = centre
    bowtie = {"type": "Polygon", "coordinates": [[[x, y], [x + .01, y + .01], [x + .01, y],
                                                  [x, y + .01], [x, y]]]}
    body = {"type": "Feature", "geometry": bowtie,
            "properties": {"name": "自相交地名", "category": "自然地理实体"}}
    response = client.post("/collections/place_names/items", json=body, headers=editor)
    assert response.status_code == 422 and "Self-intersection" in str(response.json())
    ring = [[x + 0.01 * math.cos(2 * math.pi * i / 20000),
             y + 0.01 * math.sin(2 * math.pi * i / 20000)] for i in range(20000)]
    body["geometry"] = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    body["properties"]["name"] = "两万点测试地块"
    response = client.post("/collections/place_names/items", json=body, headers=editor)
    assert response.status_code == 201, response.text[:500]
    with edit_engine.connect() as conn:
        points, pinyin = conn.execute(text("SELECT ST_NPoints(geom), pinyin FROM place_names "
                                           "WHERE id = :id"), {"id": response.json()["id"]}
                                      ).one()
    assert points == 20001 and pinyin  # stored intact, pinyin filled like the loader


def test_roles_anonymous_401_planner_403(client, centre):
    assert client.post(ITEMS, json=feature(*centre)).status_code == 401
    planner = login(client, "planner")
    response = client.post(ITEMS, json=feature(*centre), headers=planner)
    assert response.status_code == 403 and "data_editor" in response.json()["detail"]
    assert client.delete(f"{ITEMS}/1", headers=planner).status_code == 403
    assert client.patch(f"{ITEMS}/1", json={"type": "Feature", "properties": {}},
                        headers=planner).status_code == 403


def _new(client, editor, centre, name: str) -> tuple[int, str]:
    response = client.post(ITEMS, json=feature(*centre, name=name), headers=editor)
    assert response.status_code == 201, response.text
    return response.json()["id"], response.headers["etag"]


def test_if_match_required_and_checked(client, editor, centre):
    fid, etag = _new(client, editor, centre, "条件更新测试")
    body = feature(*centre, name="条件更新测试", beds=20)
    missing = client.put(f"{ITEMS}/{fid}", json=body, headers=editor)
    assert missing.status_code == 428 and "If-Match" in missing.json()["detail"]
    wrong = client.put(f"{ITEMS}/{fid}", json=body, headers={**editor, "If-Match": '"1-abc"'})
    assert wrong.status_code == 412
    ok = client.put(f"{ITEMS}/{fid}", json=body, headers={**editor, "If-Match": etag})
    assert ok.status_code == 200 and ok.json()["properties"]["beds"] == 20
    assert ok.headers["etag"] != etag and ok.headers["x-feature-version"] == "2"
    stale = client.put(f"{ITEMS}/{fid}", json=body, headers={**editor, "If-Match": etag})
    assert stale.status_code == 412
    assert client.put(f"{ITEMS}/999999999", json=body,
                      headers={**editor, "If-Match": etag}).status_code == 404


def test_concurrent_updates_one_wins_one_412_no_lost_edit(client, editor, centre, edit_engine):
    fid, etag = _new(client, editor, centre, "并发更新测试")
    results: dict[int, int] = {}
    barrier = threading.Barrier(2)

    def put(beds: int) -> None:
        barrier.wait()
        response = client.put(f"{ITEMS}/{fid}", json=feature(*centre, name="并发更新测试",
                                                              beds=beds),
                              headers={**editor, "If-Match": etag})
        results[beds] = response.status_code

    threads = [threading.Thread(target=put, args=(beds,)) for beds in (31, 32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results.values()) == [200, 412], results
    winner = next(beds for beds, status in results.items() if status == 200)
    with edit_engine.connect() as conn:
        beds = conn.execute(text("SELECT beds FROM eldercare_sites WHERE id = :id"),
                            {"id": fid}).scalar()
        kept = conn.execute(text("SELECT data FROM feature_versions WHERE layer = "
                                 "'eldercare_sites' AND feature_id = :id ORDER BY version"),
                            {"id": fid}).scalars().all()
    assert beds == winner
    assert [v["properties"]["beds"] for v in kept] == [10]  # the original, kept once


def test_patch_versions_and_delete(client, editor, centre, edit_engine):
    fid, etag = _new(client, editor, centre, "补丁测试")
    patched = client.patch(f"{ITEMS}/{fid}", json={"type": "Feature",
                                                   "properties": {"phone": "023-4321"}},
                           headers={**editor, "If-Match": etag})
    assert patched.status_code == 200, patched.text
    props = patched.json()["properties"]
    assert (props["phone"], props["beds"], props["name"]) == ("023-4321", 10, "补丁测试")
    history = client.get(f"{ITEMS}/{fid}/versions", headers=editor).json()
    assert [v["version"] for v in history["versions"]] == [1]
    assert history["versions"][0]["feature"]["properties"]["phone"] is None
    assert history["current_etag"] == patched.headers["etag"]
    gone = client.delete(f"{ITEMS}/{fid}", headers={**editor, "If-Match":
                                                    patched.headers["etag"]})
    assert gone.status_code == 204
    with edit_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM eldercare_sites WHERE id = :id"),
                            {"id": fid}).scalar() == 0
        versions = conn.execute(text("SELECT version FROM feature_versions WHERE feature_id = "
                                     ":id AND layer = 'eldercare_sites'"), {"id": fid}
                                ).scalars().all()
    assert sorted(versions) == [1, 2]
    audit = client.get("/admin/audit", params={"table": "eldercare_sites", "record_id": fid},
                       headers=login(client, "admin")).json()
    assert [e["action"] for e in audit["entries"]] == ["delete", "update", "insert"]
    assert audit["entries"][1]["before"]["properties"]["phone"] is None
    assert audit["entries"][1]["after"]["properties"]["phone"] == "023-4321"
    assert all(e["actor"] == "data_editor" for e in audit["entries"])


def test_the_app_role_cannot_alter_audit_rows(edit_engine, client, editor, centre):
    from geo_service.auth.dbrole import use_app_role
    from geo_service.db.engine import make_engine

    app_engine = make_engine(edit_engine.url.render_as_string(hide_password=False))
    assert use_app_role(app_engine, "geo_service_app")
    with TestClient(create_app(app_engine)) as app_client:  # the service works as the role
        response = app_client.post(ITEMS, json=feature(*centre, name="应用角色测试"),
                                   headers=login(app_client, "data_editor"))
        assert response.status_code == 201, response.text
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == "geo_service_app"
        entry = conn.execute(text("SELECT max(id) FROM audit_log")).scalar()
    for statement in ("UPDATE audit_log SET actor = 'mallory' WHERE id = :id",
                      "DELETE FROM audit_log WHERE id = :id", "TRUNCATE audit_log",
                      "UPDATE feature_versions SET data = '{}' WHERE true"):
        with pytest.raises(Exception, match="permission denied"), app_engine.begin() as conn:
            conn.execute(text(statement), {"id": entry})
    app_engine.dispose()


def test_renaming_a_place_respells_its_pinyin_unless_the_edit_gives_one(client, editor,
                                                                         edit_engine):
    from geo_service.gazetteer.pinyin import place_name_pinyin

    with edit_engine.connect() as conn:
        fid, old_name, old_pinyin = conn.execute(text(
            "SELECT id, name, pinyin FROM place_names WHERE name = '宝顶山'")).one()
    url = f"/collections/place_names/items/{fid}"
    tag = client.get(url).headers["etag"]
    renamed = client.patch(url, json={"type": "Feature", "properties": {"name": "巴岳山"}},
                           headers={**editor, "If-Match": tag})
    assert renamed.status_code == 200, renamed.text
    assert old_pinyin == place_name_pinyin(old_name)
    assert renamed.json()["properties"]["pinyin"] == place_name_pinyin("巴岳山") != old_pinyin
    summary = client.patch(url, json={"type": "Feature", "properties": {"meaning": "改释义"}},
                           headers={**editor, "If-Match": renamed.headers["etag"]})
    assert summary.json()["properties"]["pinyin"] == place_name_pinyin("巴岳山")
    given = client.patch(url, json={"type": "Feature",
                                    "properties": {"name": "宝顶山", "pinyin": "Baoding Shan"}},
                         headers={**editor, "If-Match": summary.headers["etag"]})
    assert given.json()["properties"]["pinyin"] == "Baoding Shan"
    with edit_engine.connect() as conn:
        stored = conn.execute(text("SELECT pinyin FROM place_names WHERE id = :id"),
                              {"id": fid}).scalar_one()
    assert stored == "Baoding Shan"
