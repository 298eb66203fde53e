"""The 大足 sample: load layers/sample (built by layers/build_sample.py) through the loader."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from sqlalchemy import Engine
from sqlalchemy.dialects.postgresql import insert

from geo_service.crs import STORAGE_SRID
from geo_service.db.models import neighbour_areas
from geo_service.ingest.loader import LoadReport, ProgressFn, load_file
from geo_service.resources import package_path

# (layer, file) in load order: areas first, so sites are checked against the district.
SAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("admin_areas", "admin_areas.geojson"),
    ("eldercare_sites", "eldercare_sites.csv"),
    ("funeral_sites", "funeral_sites.csv"),
    ("child_sites", "child_sites.csv"),
    ("place_names", "place_names.geojson"),
    ("roads", "roads.geojson"),
)
NEIGHBOURS_FILE = "neighbours.geojson"


def sample_dir() -> Path:
    """Folder of the built sample files (shipped in the package)."""
    return package_path("layers", "sample")


def build_script() -> ModuleType:
    """The sample's build script, layers/build_sample.py, imported as a module."""
    script = package_path("layers", "build_sample.py")
    spec = importlib.util.spec_from_file_location("build_sample", script)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def rebuild_sample(shared_data_dir: Path, out_dir: Path | None = None) -> dict[str, int]:
    """Regenerate layers/sample (or `out_dir`) from the shared reference data (fixed seed)."""
    return build_script().build(shared_data_dir, out_dir or sample_dir())


def load_admin_areas(engine: Engine, progress: ProgressFn | None = None) -> LoadReport:
    """Load the sample's district, townships and villages."""
    return load_file(engine, "admin_areas", sample_dir() / "admin_areas.geojson",
                     input_crs="EPSG:4490", progress=progress)


def load_neighbours(engine: Engine) -> int:
    """Upsert the five neighbouring counties (reference outlines for boundary work)."""
    features = json.loads((sample_dir() / NEIGHBOURS_FILE).read_text(encoding="utf-8"))
    rows = []
    for feature in features["features"]:
        shape = shapely.geometry.shape(feature["geometry"])
        if not isinstance(shape, MultiPolygon | Polygon):
            raise ValueError(f"{NEIGHBOURS_FILE}: {shape.geom_type} is not an area")
        geom = shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape])
        props = feature["properties"]
        rows.append({"code": props["code"], "name": props["name"],
                     "province": props["province"], "source": props["source"],
                     "geom": from_shape(geom, srid=STORAGE_SRID)})
    stmt = insert(neighbour_areas).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=["code"],
        set_={c: stmt.excluded[c] for c in ("name", "province", "source", "geom")},
        where=neighbour_areas.c.geom.ST_Equals(stmt.excluded.geom).is_(False),
    )
    with engine.begin() as conn:
        conn.execute(stmt)
    return len(rows)


def load_sample(engine: Engine, progress: ProgressFn | None = None) -> list[LoadReport]:
    """Load every sample file; rerunning changes nothing."""
    reports = [load_admin_areas(engine, progress)]
    for layer, name in SAMPLE_FILES[1:]:
        reports.append(load_file(engine, layer, sample_dir() / name, input_crs="EPSG:4490",
                                 progress=progress))
    load_neighbours(engine)
    return reports
