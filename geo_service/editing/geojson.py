"""Features as GeoJSON: rows out (staff view) and request bodies in (loader-style cells)."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Table, func, select

from geo_service.catalog import LayerSpec
from geo_service.errors import GeoServiceError

GEOMETRY_COLUMNS = ("geom", "rep_point", "site_area")
BASE_FIELDS = ("external_id", "name", "kind", "is_public", "source", "geometry_accuracy")
# Columns a client may send back unchanged (from a GET) that are not edited through properties.
READ_ONLY = frozenset({"id", "created_at", "updated_at", "geom", "rep_point", "site_area"})
MAX_VERTICES = 200_000


class BadFeatureError(GeoServiceError):
    """A request body that is not a usable GeoJSON feature for the layer."""

    status_code = 422


def row_select(table: Table):
    """SELECT of every column, geometries as GeoJSON text."""
    columns = [func.ST_AsGeoJSON(c, 7).label(c.name) if c.name in GEOMETRY_COLUMNS else c
               for c in table.c]
    return select(*columns)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def row_feature(row: Any, table: Table) -> dict:
    """A row from `row_select` as a GeoJSON Feature with every (staff-visible) property."""
    data = dict(row._mapping)
    geometry = json.loads(data.pop("geom")) if data.get("geom") else None
    properties = {}
    for name, value in data.items():
        if name == "id":
            continue
        if name in GEOMETRY_COLUMNS:
            properties[name] = json.loads(value) if value else None
        else:
            properties[name] = _plain(value)
    return {"type": "Feature", "id": data["id"], "geometry": geometry,
            "properties": properties}


def _cell(name: str, value: Any, kind: str) -> str:
    """A JSON property value as the text a file's cell would hold (what RowBuilder reads)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise BadFeatureError(f"property {name!r}: {value} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and kind == "json":
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list) and kind == "text[]" and all(isinstance(v, str) for v in value):
        return "、".join(v.strip() for v in value if v.strip())
    raise BadFeatureError(f"property {name!r}: a {type(value).__name__} is not allowed here")


def editable(layer: LayerSpec) -> set[str]:
    """Property names a client may set on the layer (besides `extra`)."""
    names = set(BASE_FIELDS) | {f.name for f in layer.fields}
    if not layer.has_kind:
        names.discard("kind")
    return names


def feature_cells(properties: dict, layer: LayerSpec) -> tuple[dict[str, str], dict | None]:
    """Properties → (cells by field name, the `extra` object if given); unknown names → 422."""
    types = {f.name: f.type for f in layer.fields}
    allowed = editable(layer)
    cells: dict[str, str] = {}
    extra = None
    for name, value in properties.items():
        if name == "extra":
            if value is not None and not isinstance(value, dict):
                raise BadFeatureError("property 'extra' must be an object")
            extra = value
        elif name in allowed:
            cells[name] = _cell(name, value, types.get(name, "text"))
        elif name not in READ_ONLY:
            raise BadFeatureError(
                f"unknown property {name!r} for layer {layer.id}; properties are: "
                f"{', '.join(sorted(allowed | {'extra'}))}")
    return cells, extra


def feature_geometry(body: dict) -> BaseGeometry | None:
    """The body's geometry as shapely (CRS84 / CGCS2000 lon-lat), None if absent."""
    raw = body.get("geometry")
    if raw is None:
        return None
    if not isinstance(raw, dict) or "type" not in raw:
        raise BadFeatureError("geometry must be a GeoJSON geometry object")
    try:
        geom = shape(raw)
    except Exception as exc:  # shapely raises many kinds for malformed input
        raise BadFeatureError(f"geometry cannot be read as GeoJSON: {exc}") from None
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise BadFeatureError(f"geometry has more than {MAX_VERTICES} vertices")
    return geom


def check_feature_body(body: Any) -> dict:
    """The body as a GeoJSON Feature dict with a properties object."""
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise BadFeatureError('the body must be a GeoJSON Feature ({"type": "Feature", ...})')
    properties = body.get("properties")
    if properties is None:
        body = {**body, "properties": {}}
    elif not isinstance(properties, dict):
        raise BadFeatureError("properties must be an object")
    return body


def record_cells(feature: dict, layer: LayerSpec) -> dict[str, str]:
    """A stored feature's properties as cells (to patch onto)."""
    properties = dict(feature["properties"])
    rep = properties.get("rep_point")
    if rep and layer.field("rep_lon") is not None:
        properties["rep_lon"], properties["rep_lat"] = rep["coordinates"][:2]
    allowed = editable(layer)
    keep = {k: v for k, v in properties.items() if k in allowed}
    cells, _ = feature_cells(keep, layer)
    return cells
