"""The public `source` field and the care-map attribution show a human source name (the
load's --source, else the catalogue's), never the name of a loaded file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_loader import eldercare_frame, inside_points

from geo_service.access import Principal, Role, public_source
from geo_service.api.app import create_app
from geo_service.api.deps import get_principal
from geo_service.catalog import catalogue
from geo_service.errors import InputFileError
from geo_service.ingest.loader import LoadOptions, load_file

FILE = "养老机构名单_2026-03.xlsx"
HUMAN = "区民政局养老服务科 2026年台账"


def _sources(engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT DISTINCT source FROM eldercare_sites")).scalars())


def test_a_load_records_its_source_never_the_file_name(district_loaded, tmp_path):
    path = tmp_path / FILE.replace(".xlsx", ".csv")
    eldercare_frame(inside_points(district_loaded, 3)).to_csv(path, index=False)
    load_file(district_loaded, "eldercare_sites", path)
    assert _sources(district_loaded) == {catalogue().layer("eldercare_sites").default_source}
    load_file(district_loaded, "eldercare_sites", path, options=LoadOptions(source=HUMAN))
    assert _sources(district_loaded) == {HUMAN}
    with pytest.raises(InputFileError, match="不要写文件名"):
        load_file(district_loaded, "eldercare_sites", path,
                  options=LoadOptions(source="sites.xlsx"))


def test_cli_load_takes_source(district_loaded, cli_env, tmp_path):
    path = tmp_path / "sites.csv"
    eldercare_frame(inside_points(district_loaded, 2)).to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-m", "geo_service.cli", "load", "eldercare_sites",
                           str(path), "--source", HUMAN], env={**os.environ, **cli_env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _sources(district_loaded) == {HUMAN}


def test_an_old_file_name_source_is_shown_as_the_catalogue_name(sample_engine):
    layer = catalogue().layer("eldercare_sites")
    with sample_engine.begin() as conn:
        old = conn.execute(text("SELECT id, source FROM eldercare_sites WHERE is_public "
                                "ORDER BY id LIMIT 1")).one()
        conn.execute(text("UPDATE eldercare_sites SET source = :s WHERE id = :i"),
                     {"s": FILE, "i": old.id})
    try:
        app = create_app(sample_engine)
        with TestClient(app) as client:
            item = client.get(f"/collections/eldercare_sites/items/{old.id}").json()
            assert item["properties"]["source"] == layer.default_source
            listed = client.get("/collections/eldercare_sites/items?limit=10000").text
            page = client.get(f"/collections/eldercare_sites/items/{old.id}?f=html").text
            csv = client.get("/collections/eldercare_sites/download?format=csv").content
            attribution = client.get("/map/api/config").json()["attribution"]
            assert FILE not in listed and FILE not in page and FILE.encode() not in csv
            assert FILE not in attribution["text"] and layer.default_source in attribution[
                "sources"]
            app.dependency_overrides[get_principal] = lambda: Principal("p", Role.planner)
            staff = client.get(f"/collections/eldercare_sites/items/{old.id}").json()
            assert staff["properties"]["source"] == FILE  # staff see what was stored
    finally:
        with sample_engine.begin() as conn:
            conn.execute(text("UPDATE eldercare_sites SET source = :s WHERE id = :i"),
                         {"s": old.source, "i": old.id})


def test_public_source_rule():
    layer = catalogue().layer("eldercare_sites")
    assert public_source("a.GeoJSON", layer) == public_source(None, layer) == (
        layer.default_source)
    assert public_source("国家统计局2023统计用区划代码", layer) == "国家统计局2023统计用区划代码"
