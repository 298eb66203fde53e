"""The road graph of the roads layer, rebuilt whenever the layer changes (cached by fingerprint)."""

from __future__ import annotations

import threading

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, func, select

from geo_service import crs
from geo_service.db.models import roads
from geo_service.errors import GeoServiceError
from geo_service.network.graph import RoadGraph, build_graph
from geo_service.network.model import NetworkDistanceModel
from geo_service.network.speeds import MODES, Mode, Speeds

_lock = threading.Lock()
_graphs: dict[tuple, RoadGraph] = {}
_models: dict[tuple, NetworkDistanceModel] = {}


def fingerprint(conn: Connection) -> tuple:
    """Rows, latest change and id sum of the roads layer: any load or edit changes it."""
    t = roads.c
    row = conn.execute(select(func.count(), func.max(t.updated_at),
                              func.coalesce(func.sum(t.id), 0))).one()
    return tuple(row)


def read_graph(conn: Connection, public_only: bool = False) -> RoadGraph:
    """Build the graph from the roads layer's rows (metric, EPSG:4544); public ones if asked."""
    t = roads.c
    query = select(t.external_id, t.kind, t.oneway, t.speed_kmh, func.ST_AsBinary(t.geom))
    if public_only:
        query = query.where(t.is_public.is_(True))
    rows = conn.execute(query.order_by(t.id)).all()
    lines = np.empty(len(rows), dtype=object)
    lines[:] = [shapely.from_wkb(bytes(r[4])) for r in rows]
    metric = crs.to_metric(lines) if len(rows) else lines
    return build_graph(np.asarray(metric, dtype=object),
                       np.array([r[1] for r in rows], dtype=object),
                       np.array([bool(r[2]) for r in rows], dtype=bool),
                       np.array([np.nan if r[3] is None else float(r[3]) for r in rows]),
                       [r[0] for r in rows])


def road_graph(engine: Engine, public_only: bool = False) -> RoadGraph:
    """The current graph (built once per state of the roads layer; all or public rows)."""
    with engine.connect() as conn:
        key = (str(engine.url), public_only, *fingerprint(conn))
        with _lock:
            found = _graphs.get(key)
        if found is not None:
            return found
        graph = read_graph(conn, public_only)
    with _lock:
        for old in [k for k in _graphs if k[:2] == key[:2]]:
            del _graphs[old]  # only the latest state of each view is kept
        _graphs[key] = graph
    return graph


def has_roads(engine: Engine, public_only: bool = False) -> bool:
    """True when the roads layer has at least one (public) row."""
    query = select(func.count()).select_from(roads)
    if public_only:
        query = query.where(roads.c.is_public.is_(True))
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def network_model(engine: Engine, mode: Mode, speeds: Speeds | None = None,
                  public_only: bool = False) -> NetworkDistanceModel:
    """The walking or driving model on the current roads (an error when there are none).

    `speeds` come from the settings (`Speeds.configured`); `public_only` builds it from
    public roads alone, for the anonymous care map.
    """
    if mode not in MODES:
        raise GeoServiceError(f"distance {mode!r}: use straight, walk or drive")
    speeds = speeds or Speeds()
    graph = road_graph(engine, public_only)
    if len(graph.u) == 0:
        raise GeoServiceError(f"还没有道路图层: --distance {mode} needs a road layer; load one "
                              "with `geo-service load roads FILE` (GPKG, Shapefile, GeoJSON "
                              "or .osm.pbf)")
    key = (id(graph), mode, speeds.walk_kmh, tuple(sorted(speeds.drive_kmh.items())))
    with _lock:
        model = _models.get(key)
        if model is None:
            if len(_models) > 8:
                _models.clear()
            model = _models[key] = NetworkDistanceModel(graph, mode, speeds)
    return model
