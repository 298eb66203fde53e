"""`load roads`: GPKG/Shapefile/GeoJSON with Chinese headers, bad rows, and an .osm.pbf twin."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import geopandas as gpd
import numpy as np
import osmium
import pytest
from osmium.osm.mutable import Node, Way
from shapely.geometry import LineString, Point
from sqlalchemy import Engine, text

from geo_service.coverage.distance import PlanarDistance
from geo_service.errors import LoadRejectedError
from geo_service.ingest.loader import load_file
from geo_service.network.store import network_model, road_graph

STEP = 0.003  # degrees between grid streets (≈ 300 m)
N = 6


def origin(engine: Engine) -> tuple[float, float]:
    """A village committee point well inside the district."""
    with engine.connect() as conn:
        x, y = conn.execute(text(
            "SELECT ST_X(rep_point), ST_Y(rep_point) FROM admin_areas WHERE level = 'village' "
            "ORDER BY code LIMIT 1")).one()
    return round(float(x), 4), round(float(y), 4)


def grid_ways(x0: float, y0: float) -> list[dict]:
    """A street grid: rows are 村道 (every third one-way eastward), columns 乡道 with 限速 30."""
    ways = []
    for i in range(N):
        ways.append({"id": 100 + i, "highway": "unclassified", "kind": "村道",
                     "name": f"东西{i}路" if i % 2 else "",
                     "oneway": i % 3 == 1, "maxspeed": None,
                     "coords": [(round(x0 + j * STEP, 7), round(y0 + i * STEP, 7))
                                for j in range(N)]})
        ways.append({"id": 200 + i, "highway": "tertiary", "kind": "乡道", "name": f"南北{i}路",
                     "oneway": False, "maxspeed": 30.0,
                     "coords": [(round(x0 + i * STEP, 7), round(y0 + j * STEP, 7))
                                for j in range(N)]})
    ways.append({"id": 300, "highway": "footway", "kind": "步行道", "name": "",
                 "oneway": False, "maxspeed": None,
                 "coords": [(round(x0, 7), round(y0, 7)),
                            (round(x0 + (N - 1) * STEP, 7), round(y0 + (N - 1) * STEP, 7))]})
    return ways


def write_pbf(path, ways: list[dict], outside: tuple[float, float]) -> None:
    """The grid as an OSM extract, plus a building (ignored) and a road outside the district."""
    node_ids: dict[tuple[float, float], int] = {}
    nodes: list[Node] = []

    def nid(c: tuple[float, float]) -> int:
        if c not in node_ids:
            node_ids[c] = len(node_ids) + 1
            nodes.append(Node(id=node_ids[c], location=c, tags={}))
        return node_ids[c]

    out_ways = []
    for w in ways:
        coords = list(w["coords"])
        tags = {"highway": w["highway"]}
        if w["name"]:
            tags["name"] = w["name"]
        if w["oneway"]:  # written against the drawing direction: oneway=-1 must reverse it
            coords.reverse()
            tags["oneway"] = "-1"
        if w["maxspeed"]:
            tags["maxspeed"] = f"{w['maxspeed'] / 1.609344:.6f} mph"
        out_ways.append(Way(id=w["id"], nodes=[nid(c) for c in coords], tags=tags))
    ox, oy = outside
    out_ways.append(Way(id=900, nodes=[nid((ox, oy)), nid((ox + STEP, oy))],
                        tags={"highway": "primary", "name": "区外道路"}))
    x0, y0 = ways[0]["coords"][0]
    out_ways.append(Way(id=901, nodes=[nid((x0 + 0.0001, y0 + 0.0001)),
                                       nid((x0 + 0.0002, y0 + 0.0001))],
                        tags={"building": "yes"}))
    with osmium.SimpleWriter(str(path), overwrite=True) as writer:
        for node in sorted(nodes, key=lambda n: n.id):
            writer.add_node(node)
        for way in out_ways:
            writer.add_way(way)


def twin_frame(ways: list[dict]) -> gpd.GeoDataFrame:
    """The same roads as a bureau's line file with Chinese headers."""
    return gpd.GeoDataFrame({
        "编号": [f"osm:way/{w['id']}" for w in ways],
        "道路名称": [w["name"] for w in ways],
        "道路等级": [w["kind"] for w in ways],
        "单行": ["是" if w["oneway"] else "否" for w in ways],
        "限速": [w["maxspeed"] for w in ways],
    }, geometry=[LineString(w["coords"]) for w in ways], crs="EPSG:4326")


def answers(engine: Engine, x0: float, y0: float) -> dict[str, np.ndarray]:
    """Walking and driving seconds from fixed points to fixed sites on the loaded roads."""
    rng = np.random.default_rng(5)
    span = (N - 1) * STEP
    lon = x0 + rng.uniform(0, span, 30)
    lat = y0 + rng.uniform(0, span, 30)
    pts = np.column_stack(PlanarDistance().project(lon, lat))
    sites = pts[:3]
    return {mode: network_model(engine, mode).routes(pts[3:], sites).seconds
            for mode in ("walk", "drive")}


def stored(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT external_id, name, kind, oneway, round(speed_kmh::numeric, 3), "
            "ST_GeometryType(geom), ST_SRID(geom), "
            "ST_AsText(ST_SnapToGrid(ST_LineMerge(geom), 1e-7)) FROM roads ORDER BY external_id"
        )).all()


def test_osm_pbf_loads_routes_and_answers_like_its_gpkg_twin(district_loaded, tmp_path):
    engine = district_loaded
    x0, y0 = origin(engine)
    ways = grid_ways(x0, y0)
    pbf = tmp_path / "extract.osm.pbf"
    write_pbf(pbf, ways, outside=(110.0, 35.0))
    report = load_file(engine, "roads", pbf)
    assert report.inserted == len(ways)
    assert any("在本区范围以外" in n for n in report.notes)
    from_pbf = stored(engine)
    assert {r[5] for r in from_pbf} == {"ST_MultiLineString"} and {r[6] for r in from_pbf} == {4490}
    by_id = {r[0]: r for r in from_pbf}
    assert by_id["osm:way/201"][4] == pytest.approx(30.0, abs=1e-3)  # 18.64 mph → km/h
    assert by_id["osm:way/101"][3] is True and by_id["osm:way/100"][1] is None
    assert by_id["osm:way/300"][2] == "步行道"
    graph = road_graph(engine)
    assert len(graph.u) > len(ways)  # split at every crossing
    pbf_answers = answers(engine, x0, y0)
    assert np.isfinite(pbf_answers["walk"]).all()

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE roads"))
    gpkg = tmp_path / "道路.gpkg"
    twin_frame(ways).to_file(gpkg, driver="GPKG")
    assert load_file(engine, "roads", gpkg).inserted == len(ways)
    assert stored(engine) == from_pbf  # same rows, same geometry (one-way drawn the same way)
    assert road_graph(engine) is not graph  # the layer changed: the graph was rebuilt
    gpkg_answers = answers(engine, x0, y0)
    for mode in ("walk", "drive"):
        np.testing.assert_allclose(gpkg_answers[mode], pbf_answers[mode], rtol=1e-12)
    # one-way rows: driving differs from walking, and from a two-way network
    assert not np.allclose(pbf_answers["drive"], pbf_answers["walk"])


def test_zipped_shapefile_and_geojson_with_chinese_headers(district_loaded, tmp_path):
    engine = district_loaded
    x0, y0 = origin(engine)
    frame = twin_frame(grid_ways(x0, y0)).to_crs("EPSG:4544")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    frame.to_file(shp_dir / "roads.shp", encoding="GBK")  # 4 Chinese characters fit DBF
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in shp_dir.iterdir():
            z.write(p, p.name)
    report = load_file(engine, "roads", archive)
    assert report.inserted == len(frame)
    rows = stored(engine)
    assert {r[2] for r in rows} == {"村道", "乡道", "步行道"}
    assert sum(1 for r in rows if r[3]) == 2
    geojson = tmp_path / "roads.geojson"
    frame.to_crs("EPSG:4490").to_file(geojson, driver="GeoJSON")
    again = load_file(engine, "roads", geojson)
    assert again.inserted == 0 and again.updated + again.unchanged == len(frame)


def test_bad_rows_reject_the_whole_file_naming_feature_and_column(district_loaded, tmp_path):
    engine = district_loaded
    x0, y0 = origin(engine)
    frame = twin_frame(grid_ways(x0, y0)[:4])
    frame.loc[1, "道路等级"] = "羊肠小道"
    frame.loc[2, "限速"] = 500.0
    frame.loc[3, "geometry"] = Point(x0, y0)
    path = tmp_path / "bad.gpkg"
    frame.to_file(path, driver="GPKG")
    with pytest.raises(LoadRejectedError) as caught:
        load_file(engine, "roads", path)
    text_ = str(caught.value)
    assert "第 2 个要素，列「道路等级」" in text_ and "羊肠小道" in text_
    assert "第 3 个要素，列「限速」" in text_
    assert "第 4 个要素" in text_ and "本图层要线" in text_
    assert stored(engine) == []


def test_cli_load_roads_reports_the_graph(district_loaded, tmp_path, cli_env):
    x0, y0 = origin(district_loaded)
    ways = grid_ways(x0, y0)
    ways.append({"id": 400, "highway": "unclassified", "kind": "村道", "name": "孤路",
                 "oneway": False, "maxspeed": None,
                 "coords": [(x0 + 0.05, y0 + 0.05), (x0 + 0.051, y0 + 0.05)]})
    path = tmp_path / "道路.gpkg"
    twin_frame(ways).to_file(path, driver="GPKG")
    run = subprocess.run([sys.executable, "-m", "geo_service.cli", "load", "roads", str(path)],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "道路网" in run.stderr and "孤立部分" in run.stderr  # the island is a warning


def test_walking_without_a_road_layer_is_a_clear_error(district_loaded):
    from geo_service.coverage.data import load_study
    from geo_service.coverage.request import CoverageRequest
    from geo_service.coverage.service import run_coverage
    from geo_service.errors import GeoServiceError

    with pytest.raises(GeoServiceError, match="load roads"):
        run_coverage(load_study(district_loaded), CoverageRequest(distance="walk", minutes=15))
