"""The gazetteer's search index stays in step with the layers; census export/import; the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.api.app import create_app
from geo_service.db import migrate
from geo_service.db.engine import make_engine
from geo_service.gazetteer.census import CENSUS_COLUMNS, export_rows, write_xlsx
from geo_service.gazetteer.index import grams, rebuild_search_index, refresh_search_index
from geo_service.gazetteer.pinyin import index_keys, search_keys
from geo_service.gazetteer.search import SearchQuery, search
from geo_service.ingest.loader import load_file

STAFF = Principal("editor", Role.data_editor)
COMPARED = [c for _, c in CENSUS_COLUMNS if c not in {"lon", "lat", "wkt"}]


@pytest.fixture(scope="module")
def own_engine(database_factory) -> Engine:
    """A writable database with the sample (the shared sample DB is read-only)."""
    from geo_service.sample import load_sample

    engine = make_engine(database_factory("gazetteer"))
    migrate.upgrade(engine)
    load_sample(engine)
    yield engine
    engine.dispose()


def names(engine: Engine, q: str, who: Principal = ANONYMOUS, **kw) -> list[str]:
    return [r["name"] for r in search(engine, SearchQuery(q, limit=50, **kw), who)["results"]]


def index_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT source_table, source_id, term, term_type, pinyin_full, pinyin_initials, "
            "importance, township_code, is_public FROM place_search ORDER BY 1, 2, 3, 4")).all()


def test_loaded_sample_is_fully_indexed(own_engine):
    with own_engine.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar()
        counts = dict(conn.execute(text(
            "SELECT source_table, count(DISTINCT source_id) FROM place_search GROUP BY 1")).all())
        layer_counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                        for t in counts}
        keys = conn.execute(text(
            "SELECT pinyin_full, pinyin_initials, importance FROM place_search "
            "WHERE term = '宝顶山'")).one()
    assert pending == 0 and counts == layer_counts and len(counts) == 4
    assert tuple(keys) == ("baodingshan", "bds", 0)
    before = index_rows(own_engine)
    with own_engine.begin() as conn:  # a full rebuild derives the same rows
        rebuild_search_index(conn)
    assert index_rows(own_engine) == before


def test_fast_index_rows_equal_the_plain_derivation(own_engine):
    """Every index row of the sample: keys as search_keys gives them (not the cached fast
    path), grams of the term, and name, visibility and geometry of the record itself."""
    with own_engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.source_table, s.term, s.term_type, s.pinyin_full, s.pinyin_initials,"
            " s.grams, s.name, s.is_public, ST_AsEWKB(s.geom) AS geom FROM place_search s"
            " ORDER BY s.id")).all()
        records = {}
        for table in ("place_names", "eldercare_sites", "funeral_sites", "child_sites"):
            for r in conn.execute(text(
                    f"SELECT id, name, is_public, ST_AsEWKB(geom) FROM {table}")).all():
                records[(table, r[0])] = (r[1], r[2], bytes(r[3]))
        ids = conn.execute(text("SELECT source_table, source_id FROM place_search"
                                " ORDER BY id")).all()
    assert len(rows) > 500
    for row, (table, source_id) in zip(rows, ids, strict=True):
        keys = search_keys(row.term)
        expected = ((None, None) if row.term_type == "address" or not keys["full"]
                    or keys["full"] == row.term.lower() else (keys["full"], keys["initials"]))
        assert (row.pinyin_full, row.pinyin_initials) == expected, row.term
        assert index_keys(row.term) == (keys["full"], keys["initials"]), row.term
        assert row.grams == grams(row.term)
        assert (row.name, row.is_public, bytes(row.geom)) == records[(table, source_id)]


def test_edits_are_followed(own_engine):
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE place_names SET name = '玉皇山', "
                          "aliases = '[{\"name\": \"玉皇顶\", \"type\": \"former\", "
                          "\"to_year\": 1950}]' WHERE name = '玉龙山'"))
    assert names(own_engine, "玉皇山")[0] == "玉皇山"
    assert "玉龙山" not in names(own_engine, "玉龙山")
    assert names(own_engine, "yhs")[0] == "玉皇山"
    assert names(own_engine, "玉皇顶")[0] == "玉皇山"
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE place_names SET is_public = false WHERE name = '玉皇山'"))
    assert "玉皇山" not in names(own_engine, "玉皇山")
    assert names(own_engine, "玉皇山", STAFF)[0] == "玉皇山"
    with own_engine.begin() as conn:
        conn.execute(text("DELETE FROM place_names WHERE name = '玉皇山'"))
        left = conn.execute(text(
            "SELECT count(*) FROM place_search WHERE name = '玉皇山'")).scalar()
    assert left == 0 and "玉皇山" not in names(own_engine, "玉皇山", STAFF)


def test_grams_with_quotes_braces_and_backslashes_are_stored_whole(own_engine):
    """Grams travel to the index as quoted array text: awkward characters come back intact."""
    odd = '幸福"院\\{东,区} 1'
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET address = :a WHERE id = "
                          "(SELECT min(id) FROM eldercare_sites)"), {"a": odd})
        refresh_search_index(conn)
        stored = conn.execute(text("SELECT term, grams FROM place_search "
                                   "WHERE term_type = 'address' AND term = :a"), {"a": odd}).one()
    assert stored.grams == grams(odd) and '"' in stored.grams and "\\" in stored.grams


def test_loads_refresh_the_index(own_engine, tmp_path):
    csv = tmp_path / "sites.csv"
    csv.write_text("编号,名称,类型,地址,经度,纬度\n"
                   "T-1,棠香街道测试儿童之家,儿童之家,大足区棠香街道二环北路1号,105.75,29.72\n",
                   encoding="utf-8")
    report = load_file(own_engine, "child_sites", csv)
    with own_engine.connect() as conn:
        pending = conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar()
    assert pending == 0 and report.indexed == 1  # indexed right after the load committed
    assert names(own_engine, "tangxiangjiedaoce", types=("facility",))[0] == "棠香街道测试儿童之家"
    assert names(own_engine, "二环北路1号", types=("facility",)) == ["棠香街道测试儿童之家"]
    assert "棠香街道测试儿童之家" not in names(own_engine, "棠香街道测试儿童之家")  # places only


def test_truncate_clears_the_layer_from_the_index(own_engine):
    count = text("SELECT count(*) FROM place_search WHERE source_table = 'funeral_sites'")
    with own_engine.connect() as conn:
        transaction = conn.begin()
        assert conn.execute(count).scalar() > 0
        conn.execute(text("TRUNCATE funeral_sites"))
        assert conn.execute(count).scalar() == 0
        transaction.rollback()  # the shared module database keeps its funeral sites


def test_census_export_round_trips_through_the_loader(sample_engine, own_engine, tmp_path):
    out = tmp_path / "地名.xlsx"
    rows = export_rows(sample_engine)
    assert write_xlsx(rows, out) == len(rows) == 345
    sheet = openpyxl.load_workbook(out).active
    headers = [c.value for c in sheet[1]]
    assert headers[:11] == ["编号", "标准名称", "罗马字母拼写", "地名代码", "地名类别", "类别代码",
                            "所在行政区划代码", "含义", "来历", "历史沿革", "曾用名"]
    with own_engine.begin() as conn:
        conn.execute(text("TRUNCATE place_names RESTART IDENTITY"))
    report = load_file(own_engine, "place_names", out)
    assert report.inserted == 345 and not report.skipped
    key = ", ".join(COMPARED)
    query = text(f"SELECT {key}, ST_AsText(geom) FROM place_names ORDER BY external_id")
    with sample_engine.connect() as a, own_engine.connect() as b:
        original, reloaded = a.execute(query).all(), b.execute(query).all()
    assert reloaded == original
    assert names(own_engine, "邮亭铺")[:2] == ["邮亭铺", "邮亭镇"]  # former name re-indexed
    again = load_file(own_engine, "place_names", out)
    assert again.unchanged == 345


def test_http_export_is_public_only(own_engine):
    with own_engine.begin() as conn:
        conn.execute(text("UPDATE place_names SET is_public = false WHERE name = '北山'"))
    with TestClient(create_app(make_engine(own_engine.url.render_as_string(False)))) as client:
        response = client.get("/places/export.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"gz_{os.getpid()}.xlsx"
    path.write_bytes(response.content)
    try:
        values = [row[1] for row in openpyxl.load_workbook(path).active.iter_rows(
            min_row=2, values_only=True)]
    finally:
        path.unlink()
    assert "北山" not in values and "宝顶山" in values
    assert "北山" in [r["name"] for r in export_rows(own_engine, STAFF)]


def test_cli_search_reverse_hierarchy_export(sample_url, tmp_path):
    env = dict(os.environ)
    env["GEO_SERVICE_DATABASE_URL"] = sample_url.replace("postgresql+psycopg", "postgresql")
    script = (
        "import sys; from geo_service.cli import main; "
        "sys.argv = ['geo-service'] + sys.argv[1:]; main()"
    )

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", script, *args], env=env,
                              capture_output=True, text=True, timeout=120)

    found = run("places", "search", "bds", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["results"][0]["name"] == "宝顶山"
    table = run("places", "search", "邮亭铺")
    assert "邮亭铺是邮亭镇的曾用名" in table.stdout
    bad = run("places", "search", "宝顶", "--types", "people")
    assert bad.returncode == 1 and "types" in bad.stderr
    outside = run("places", "reverse", "106.0", "29.5")
    assert outside.returncode == 1 and "outside 大足区" in outside.stderr
    tree = run("places", "hierarchy", "宝顶镇", "--json")
    assert json.loads(tree.stdout)["code"] == "500111102000"
    target = tmp_path / "out.xlsx"
    exported = run("places", "export", str(target), "--public")
    assert exported.returncode == 0 and target.exists() and "place names" in exported.stdout
    again = run("places", "import", str(target))  # the same as `load place_names FILE`
    assert again.returncode == 0, again.stderr
    assert "新增 0，更新 0" in again.stdout  # the export re-imports unchanged


def _full_index(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT source_table, source_id, name, term, term_type, from_year, to_year, "
            "pinyin_full, pinyin_initials, grams, category, category_code, importance, "
            "township_code, is_public, ST_AsText(geom) FROM place_search "
            "ORDER BY source_table, source_id, id")).all()


def test_a_pipelined_refresh_over_many_groups_equals_one_group(own_engine, monkeypatch):
    """Small batches (many groups, several tables per batch, each group's insert running
    while the next group's pinyin is derived) index exactly what one big batch does."""
    import geo_service.gazetteer.index as index

    with own_engine.begin() as conn:
        queued = rebuild_search_index(conn)
    whole = _full_index(own_engine)
    monkeypatch.setattr(index, "_BATCH", 7)
    with own_engine.begin() as conn:
        for table in index.INDEXED_TABLES:
            conn.execute(text(f"INSERT INTO place_search_pending (source_table, source_id) "
                              f"SELECT '{table}', id FROM {table}"))
        conn.execute(text("INSERT INTO place_search_pending (source_table, source_id) "
                          "VALUES ('eldercare_sites', 987654321)"))  # a record since deleted
        assert refresh_search_index(conn) == queued + 1
    assert _full_index(own_engine) == whole and len(whole) > 7 * 4


def test_an_error_while_indexing_in_the_background_reaches_the_caller(own_engine, monkeypatch):
    import geo_service.gazetteer.index as index

    def broken(_conn: object, _table: str) -> None:
        raise RuntimeError("index insert failed")

    monkeypatch.setattr(index, "_insert_staged", broken)
    with pytest.raises(RuntimeError, match="index insert failed"), own_engine.begin() as conn:
        conn.execute(text("UPDATE eldercare_sites SET name = name || '甲' "
                          "WHERE id = (SELECT min(id) FROM eldercare_sites)"))
        refresh_search_index(conn)
    with own_engine.connect() as conn:  # rolled back with the change: nothing half-indexed
        assert conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar() == 0


def test_a_load_commits_before_its_index_and_is_never_stale_meanwhile(own_engine, tmp_path,
                                                                     monkeypatch):
    """The load's own transaction removes the old index rows; the new ones follow it. Until
    they do, the record is missing from searches (never found under its old name), and a
    search indexes a few queued records itself."""
    import geo_service.ingest.loader as loader

    csv = tmp_path / "renamed.csv"
    csv.write_text("编号,名称,类型,经度,纬度\n"
                   "R-1,棠香街道旧名儿童之家,儿童之家,105.75,29.72\n", encoding="utf-8")
    load_file(own_engine, "child_sites", csv)
    assert names(own_engine, "棠香街道旧名儿童之家", types=("facility",))
    monkeypatch.setattr(loader, "index_loaded", lambda *_a, **_k: (0, 0.0))  # interrupted
    csv.write_text(csv.read_text(encoding="utf-8").replace("旧名", "新名"), encoding="utf-8")
    load_file(own_engine, "child_sites", csv)
    with own_engine.connect() as conn:
        stale = conn.execute(text(
            "SELECT count(*) FROM place_search WHERE term = '棠香街道旧名儿童之家'")).scalar()
        queued = conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar()
    assert stale == 0 and queued == 1
    found = names(own_engine, "棠香街道新名儿童之家", types=("facility",))
    assert found[0] == "棠香街道新名儿童之家" and "棠香街道旧名儿童之家" not in found


def test_a_search_indexes_at_most_its_share_of_a_big_queue(own_engine, monkeypatch):
    """A search does not take over a load's backlog: it indexes SEARCH_REFRESH_LIMIT records."""
    import geo_service.gazetteer.index as index

    monkeypatch.setattr(index, "_BATCH", 4)  # several batches within the share
    with own_engine.begin() as conn:
        conn.execute(text("INSERT INTO place_search_pending (source_table, source_id) "
                          "SELECT 'place_names', id FROM place_names"))
        queued = conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar()
        assert queued > 10
        assert refresh_search_index(conn, limit=10) == 10
        assert conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar() \
            == queued - 10
    names(own_engine, "宝顶山")
    with own_engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM place_search_pending")).scalar()
    assert left == max(0, queued - index.SEARCH_REFRESH_LIMIT)
    with own_engine.begin() as conn:
        refresh_search_index(conn)
