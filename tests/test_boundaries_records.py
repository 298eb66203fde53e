"""Joint-inspection records that hold as legal records: signatures bind content, signed-off
records are snapshots, the database writes history, only the parties write (real PostGIS)."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import segno
from PIL import Image
from sqlalchemy import text

from geo_service.auth import users
from geo_service.boundaries import content
from geo_service.crs import transformer
from tests import test_boundaries as base
from tests.test_boundaries import (
    ROLES,
    as_,
    new_inspection,
    new_marker,
    png_bytes,
    point_on,
    sign,
)

REPO = Path(__file__).resolve().parents[1]

bengine = base.bengine  # the module's own database and app, as in test_boundaries
client = base.client


def _raw(bengine) -> str:
    return bengine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _finding(client, inspection_id: int, marker_id: int, user: str = "officer_a", **body):
    return client.post(f"/boundaries/inspections/{inspection_id}/findings", headers=as_(user),
                       json={"marker_id": marker_id, **body})


def _moved(marker: dict, metres: float) -> tuple[float, float]:
    """A position `metres` north-east of the marker (on the Gauss-Krüger plane)."""
    x, y = transformer(4490, 4544).transform(marker["lon"], marker["lat"])
    return transformer(4544, 4490).transform(x + metres * 0.6, y + metres * 0.8)


def _signed_off(client, bengine, number: str, round_: str) -> tuple[dict, dict]:
    """A marker found moved 3 m and a record both sides signed."""
    marker = new_marker(client, bengine, number, 0.45)
    inspection = new_inspection(client, bengine, round_)
    lon, lat = _moved(marker, 3.0)
    saved = _finding(client, inspection["id"], marker["id"], "officer_b", condition="移位",
                     measured_lon=lon, measured_lat=lat, measured_accuracy_m=4.0,
                     note="被挖机碰歪")
    assert saved.status_code == 201, saved.text
    assert sign(client, inspection["id"], "officer_a", "a").status_code == 200
    done = sign(client, inspection["id"], "officer_b", "b")
    assert done.status_code == 200 and done.json()["state"] == "signed_off", done.text
    return marker, done.json()


# --- 1. a signature binds content ---------------------------------------------------------

def test_after_side_a_signs_side_b_cannot_change_what_a_signed(client, bengine):
    marker = new_marker(client, bengine, "JZ-BIND-1", 0.55)
    inspection = new_inspection(client, bengine, "bind")
    url = f"/boundaries/inspections/{inspection['id']}"
    lon, lat = _moved(marker, 3.002)
    assert _finding(client, inspection["id"], marker["id"], condition="移位", measured_lon=lon,
                    measured_lat=lat, measured_accuracy_m=3).status_code == 201
    shown = client.get(url, headers=as_("officer_a")).json()
    assert shown["content"]["findings"][0]["condition"] == "移位"
    assert shown["content_hash"] == content.content_hash(shown["content"])
    # a change between reading and signing: the hash A was shown no longer matches → 412
    patched = client.patch(url, headers=as_("officer_b", **{"If-Match": shown["etag"]}),
                           json={"summary": "沿线良好"})
    assert patched.status_code == 200
    stale = sign(client, inspection["id"], "officer_a", "a", shown["content_hash"])
    assert stale.status_code == 412 and "content changed" in stale.text
    signed = sign(client, inspection["id"], "officer_a", "a")
    assert signed.status_code == 200 and signed.json()["state"] == "partly_signed"
    record = signed.json()
    finding_id = record["findings"][0]["id"]
    # side B tries what the issue describes: 移位 3.002 m → 完好, and a new summary
    for attempt in (
        client.patch(f"{url}/findings/{finding_id}",
                     headers=as_("officer_b", **{"If-Match": record["etag"]}),
                     json={"condition": "完好", "note": "改为完好"}),
        client.patch(url, headers=as_("officer_b", **{"If-Match": record["etag"]}),
                     json={"summary": "改"}),
        client.post(f"{url}/notes", headers=as_("officer_b"),
                    json={"category": "其他", "note": "补充"}),
        client.post(f"{url}/photos", headers=as_("officer_b"),
                    files={"file": ("p.png", png_bytes(5), "image/png")}),
    ):
        assert attempt.status_code == 409, attempt.text
        assert "withdrawn" in attempt.json()["detail"]
    with psycopg.connect(_raw(bengine)) as conn:  # …and the database refuses it too
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("UPDATE inspection_findings SET condition = '完好' WHERE id = %s",
                         (finding_id,))
        conn.rollback()
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("UPDATE inspections SET summary = 'x' WHERE id = %s",
                         (inspection["id"],))
    after = client.get(url, headers=as_("planner")).json()
    assert after["findings"][0]["condition"] == "移位" and after["summary"] == "沿线良好"
    assert after["content_hash"] == record["content_hash"] == after["side_a_signed_hash"]
    # side B sends it back with a reason: a draft again, A's signature gone, edits allowed
    back = client.post(f"{url}/return", headers=as_("officer_b", **{"If-Match": after["etag"]}),
                       json={"reason": "3 号桩复测后再签"})
    assert back.status_code == 200, back.text
    body = back.json()
    assert body["state"] == "draft" and body["side_a_signed_by"] is None
    assert body["returned_reason"] == "3 号桩复测后再签" and body["returned_by"] == "officer_b"
    changed = client.patch(url, headers=as_("officer_b", **{"If-Match": body["etag"]}),
                           json={"summary": "复测"})
    assert changed.status_code == 200


# --- 2. signed-off records are snapshots ----------------------------------------------------

def _pdf_text(client, bengine, inspection_id: int, tmp_path: Path, name: str) -> str:
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=_raw(bengine),
               GEO_SERVICE_PUBLIC_URL="https://gis.example.gov.cn/geo")
    env["GEO_SERVICE_MEDIA_DIR"] = str(client.app.state.settings.data.media_dir)
    pdf = tmp_path / f"{name}.pdf"
    done = subprocess.run([sys.executable, "-m", "geo_service.cli", "boundary", "report",
                           "--inspection", str(inspection_id), "--output", str(pdf)],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return re.sub(r"生成时间 \d{4}-\d\d-\d\d \d\d:\d\d", "生成时间 …", out)


def test_signed_off_record_and_its_pdf_stay_the_same_when_markers_change(
        client, bengine, tmp_path):
    marker, record = _signed_off(client, bengine, "JZ-SNAP-1", "snapshot")
    url = f"/boundaries/inspections/{record['id']}"
    before_json = client.get(url, headers=as_("planner")).json()
    before_pdf = _pdf_text(client, bengine, record["id"], tmp_path, "before")
    assert "JZ-SNAP-1" in before_pdf and "移位" in before_pdf
    # rename, retype and move the marker; add a marker to the line
    lon, lat = point_on(bengine, marker["line_id"], 0.46)
    current = client.get(f"/boundaries/markers/{marker['id']}", headers=as_("planner"))
    moved = client.patch(f"/boundaries/markers/{marker['id']}",
                         headers=as_("officer_a", **{"If-Match": current.headers["etag"]}),
                         json={"number": "JZ-SNAP-1-改", "marker_type": "三面", "lon": lon,
                               "lat": lat})
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == before_json["findings"][0]["marker_version"] + 1
    new_marker(client, bengine, "JZ-SNAP-NEW", 0.47)
    after_json = client.get(url, headers=as_("planner")).json()
    after_pdf = _pdf_text(client, bengine, record["id"], tmp_path, "after")
    assert after_json == before_json
    assert after_pdf == before_pdf
    assert "JZ-SNAP-1-改" not in after_pdf and "JZ-SNAP-NEW" not in after_pdf
    beside = client.get(f"{url}/markers-now", headers=as_("planner")).json()["markers"]
    by_id = {m["marker_id"]: m for m in beside}
    assert by_id[marker["id"]]["changed"] is True
    assert by_id[marker["id"]]["in_record"]["number"] == "JZ-SNAP-1"
    assert by_id[marker["id"]]["now"]["number"] == "JZ-SNAP-1-改"
    added = [m for m in beside if m["in_record"] is None]
    assert [m["now"]["number"] for m in added] == ["JZ-SNAP-NEW"]
    # the current state is kept beside it: the marker's versions
    history = client.get(f"/boundaries/markers/{marker['id']}/versions",
                         headers=as_("planner")).json()["versions"]
    assert [v["data"]["number"] for v in history][-2:] == ["JZ-SNAP-1", "JZ-SNAP-1-改"]


# --- 3. the database keeps the history ------------------------------------------------------

def test_an_update_as_the_application_role_leaves_history_it_cannot_erase(client, bengine):
    marker = new_marker(client, bengine, "JZ-HIST-1", 0.5)
    with psycopg.connect(_raw(bengine)) as conn:
        conn.execute("SET ROLE geo_service_app")
        assert conn.execute("SELECT current_user").fetchone()[0] == "geo_service_app"
        conn.execute("UPDATE boundary_markers SET note = 'SQL 改' WHERE id = %s",
                     (marker["id"],))
        row = conn.execute(
            "SELECT operation, old_data->>'note', new_data->>'note', db_role FROM "
            "boundary_history WHERE table_name = 'boundary_markers' AND record_id = %s "
            "ORDER BY id DESC LIMIT 1", (str(marker["id"]),)).fetchone()
        assert row == ("UPDATE", None, "SQL 改", "geo_service_app")
        conn.commit()
        for statement in ("UPDATE boundary_history SET db_role = 'x'",
                          "DELETE FROM boundary_history",
                          "TRUNCATE boundary_history",
                          "INSERT INTO boundary_history (table_name, record_id, operation, "
                          "db_role) VALUES ('boundary_markers', '1', 'INSERT', 'x')",
                          "DELETE FROM boundary_marker_versions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
            conn.execute("SET ROLE geo_service_app")
    # every boundary table has its history trigger
    with bengine.connect() as conn:
        tables = set(conn.execute(text(
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE action_statement LIKE '%boundary_history_write%'")).scalars())
    assert tables >= {"boundary_markers", "marker_references", "boundary_lines", "photos",
                      "disputes", "dispute_events", "officer_areas", "inspections",
                      "inspection_findings", "inspection_segment_notes", "photo_attachments"}
    # officers read it (not only admins), with the logged-in user for API changes
    seen = client.get(f"/boundaries/history?table=boundary_markers&record_id={marker['id']}",
                      headers=as_("officer_b"))
    assert seen.status_code == 200
    entries = seen.json()["history"]
    assert [e["operation"] for e in entries] == ["INSERT", "UPDATE"]
    assert entries[0]["app_user"] == "officer_a" and entries[1]["db_role"] == "geo_service_app"
    assert client.get("/boundaries/history?table=boundary_markers").status_code == 401


# --- 4. only the parties write --------------------------------------------------------------

def test_a_third_county_officer_gets_403_on_writes_but_still_reads(client, bengine):
    marker = new_marker(client, bengine, "JZ-PARTY-1", 0.52)
    inspection = new_inspection(client, bengine, "parties")
    url = f"/boundaries/inspections/{inspection['id']}"
    with bengine.begin() as conn:
        tongnan = conn.execute(text("SELECT code FROM neighbour_areas WHERE name = '潼南区'")
                               ).scalar_one()
        if "officer_tn" not in ROLES:
            users.add_user(conn, "officer_tn", "a-long-password", "boundary_officer",
                           area_code=tongnan)
    ROLES["officer_tn"] = ROLES["officer_a"]
    etag = client.get(url, headers=as_("officer_tn")).headers["etag"]
    sha = client.post("/boundaries/photos", headers=as_("officer_tn"),
                      files={"file": ("p.png", png_bytes(9), "image/png")}).json()["sha256"]
    marker_tag = client.get(f"/boundaries/markers/{marker['id']}",
                            headers=as_("officer_tn")).headers["etag"]
    attempts = {
        "note": client.post(f"{url}/notes", headers=as_("officer_tn"),
                            json={"category": "建筑", "note": "新建房屋"}),
        "finding": _finding(client, inspection["id"], marker["id"], "officer_tn",
                            condition="完好"),
        "photo": client.post(f"{url}/photos", headers=as_("officer_tn"),
                             files={"file": ("p.png", png_bytes(9), "image/png")}),
        "header": client.patch(url, headers=as_("officer_tn", **{"If-Match": etag}),
                               json={"summary": "潼南改"}),
        "marker": client.patch(f"/boundaries/markers/{marker['id']}",
                               headers=as_("officer_tn", **{"If-Match": marker_tag}),
                               json={"note": "潼南改"}),
        "marker photo": client.post(f"/boundaries/markers/{marker['id']}/photos",
                                    headers=as_("officer_tn"),
                                    files={"file": ("p.png", png_bytes(9), "image/png")}),
        "new inspection": client.post("/boundaries/inspections", headers=as_("officer_tn"),
                                      json={"line_id": inspection["line_id"], "round": "tn",
                                            "inspected_on": "2026-03-15"}),
        "derive": client.post("/boundaries/lines/derive", headers=as_("officer_tn")),
    }
    for what, response in attempts.items():
        assert response.status_code == 403, (what, response.text)
    assert tongnan in attempts["note"].json()["detail"]
    assert sha  # uploading an unattached photo is fine; attaching it is not
    assert _finding(client, inspection["id"], marker["id"], "officer_a",
                    condition="完好", photos=[sha]).status_code == 201
    assert client.get(url, headers=as_("officer_tn")).status_code == 200  # reading stays
    assert client.get(url, headers=as_("planner")).json()["summary"] is None


# --- 5. corrections and reports by id -------------------------------------------------------

def test_one_correction_at_a_time_carrying_officers_and_summary_and_reports_by_id(
        client, bengine, tmp_path):
    _, record = _signed_off(client, bengine, "JZ-CORR-1", "corr")
    body = {"line_id": record["line_id"], "round": "corr", "inspected_on": "2026-03-20",
            "corrects_id": record["id"]}
    first = client.post("/boundaries/inspections", headers=as_("officer_a"), json=body)
    assert first.status_code == 201, first.text
    draft = first.json()
    assert draft["side_a_officers"] == ["张伟"] and draft["side_b_officers"] == ["李娜"]
    assert [f["condition"] for f in draft["findings"]] == ["移位"]
    second = client.post("/boundaries/inspections", headers=as_("officer_b"), json=body)
    assert second.status_code == 409 and f"#{draft['id']}" in second.text
    # the round's report is its latest signed-off record, never the draft correction
    round_page = client.get(f"/boundaries/lines/{record['line_id']}/report?round=corr",
                            headers=as_("planner")).text
    assert f"#{record['id']}" in round_page and record["document_number"] in round_page
    assert draft["document_number"] not in round_page
    by_id = client.get(f"/boundaries/inspections/{draft['id']}/report", headers=as_("planner"))
    assert by_id.status_code == 200 and draft["document_number"] in by_id.text
    assert "草稿" in by_id.text
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=_raw(bengine))
    cli = subprocess.run([sys.executable, "-m", "geo_service.cli", "boundary", "report",
                          "--inspection", str(draft["id"]), "--output",
                          str(tmp_path / "r.html")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert draft["document_number"] in (tmp_path / "r.html").read_text(encoding="utf-8")


# --- 6. the formal report ---------------------------------------------------------------------

def test_formal_pdf_is_chinese_with_full_names_pages_hash_and_qr(client, bengine, tmp_path):
    with bengine.begin() as conn:
        users.set_full_name(conn, "officer_a", "周建国")
        users.set_full_name(conn, "officer_b", "刘晓梅")
    _, record = _signed_off(client, bengine, "JZ-FORMAL-0001", "formal")
    text_ = _pdf_text(client, bengine, record["id"], tmp_path, "formal")
    for expected in ("行政区域界线联合检查记录", record["document_number"], "周建国", "刘晓梅",
                     "第1页共", "界桩编号", "方位物", "手写签字", "盖章",
                     record["content_hash"][:32], "±4", "3.00", "北京时间", "JZ-FORMAL-0001"):
        assert expected in text_, expected
    for english in ("signed off", "county", "draft", "ILLUSTRATIVE", "Displacements"):
        assert english not in text_, english
    html = client.get(f"/boundaries/inspections/{record['id']}/report",
                      headers=as_("planner")).text
    url = (f"http://testserver/boundaries/inspections/{record['id']}/verify"
           f"?hash={record['content_hash']}")
    assert segno.make(url, error="m").svg_inline(scale=2, dark="#000", light=None) in html
    assert "<td class='no'>JZ-FORMAL-0001</td>" in html  # never broken across lines
    ok = client.get(f"/boundaries/inspections/{record['id']}/verify",
                    params={"hash": record["content_hash"]}, headers=as_("planner")).json()
    bad = client.get(f"/boundaries/inspections/{record['id']}/verify",
                     params={"hash": "0" * 64}, headers=as_("planner"),
                     ).json()
    assert ok["matches"] is True and bad["matches"] is False and "不一致" in bad["message"]
    page = client.get(f"/boundaries/inspections/{record['id']}/verify",
                      params={"hash": record["content_hash"]},
                      headers=as_("planner", Accept="text/html"))
    assert "一致" in page.text and page.headers["content-type"].startswith("text/html")


# --- 7. field data you can trust ------------------------------------------------------------

def test_inconsistent_findings_are_refused_with_the_reason(client, bengine):
    marker = new_marker(client, bengine, "JZ-CONS-1", 0.58)
    inspection = new_inspection(client, bengine, "consistent")
    near, far = _moved(marker, 4.0), _moved(marker, 1500.0)
    cases = [
        ({"condition": "移位"}, "needs a measured position"),
        ({"condition": "损坏", "measured_lon": far[0], "measured_lat": far[1]}, "1000 m"),
        ({"condition": "完好", "measured_lon": near[0], "measured_lat": near[1],
          "measured_accuracy_m": 2}, "choose 移位"),
    ]
    for body, reason in cases:
        refused = _finding(client, inspection["id"], marker["id"], **body)
        assert refused.status_code == 422 and reason in refused.text, (body, refused.text)
    explained = _finding(client, inspection["id"], marker["id"], condition="完好",
                         measured_lon=near[0], measured_lat=near[1], measured_accuracy_m=2,
                         note="树下信号差, 桩体完好未动")
    assert explained.status_code == 201, explained.text
    finding = explained.json()["findings"][0]
    assert finding["measured_accuracy_m"] == 2 and abs(finding["displacement_m"] - 4) < 0.1


def _jpeg_with_exif() -> bytes:
    image = Image.new("RGB", (64, 48), (120, 160, 90))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:03:15 10:20:30"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (29.0, 42.0, 36.0), 3: "E", 4: (105.0, 43.0, 12.0)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def test_photos_are_decoded_polyglots_refused_exif_kept(client, bengine):
    html = b"<html><script>alert(1)</script></html>"
    for name, data in (("header.png", b"\x89PNG\r\n\x1a\n" + html),
                       ("header.jpg", b"\xff\xd8\xff\xe0" + html),
                       ("glued.png", png_bytes(11) + html),
                       ("glued.jpg", _jpeg_with_exif() + html)):
        refused = client.post("/boundaries/photos", headers=as_("officer_a"),
                              files={"file": (name, data, "image/png")})
        assert refused.status_code == 415, (name, refused.text)
    stored = client.post("/boundaries/photos", headers=as_("officer_a"),
                         files={"file": ("exif.jpg", _jpeg_with_exif(), "image/jpeg")})
    assert stored.status_code == 201, stored.text
    body = stored.json()
    assert body["width_px"] == 64 and body["taken_at"].startswith("2026-03-15T10:20:30+08")
    assert body["taken_lat"] == pytest.approx(29.71, abs=1e-6)
    assert body["taken_lon"] == pytest.approx(105.72, abs=1e-6)


def test_one_photo_size_limit_in_server_readme_and_form():
    from geo_service.boundaries.photos import MAX_PHOTO_MB

    script = (REPO / "web_map" / "field" / "field.js").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"const MAX_PHOTO_MB = {MAX_PHOTO_MB};" in script
    assert f"≤ {MAX_PHOTO_MB} MB" in readme


def test_marker_status_and_latest_condition_from_signed_off_records(client, bengine):
    from geo_service.boundaries import registry

    marker, _ = _signed_off(client, bengine, "JZ-STATUS-1", "status-round")
    url = f"/boundaries/markers/{marker['id']}"
    shown = client.get(url, headers=as_("planner")).json()
    assert shown["status"] == "在用"
    assert shown["latest_condition"] == "移位" and shown["latest_inspected_on"] == "2026-03-15"
    draft = new_inspection(client, bengine, "status-draft")     # a draft does not count
    assert _finding(client, draft["id"], marker["id"], condition="完好").status_code == 201
    assert client.get(url, headers=as_("planner")).json()["latest_condition"] == "移位"
    bad = client.patch(url, headers=as_("officer_a", **{"If-Match": shown["etag"]}),
                       json={"status": "坏了"})
    assert bad.status_code == 422
    changed = client.patch(url, headers=as_("officer_a", **{"If-Match": shown["etag"]}),
                           json={"status": "损毁待修"})
    assert changed.status_code == 200 and changed.json()["status"] == "损毁待修"
    with bengine.connect() as conn:
        row = next(r for r in registry.registry_rows(conn) if r["界桩编号"] == "JZ-STATUS-1")
    assert (row["状态"], row["最新状况"], row["检查日期"]) == ("损毁待修", "移位", "2026-03-15")
