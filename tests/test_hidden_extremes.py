"""Planted-extremes audit: hidden rows beyond every public one, in each layer, must not show
in any anonymous document (TileJSON bounds, extents, downloads, search, tiles, pages), and
must show to an admin (so the scan itself is proven to find them)."""

from __future__ import annotations

import io
import math
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from accounts_helpers import add_users, login, unlimited_app, writable_sample
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select, text

from geo_service.db.models import LAYER_TABLES
from geo_service.ogc import tiles
from geo_service.ogc.collections import all_collections
from geo_service.ogc.downloads import FORMATS


@dataclass(frozen=True)
class Plant:
    """One hidden row at a corner of its layer."""

    layer: str
    corner: str
    row_id: int
    name: str
    external_id: str
    lon: float
    lat: float

    @property
    def needles(self) -> dict[str, str]:
        """What must not leak: name, external id and the coordinates (6 decimals)."""
        return {"name": self.name, "external_id": self.external_id,
                "lon": f"{self.lon:.6f}", "lat": f"{self.lat:.6f}"}


def _corner(value: float, step: float, serial: int) -> float:
    """A distinctive coordinate `step` degrees beyond `value` (6 significant decimals)."""
    return round(round(value + step, 2) + (417 + serial) / 1e6 * math.copysign(1, step), 6)


def _plant(engine) -> list[Plant]:
    plants: list[Plant] = []
    with engine.begin() as conn:
        district = conn.execute(text("SELECT code FROM admin_areas WHERE level = 'district'")
                                ).scalar_one()
        for serial, (layer, table) in enumerate(LAYER_TABLES.items()):
            box = conn.execute(select(func.ST_XMin(func.ST_Extent(table.c.geom)),
                                      func.ST_YMin(func.ST_Extent(table.c.geom)),
                                      func.ST_XMax(func.ST_Extent(table.c.geom)),
                                      func.ST_YMax(func.ST_Extent(table.c.geom)))).one()
            for number, (corner, step) in enumerate((("NE", 0.05), ("SW", -0.05))):
                lon = _corner(box[2] if step > 0 else box[0], step, serial * 10 + number)
                lat = _corner(box[3] if step > 0 else box[1], step, serial * 10 + number + 5)
                name = f"隐秘{layer}{corner}站"
                external_id = f"HIDDEN-{layer}-{corner}"
                values: dict = {"external_id": external_id, "name": name, "is_public": False,
                                "source": "审计测试", "geometry_accuracy": "surveyed"}
                point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4490)
                if layer == "roads":  # a short road that ends at the planted point
                    d = -0.002 if step > 0 else 0.002
                    point = func.ST_Multi(func.ST_MakeLine(
                        func.ST_SetSRID(func.ST_MakePoint(lon + d, lat + d), 4490), point))
                if "kind" in table.c:
                    values |= {"kind": conn.execute(select(table.c.kind).limit(1)).scalar(),
                               "geom": point}
                elif layer == "place_names":
                    like = conn.execute(select(table.c.category, table.c.category_code)
                                        .limit(1)).one()
                    values |= {"category": like[0], "category_code": like[1],
                               "geom": func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4490)}
                else:  # a township square whose far corner is the planted point
                    d = -0.002 if step > 0 else 0.002
                    values |= {"code": f"{district[:6]}99{serial}{number}00",
                               "level": "township", "parent_code": district,
                               "geom": func.ST_Multi(func.ST_SetSRID(func.ST_MakeEnvelope(
                                   min(lon, lon + d), min(lat, lat + d), max(lon, lon + d),
                                   max(lat, lat + d)), 4490)),
                               "rep_point": func.ST_SetSRID(
                                   func.ST_MakePoint(lon + d / 2, lat + d / 2), 4490)}
                row_id = conn.execute(insert(table).values(**values).returning(table.c.id)
                                      ).scalar_one()
                plants.append(Plant(layer, corner, row_id, name, external_id, lon, lat))
        from geo_service.gazetteer.index import rebuild_search_index

        rebuild_search_index(conn)
    return plants


@pytest.fixture(scope="module")
def audit(database_factory):
    engine = writable_sample(database_factory, "extremes")
    add_users(engine, "admin")
    plants = _plant(engine)
    tiles._extents.clear()
    app = unlimited_app(engine)
    with TestClient(app) as client:
        yield client, plants, login(client, "admin")
    engine.dispose()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """(row, column) of the WebMercatorQuad tile holding a point."""
    n = 2**z
    col = int((lon + 180) / 360 * n)
    row = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return row, col


def _as_text(body: bytes) -> str:
    """A document's searchable text: zip members (XLSX), SQL dump (GeoPackage), or UTF-8."""
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            return "\n".join(archive.read(n).decode("utf-8", "ignore") for n in archive.namelist())
    if body[:16] == b"SQLite format 3\x00":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "d.gpkg"
            path.write_bytes(body)
            with sqlite3.connect(path) as db:
                return "\n".join(db.iterdump())
    return body.decode("utf-8", "ignore")


def _urls(client: TestClient, plants: list[Plant]) -> list[str]:
    """Every GET document of the service, filled in with the planted rows' ids and places."""
    spec = client.get("/openapi.json").json()
    collections = list(all_collections())
    urls = ["/", "/?f=html", "/map", "/collections?f=html"]
    for path, operations in spec["paths"].items():
        if "get" not in operations or path.startswith(("/boundaries", "/admin", "/auth")):
            continue
        variants = [path]
        if "{collection_id}" in path:
            variants = [v.replace("{collection_id}", c) for v in variants for c in collections]
        if "{tms}" in path:
            variants = [v.replace("{tms}", tiles.TMS_ID) for v in variants]
        if "{z}" in path:
            cells = {(0, 0, 0)} | {(z, *_tile_of(p.lon, p.lat, z)) for p in plants
                                   for z in (7, 11, 15)}
            variants = [v.replace("{z}/{y}/{x}", f"{z}/{y}/{x}") for v in variants
                        for z, y, x in sorted(cells)]
        if path.startswith("/map/api/facilities/{feature_id}"):
            variants = [path.replace("{feature_id}", f"{p.layer}:{p.row_id}") for p in plants]
        elif "{feature_id}" in path:
            variants = [v.replace("{feature_id}", str(p.row_id)) for v in variants
                        for p in plants if f"/collections/{p.layer}/" in v]
        if path == "/places/search":
            variants = [f"{path}?q={p.name}&types=place,facility&f={f}" for p in plants
                        for f in ("json", "geojson")]
        elif path in {"/places/reverse", "/map/api/nearest"}:
            variants = [f"{path}?lon={p.lon}&lat={p.lat}&limit=50" for p in plants]
        elif path == "/places/hierarchy":
            variants = [path, *(f"{path}?name={p.name}" for p in plants
                                if p.layer == "admin_areas")]
        elif path.endswith("/download"):
            variants = [f"{v}?format={f}" for v in variants for f in FORMATS]
        elif path.endswith(("/items", "/items/{feature_id}", "/{collection_id}")):
            variants += [f"{v}?f=html" for v in variants]
        if path.endswith("/items"):
            variants += [f"{v}?limit=10000" for v in variants if "?" not in v]
        urls += variants
    return urls


def _scan(client: TestClient, plants: list[Plant], headers: dict[str, str]
          ) -> dict[tuple[str, str, str], list[str]]:
    """For each (layer, corner, what) the URLs whose answer shows it (beyond an echo)."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for url in _urls(client, plants):
        response = client.get(url, headers=headers)
        assert response.status_code < 500, (url, response.text[:300])
        body = _as_text(response.content) + "\n" + str(response.headers)
        for plant in plants:
            for what, needle in plant.needles.items():
                if needle in body and needle not in url:  # an echo of the question is no leak
                    found.setdefault((plant.layer, plant.corner, what), []).append(url)
    return found


def test_anonymous_sees_no_planted_extreme(audit):
    client, plants, _ = audit
    leaks = _scan(client, plants, {})
    assert leaks == {}, {k: v[:3] for k, v in leaks.items()}
    for plant in plants:  # and ids of hidden rows are unknown to the public
        url = f"/collections/{plant.layer}/items/{plant.row_id}"
        assert client.get(url).status_code == 404


def test_admin_scan_finds_every_planted_extreme(audit):
    client, plants, admin = audit
    found = _scan(client, plants, admin)
    missing = [(p.layer, p.corner, what) for p in plants for what in p.needles
               if (p.layer, p.corner, what) not in found]
    assert missing == []
    for plant in plants:  # the staff TileJSON bounds do reach the hidden corner
        bounds = client.get(f"/collections/{plant.layer}/tiles/{tiles.TMS_ID}/tilejson.json",
                            headers=admin).json()["bounds"]
        assert round(bounds[3 if plant.corner == "NE" else 1], 6) == plant.lat


def test_anonymous_tilejson_bounds_are_the_public_extent(audit):
    client, plants, _ = audit
    for layer in {p.layer for p in plants}:
        bounds = client.get(f"/collections/{layer}/tiles/{tiles.TMS_ID}/tilejson.json"
                            ).json()["bounds"]
        extent = client.get(f"/collections/{layer}").json()["extent"]["spatial"]["bbox"][0]
        assert [round(b, 6) for b in bounds] == [round(b, 6) for b in extent]
