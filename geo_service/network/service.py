"""Isochrones of a layer's sites, per site or per kind, for the API, the CLI and QGIS."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, func, select

from geo_service.coverage.data import SUPPLY_LAYERS, layer_kinds
from geo_service.coverage.distance import PlanarDistance
from geo_service.db.models import LAYER_TABLES
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.network.isochrones import isochrones_geojson
from geo_service.network.speeds import MODES, Speeds
from geo_service.network.store import network_model

MAX_MINUTES = 120.0
CRS_MEMBER = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}  # for GDAL/QGIS
MAX_SITES_EACH = 50  # per-site isochrones asked for at once


def parse_minutes(text: str) -> list[float]:
    """'5,10,15' → [5.0, 10.0, 15.0], each in (0, 120]."""
    try:
        values = [float(p) for p in text.replace("，", ",").split(",") if p.strip()]
    except ValueError:
        raise GeoServiceError(f"分钟数 minutes {text!r}: 请写用逗号分隔的数字, 如 5,10,15"
                              ) from None
    if not values or any(not (0 < v <= MAX_MINUTES) for v in values):
        raise GeoServiceError(f"分钟数 minutes {text!r}: 每个都须在 0 到 {MAX_MINUTES:g} 之间")
    return values


def isochrones_for(engine: Engine, layer: str, kinds: list[str], site_ids: list[str],
                   minutes: list[float], mode: str, speeds: Speeds | None = None) -> dict:
    """FeatureCollection of isochrones: per site when ids are given, else per kind (运营 sites)."""
    if layer not in SUPPLY_LAYERS:
        raise GeoServiceError(f"layer {layer!r}: use one of {', '.join(SUPPLY_LAYERS)}")
    if mode not in MODES:
        raise GeoServiceError(f"mode {mode!r}: use walk or drive")
    if len(site_ids) > MAX_SITES_EACH:
        raise GeoServiceError(f"at most {MAX_SITES_EACH} sites at once, not {len(site_ids)}")
    model = network_model(engine, mode, speeds)
    t = LAYER_TABLES[layer]
    query = select(t.c.external_id, t.c.name, t.c.kind, func.ST_X(t.c.geom),
                   func.ST_Y(t.c.geom)).order_by(t.c.id)
    if site_ids:
        query = query.where(t.c.external_id.in_(site_ids))
    else:
        query = query.where(t.c.kind.in_(layer_kinds(layer, kinds)),
                            func.coalesce(t.c.status, "运营") == "运营")
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    missing = sorted(set(site_ids) - {r[0] for r in rows})
    if missing:
        raise NotFoundError(f"{layer} 中没有编号为 {', '.join(missing)} 的设施 (no site with "
                            "that id)")
    feats: list[dict] = []
    if site_ids:
        groups = [({"site_id": r[0], "name": r[1], "kind": r[2]}, [r]) for r in rows]
    else:
        by_kind: dict[str, list] = {}
        for r in rows:
            by_kind.setdefault(r[2], []).append(r)
        groups = [({"kind": k, "sites": len(v)}, v) for k, v in by_kind.items()]
    for props, members in groups:
        lon = np.array([m[3] for m in members], dtype=float)
        lat = np.array([m[4] for m in members], dtype=float)
        xy = np.column_stack(PlanarDistance().project(lon, lat))
        doc = isochrones_geojson(model.net, xy, minutes, {"layer": layer, **props})
        feats.extend(doc["features"])
    return {"type": "FeatureCollection", "crs": CRS_MEMBER, "features": feats, "mode": mode,
            "minutes": minutes, "speeds": model.speeds.as_dict()}
