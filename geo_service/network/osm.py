"""Read the roads of an OpenStreetMap extract (.osm.pbf) with pyosmium into loader rows."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from shapely.geometry import LineString
from shapely.geometry.base import BaseGeometry

from geo_service.errors import InputFileError
from geo_service.ingest.readers import SourceTable

# highway=* values that are roads or paths (areas, proposals and construction are not)
ROAD_VALUES = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified", "residential",
    "living_street", "service", "road", "track", "footway", "path", "pedestrian", "steps",
    "cycleway", "bridleway"})
_IMPLIED_ONEWAY = {"motorway", "motorway_link"}
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh)?\s*$", re.IGNORECASE)
HEADERS = ["编号", "道路名称", "道路等级", "单行", "限速", "来源", "osm_tags"]  # catalogue headers
OSM_SOURCE = "OpenStreetMap 贡献者（ODbL）"  # the attribution the licence asks for


def parse_maxspeed(text: str) -> str:
    """OSM maxspeed as km/h text ('' when not a plain number, e.g. 'CN:urban')."""
    found = _SPEED.match(text or "")
    if not found:
        return ""
    value = float(found.group(1))
    if (found.group(2) or "").lower() == "mph":
        value *= 1.609344
    return f"{value:g}"


def _oneway(tags: dict[str, str], highway: str) -> tuple[str, bool]:
    """(是/否, reverse?) from oneway=*, junction=roundabout and implied one-way classes."""
    value = tags.get("oneway", "").strip().lower()
    if value == "-1":
        return "是", True
    if value in {"yes", "true", "1"}:
        return "是", False
    if value in {"no", "false", "0"}:
        return "否", False
    implied = highway in _IMPLIED_ONEWAY or tags.get("junction") == "roundabout"
    return ("是" if implied else "否"), False


def read_osm_pbf(path: Path, sha: str) -> SourceTable:
    """Every highway way of the extract as a row (id osm:way/N), geometry in WGS84 lon/lat."""
    import osmium

    rows: list[dict[str, str]] = []
    geometries: list[BaseGeometry | None] = []
    try:
        processor = (osmium.FileProcessor(str(path)).with_locations()
                     .with_filter(osmium.filter.KeyFilter("highway")))
        for obj in processor:
            if not isinstance(obj, osmium.osm.Way):
                continue
            tags = {t.k: t.v for t in obj.tags}
            highway = tags.get("highway", "")
            if highway not in ROAD_VALUES or tags.get("area") == "yes":
                continue
            coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            oneway, reverse = _oneway(tags, highway)
            if reverse:
                coords.reverse()
            rows.append({"编号": f"osm:way/{obj.id}", "道路名称": tags.get("name", ""),
                         "道路等级": highway, "单行": oneway,
                         "限速": parse_maxspeed(tags.get("maxspeed", "")), "来源": OSM_SOURCE,
                         "osm_tags": ";".join(f"{k}={v}" for k, v in sorted(tags.items())
                                              if k not in {"name", "highway", "oneway",
                                                           "maxspeed"})})
            geometries.append(LineString(coords) if len(coords) >= 2 else None)
    except RuntimeError as exc:  # libosmium reports unreadable files this way
        raise InputFileError(f"{path.name}：不是可读的 OpenStreetMap .osm.pbf 文件（{exc}）"
                             ) from exc
    frame = pd.DataFrame(rows, columns=HEADERS)
    labels = [f"way {r['编号'].removeprefix('osm:way/')}" for r in rows]
    return SourceTable(frame, geometries, labels, "EPSG:4326", sha, is_tabular=False,
                       is_extract=True)
