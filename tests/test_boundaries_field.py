"""The boundary field form in headless Chromium: log in, record a finding with a photo
offline, come back online — the record reaches the server exactly once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import Engine, text

from geo_service.access import Principal, Role
from geo_service.auth import users
from geo_service.boundaries import lines, markers
from geo_service.db import migrate
from geo_service.db.engine import make_engine
from geo_service.devserver import running_service
from geo_service.sample import load_admin_areas, load_neighbours
from tests.test_boundaries import png_bytes

REPO = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "界桩-field-pass-2026"
CONDITIONS = ["完好", "损坏", "丢失"]


@pytest.fixture(scope="module")
def field_db(database_factory) -> Iterator[tuple[str, Engine]]:
    """Own database: areas, derived lines, a few illustrative markers and one officer."""
    url = database_factory("field")
    engine = make_engine(url)
    migrate.upgrade(engine)
    load_admin_areas(engine)
    load_neighbours(engine)
    who = Principal("setup", Role.admin)
    lines.derive_and_save(engine, who)
    with engine.begin() as conn:
        markers.sample_markers(conn, who, lines=2, per_line=3)
        line = conn.execute(text(
            "SELECT l.side_a_code, l.side_b_code FROM boundary_lines l JOIN boundary_markers m "
            "ON m.line_id = l.id ORDER BY m.id LIMIT 1")).one()
        # officer_f starts on side b of the first marker's line; officer_g is of side a
        users.add_user(conn, "officer_f", PASSWORD, "boundary_officer",
                       area_code=line.side_b_code)
        users.add_user(conn, "officer_g", PASSWORD, "boundary_officer",
                       area_code=line.side_a_code)
    yield url, engine
    engine.dispose()


@pytest.fixture(scope="module")
def server(field_db, tmp_path_factory) -> Iterator[str]:
    """`geo-service serve` on a free port over the field database."""
    url, _ = field_db
    media = str(tmp_path_factory.mktemp("field_media"))
    log = tmp_path_factory.mktemp("field_server") / "server.log"
    with running_service(url, log=log, GEO_SERVICE_MEDIA_DIR=media) as base:
        yield base


def conn_line(engine: Engine, line_id: int):
    """The boundary line row (its side codes)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT side_a_code, side_b_code FROM boundary_lines "
                                 "WHERE id = :i"), {"i": line_id}).one()


def test_field_form_saves_offline_and_syncs_once(field_db, server, tmp_path):
    _, engine = field_db
    with engine.connect() as conn:
        marker = conn.execute(text(
            "SELECT id, number, line_id, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM boundary_markers ORDER BY id LIMIT 1")).one()
    photo = tmp_path / "界桩.png"
    photo.write_bytes(png_bytes(3))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 412, "height": 915}, locale="zh-CN", is_mobile=True,
            geolocation={"longitude": marker.lon + 0.00002, "latitude": marker.lat},
            permissions=["geolocation"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/boundaries/field/")
        expect(page.locator("#login")).to_be_visible()
        page.fill("input[name=username]", "officer_f")
        page.fill("input[name=password]", PASSWORD)
        page.click("#login-form button")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#who")).to_contain_text("officer_f")
        page.wait_for_function("() => document.querySelectorAll('#line option').length > 60")
        page.select_option("#line", str(marker.line_id))
        page.wait_for_function(
            "() => document.querySelectorAll('#marker option').length > 1")
        page.select_option("#inspection", "new")
        page.fill("#round", "2026-汛后")
        page.fill("#officers-a", "张伟")
        page.fill("#officers-b", "李娜, 王强")
        page.click("#create-inspection")
        expect(page.locator("#status")).to_contain_text("已新建")
        inspection_id = int(page.input_value("#inspection"))
        page.select_option("#marker", str(marker.id))
        page.click("#gps")
        expect(page.locator("#position")).to_contain_text("±")
        page.check("input[name=condition][value=移位]")
        page.set_input_files("#photo", str(photo))
        page.fill("#note", "界桩被推土机推移")
        context.set_offline(True)
        expect(page.locator("#net")).to_have_text("离线")
        page.click("#save")
        expect(page.locator("#pending-count")).to_have_text("1")
        expect(page.locator("#status")).to_contain_text("离线保存")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM inspection_findings WHERE "
                                     "inspection_id = :i"), {"i": inspection_id}
                                ).scalar_one() == 0
        context.set_offline(False)
        expect(page.locator("#pending-count")).to_have_text("0", timeout=15_000)
        expect(page.locator("#findings li.finding")).to_have_count(1)
        page.evaluate("window.fieldForm.sync()")  # a second sync has nothing left to send
        page.wait_for_timeout(300)
        # sign-off from the form: refused in Chinese until the officer is tied to side a
        shown: list[str] = []
        page.on("dialog", lambda dialog: (shown.append(dialog.message), dialog.accept()))
        expect(page.locator("#sign-off")).to_be_visible()
        page.click("#sign-a")
        expect(page.locator("#status")).to_contain_text("只能由该方的界管员签字")
        line = conn_line(engine, marker.line_id)
        with engine.begin() as conn:
            users.set_area(conn, "officer_f", line.side_a_code)
        page.click("#sign-a")
        expect(page.locator("#status")).to_contain_text("已以甲方签字")
        expect(page.locator("#sign-state")).to_contain_text("已签 (officer_f)")
        expect(page.locator("#sign-a")).to_be_disabled()
        # the confirmation showed the content being signed (findings, photos, hash)
        assert "检查结果 1 条" in shown[-1] and "移位" in shown[-1] and "照片 1 张" in shown[-1]
        assert "内容哈希" in shown[-1]
        page.select_option("#inspection", "new")  # a request error reads as Chinese field names
        page.fill("#round", "")
        page.click("#create-inspection")
        expect(page.locator("#status")).to_have_text("新建失败: 填写有误: 轮次不能为空")
        assert errors == []
        browser.close()
    with engine.connect() as conn:
        findings = conn.execute(text(
            "SELECT f.id, f.condition, f.displacement_m, f.created_by, "
            "(SELECT count(*) FROM photo_attachments a WHERE a.finding_id = f.id) AS photos "
            "FROM inspection_findings f WHERE inspection_id = :i"), {"i": inspection_id}).all()
    assert len(findings) == 1
    finding = findings[0]
    assert finding.condition == "移位" and finding.created_by == "officer_f"
    assert finding.photos == 1
    assert 0.5 < finding.displacement_m < 5  # 0.00002° of longitude ≈ 1.9 m here


def test_field_form_works_under_a_reverse_proxy_prefix(field_db):
    """Behind nginx at /geo/ (README), every URL the page uses must stay under /geo/."""
    from html.parser import HTMLParser
    from urllib.parse import urljoin, urlsplit

    from fastapi.testclient import TestClient

    from geo_service.api.app import create_app

    page = "https://gis.example.gov.cn/geo/boundaries/field/"

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.found += [v for k, v in attrs if k in ("src", "href") and v]

    _, engine = field_db
    with TestClient(create_app(engine)) as client:  # as the proxy forwards it: /geo stripped
        moved = client.get("/boundaries/field", follow_redirects=False)
        assert urljoin(page.rstrip("/"), moved.headers["location"]) == page
        index = client.get("/boundaries/field/")
        parser = Links()
        parser.feed(index.text)
        assert len(parser.found) >= 3
        for link in parser.found:
            path = urlsplit(urljoin(page, link)).path
            assert path.startswith("/geo/"), (link, path)
            assert client.get(path.removeprefix("/geo")).status_code == 200, link
    script = (REPO / "web_map" / "field" / "field.js").read_text(encoding="utf-8")
    assert 'new URL("../../", document.baseURI)' in script  # API base from the page's URL
    assert not re.findall(r"""["'`]/(?:auth|boundaries|vendor|photos)""", script)


def _login(page, server: str, who: str) -> None:
    page.goto(f"{server}/boundaries/field/")
    expect(page.locator("#login")).to_be_visible()
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button")
    expect(page.locator("#who")).to_contain_text(who)


def _new_record_for(page, marker, round_: str) -> int:
    """Pick the marker's line, open a new inspection of `round_`, pick the marker (损坏)."""
    page.wait_for_function("() => document.querySelectorAll('#line option').length > 60")
    page.select_option("#line", str(marker.line_id))
    page.wait_for_function("() => document.querySelectorAll('#marker option').length > 1")
    page.select_option("#inspection", "new")
    page.fill("#round", round_)
    page.click("#create-inspection")
    expect(page.locator("#status")).to_contain_text("已新建")
    inspection_id = int(page.input_value("#inspection"))
    page.select_option("#marker", str(marker.id))
    page.check("input[name=condition][value=损坏]")
    return inspection_id


def test_a_draft_made_by_one_officer_is_never_sent_as_another(field_db, server, tmp_path):
    _, engine = field_db
    with engine.connect() as conn:
        marker = conn.execute(text(
            "SELECT id, line_id FROM boundary_markers ORDER BY id OFFSET 1 LIMIT 1")).one()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 412, "height": 915}, locale="zh-CN")
        page = context.new_page()
        _login(page, server, "officer_g")
        inspection_id = _new_record_for(page, marker, "2026-换人")
        context.set_offline(True)
        page.click("#save")
        expect(page.locator("#pending-count")).to_have_text("1")
        context.clear_cookies()          # officer_g's session ends; officer_f takes the phone
        context.set_offline(False)
        _login(page, server, "officer_f")
        expect(page.locator("#pending li.others")).to_contain_text("属于 officer_g")
        page.screenshot(path=str(tmp_path / "others-draft.png"), full_page=True)
        expect(page.locator("#pending-count")).to_have_text("0")
        page.evaluate("window.fieldForm.sync()")
        page.wait_for_timeout(500)
        with engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM inspection_findings WHERE "
                                      "inspection_id = :i"), {"i": inspection_id}).scalar_one()
        assert count == 0                # not stored as officer_f's
        context.clear_cookies()          # officer_g is back: the draft goes as officer_g's
        _login(page, server, "officer_g")
        expect(page.locator("#status")).to_contain_text("已同步 1 条", timeout=15_000)
        expect(page.locator("#pending li")).to_have_count(0)
        browser.close()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT created_by FROM inspection_findings WHERE "
                                 "inspection_id = :i"), {"i": inspection_id}).scalars().all()
    assert rows == ["officer_g"]


def test_a_photo_above_the_limit_is_downscaled_by_the_form(field_db, server, tmp_path):
    import os

    from PIL import Image

    from geo_service.boundaries.photos import MAX_PHOTO_BYTES

    _, engine = field_db
    big = tmp_path / "大照片.png"
    side = 2600  # noise does not compress: about 20 MB as PNG
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(big, compress_level=1)
    assert big.stat().st_size > MAX_PHOTO_BYTES
    with engine.connect() as conn:
        marker = conn.execute(text("SELECT id, line_id FROM boundary_markers ORDER BY id "
                                   "LIMIT 1")).one()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 412, "height": 915}).new_page()
        _login(page, server, "officer_f")
        inspection_id = _new_record_for(page, marker, "2026-大图")
        page.set_input_files("#photo", str(big))
        page.click("#save")
        expect(page.locator("#findings li.finding")).to_have_count(1, timeout=30_000)
        browser.close()
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT p.content_type, p.size_bytes, p.width_px FROM photo_attachments a "
            "JOIN photos p USING (sha256) WHERE a.inspection_id = :i"), {"i": inspection_id}
        ).one()
    assert stored.content_type == "image/jpeg" and stored.size_bytes <= MAX_PHOTO_BYTES
    assert stored.width_px <= side


def _wait_for_offline_shell(page) -> None:
    """The service worker controls the page and has cached the shell."""
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)
    page.wait_for_function("""() => caches.open('geo-field-shell-v1').then(c => c.keys())
        .then(k => k.length >= 5)""", timeout=15_000)


def test_the_form_reopens_offline_and_a_new_inspection_syncs_exactly_once(
        field_db, server, tmp_path):
    _, engine = field_db
    with engine.connect() as conn:
        line_id = conn.execute(text(
            "SELECT line_id FROM boundary_markers GROUP BY line_id HAVING count(*) >= 3 "
            "ORDER BY line_id LIMIT 1")).scalar_one()
        marker_ids = conn.execute(text(
            "SELECT id FROM boundary_markers WHERE line_id = :l ORDER BY id LIMIT 3"),
            {"l": line_id}).scalars().all()
    round_ = "2026-离线山区"
    photo = tmp_path / "山里.png"
    photo.write_bytes(png_bytes(5))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844},
                                      locale="zh-CN", is_mobile=True)
        page = context.new_page()
        errors: list[str] = []
        _login(page, server, "officer_g")
        page.wait_for_function("() => document.querySelectorAll('#line option').length > 60")
        _wait_for_offline_shell(page)
        page.screenshot(path=str(tmp_path / "field-online.png"), full_page=True)

        context.set_offline(True)
        page.close()                                  # the officer closes the form …
        page = context.new_page()                     # … and opens it again in the hills
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server}/boundaries/field/")
        expect(page.locator("#app")).to_be_visible()
        expect(page.locator("#net")).to_have_text("离线")
        expect(page.locator("#who")).to_contain_text("officer_g")
        page.wait_for_function("() => document.querySelectorAll('#line option').length > 60")
        # the network really is gone for the page: a request for fresh data fails
        assert page.evaluate(f"""fetch('{server}/boundaries/lines?probe=1')
            .then(() => 'online', () => 'offline')""") == "offline"
        page.select_option("#line", str(line_id))
        page.wait_for_function("() => document.querySelectorAll('#marker option').length > 3")
        page.select_option("#inspection", "new")
        page.fill("#round", round_)
        page.fill("#officers-a", "张伟")
        page.click("#create-inspection")
        expect(page.locator("#status")).to_contain_text("离线新建")
        assert page.input_value("#inspection").startswith("local-")
        for n, (marker_id, condition) in enumerate(zip(marker_ids, CONDITIONS, strict=True)):
            page.select_option("#marker", str(marker_id))
            page.check(f"input[name=condition][value={condition}]")
            page.fill("#note", f"离线记录 {n + 1}")
            if n == 1:
                page.set_input_files("#photo", str(photo))
            page.click("#save")
            expect(page.locator("#pending-count")).to_have_text(str(n + 2))
        expect(page.locator("#pending")).to_contain_text("等联检记录同步后发送")
        expect(page.locator("#outbox-pill")).to_have_text("待同步 4 条")  # always in view
        page.screenshot(path=str(tmp_path / "field-offline.png"), full_page=True)
        page.screenshot(path=str(tmp_path / "field-offline-phone.png"))  # as the phone shows it
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM inspections WHERE round = :r"),
                                {"r": round_}).scalar_one() == 0

        # the first answer to the new record is lost on the way back: the retry must
        # not create a second record (same client key → the server replays its answer)
        lost: list[str] = []

        def lose_first_answer(route) -> None:
            if not lost:
                route.fetch()                         # the server did the work …
                lost.append(route.request.url)
                route.abort()                         # … but the phone never heard back
            else:
                route.continue_()
        page.route("**/boundaries/inspections", lose_first_answer)
        context.set_offline(False)
        expect(page.locator("#net")).to_have_text("在线")
        page.wait_for_function("() => window.fieldForm.state.syncing === null")
        assert lost, "the new record was sent"
        page.evaluate("window.fieldForm.sync()")
        expect(page.locator("#pending-count")).to_have_text("0", timeout=20_000)
        expect(page.locator("#findings li.finding")).to_have_count(3)
        expect(page.locator("#last-sync")).to_contain_text("北京时间")
        expect(page.locator("#outbox-pill")).to_have_text("无待同步")
        page.evaluate("window.fieldForm.sync()")      # a second sync has nothing to send
        page.wait_for_timeout(500)
        assert errors == []
        browser.close()
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, created_by FROM inspections WHERE round = :r"),
                            {"r": round_}).all()
        assert len(rows) == 1 and rows[0].created_by == "officer_g"
        findings = conn.execute(text(
            "SELECT marker_id, condition FROM inspection_findings WHERE inspection_id = :i "
            "ORDER BY marker_id"), {"i": rows[0].id}).all()
        assert [(f.marker_id, f.condition) for f in findings] == list(
            zip(marker_ids, CONDITIONS, strict=True))
        assert conn.execute(text("SELECT count(*) FROM photo_attachments WHERE "
                                 "inspection_id = :i"), {"i": rows[0].id}).scalar_one() == 1


@pytest.mark.parametrize("phone_zone", ["UTC", "America/Los_Angeles"])
def test_the_inspection_date_is_prefilled_in_beijing_time(field_db, server, phone_zone):
    """2026-11-23 07:30 北京时间 is 2026-11-22 in UTC: the form must say 2026-11-23."""
    from datetime import datetime, timedelta, timezone

    beijing = timezone(timedelta(hours=8))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844},
                                      timezone_id=phone_zone)
        page = context.new_page()
        page.clock.install(time=datetime(2026, 11, 23, 7, 30, tzinfo=beijing))
        _login(page, server, "officer_f")
        assert page.evaluate("new Date().toISOString().slice(0, 10)") == "2026-11-22"
        assert page.input_value("#inspected-on") == "2026-11-23"
        browser.close()


def test_find_a_marker_by_number_and_open_one_from_its_qr_link(field_db, server, tmp_path):
    _, engine = field_db
    with engine.begin() as conn:
        marker = conn.execute(text(
            "UPDATE boundary_markers SET status = '损毁待修' WHERE id = (SELECT max(id) FROM "
            "boundary_markers) RETURNING id, number, line_id")).one()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = context.new_page()
        _login(page, server, "officer_f")
        page.wait_for_function("() => document.querySelectorAll('#line option').length > 60")
        page.fill("#find", marker.number[-4:])          # part of the number
        hit = page.locator("#find-results button", has_text=marker.number)
        expect(hit).to_have_count(1)
        expect(hit).to_contain_text("损毁待修")
        hit.click()
        expect(page.locator("#line")).to_have_value(str(marker.line_id))
        expect(page.locator("#marker")).to_have_value(str(marker.id))
        page.fill("#find", "没有这个编号")
        expect(page.locator("#find-results")).to_contain_text("没有编号含此内容的界桩")
        page.goto(f"{server}/boundaries/field/?marker={marker.id}")   # what a QR label holds
        expect(page.locator("#status")).to_contain_text(f"已打开界桩 {marker.number}")
        expect(page.locator("#marker")).to_have_value(str(marker.id))
        page.screenshot(path=str(tmp_path / "field-qr-opened.png"), full_page=True)
        browser.close()


def test_an_offline_edit_that_meets_another_change_shows_both_and_a_refusal_blocks_nothing(
        field_db, server):
    from geo_service.boundaries import inspections
    from geo_service.boundaries.schemas import FindingPatch

    _, engine = field_db
    with engine.connect() as conn:
        first, second = conn.execute(text(
            "SELECT id, line_id FROM boundary_markers WHERE line_id = (SELECT line_id FROM "
            "boundary_markers ORDER BY id LIMIT 1) ORDER BY id LIMIT 2")).all()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
        _login(page, server, "officer_g")
        inspection_id = _new_record_for(page, first, "2026-冲突")
        page.fill("#note", "桩身裂缝")
        page.click("#save")
        expect(page.locator("#findings li.finding")).to_have_count(1, timeout=15_000)
        context.set_offline(True)
        page.click("#findings li.finding button")           # 修改, offline
        expect(page.locator("#save")).to_contain_text("保存对")
        page.check("input[name=condition][value=丢失]")
        page.fill("#note", "我这边看已丢失")
        page.click("#save")
        expect(page.locator("#pending-count")).to_have_text("1")
        with engine.begin() as conn:                         # meanwhile the other side edits
            record = inspections.get(conn, inspection_id)
            finding_id = record["findings"][0]["id"]
            inspections.update_finding(conn, Principal("chief", Role.admin), inspection_id,
                                       finding_id, FindingPatch(condition="完好",
                                                                note="对方: 已修复"),
                                       record["etag"])
        context.set_offline(False)
        conflict = page.locator("#pending li.conflict")
        expect(conflict).to_contain_text("他人已改为: 完好 — 对方: 已修复", timeout=15_000)
        expect(conflict).to_contain_text("我的修改: 丢失 — 我这边看已丢失")
        conflict.get_by_role("button", name="用我的修改覆盖").click()
        expect(page.locator("#pending-count")).to_have_text("0", timeout=15_000)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT condition, note FROM inspection_findings WHERE "
                                     "id = :f"), {"f": finding_id}).one() == (
                "丢失", "我这边看已丢失")
        # a refused draft (a second finding for the same marker) waits with its reason …
        page.select_option("#marker", str(first.id))
        page.click("#save")
        refused = page.locator("#pending li.failed")
        expect(refused).to_contain_text("未被接受", timeout=15_000)
        expect(refused.get_by_role("button", name="修改")).to_be_visible()
        # … and blocks neither another finding nor the signature
        page.select_option("#marker", str(second.id))
        page.click("#save")
        expect(page.locator("#findings li.finding")).to_have_count(2, timeout=15_000)
        page.click("#sign-a")
        expect(page.locator("#status")).to_contain_text("已以甲方签字")
        assert "检查结果 2 条" in dialogs[-1]
        refused.get_by_role("button", name="删除此条").click()
        expect(page.locator("#pending li")).to_have_count(0)
        browser.close()
