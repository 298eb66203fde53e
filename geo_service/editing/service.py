"""Create, replace, patch and delete features: loader validation, versions, If-Match, audit."""

from __future__ import annotations

from dataclasses import dataclass

from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from geo_service import audit
from geo_service import crs as crsmod
from geo_service.access import Principal
from geo_service.catalog import LayerSpec, catalogue
from geo_service.db.models import LAYER_TABLES, feature_versions
from geo_service.editing.geojson import (
    GEOMETRY_COLUMNS,
    BadFeatureError,
    check_feature_body,
    feature_cells,
    feature_geometry,
    record_cells,
    row_feature,
    row_select,
)
from geo_service.errors import ConflictError, LoadRejectedError, NotFoundError
from geo_service.etags import feature_etag, require_match
from geo_service.ingest.loader import load_context
from geo_service.ingest.rows import RowBuilder


@dataclass(frozen=True)
class Written:
    """The outcome of a write: the feature as stored now (None after delete) and its ETag."""

    feature: dict | None
    etag: str | None
    version: int


def _layer(layer_id: str) -> LayerSpec:
    return catalogue().layer(layer_id)


def _validate(conn: Connection, layer: LayerSpec, cells: dict[str, str], geometry,
              extra: dict | None, label: str) -> dict:
    """A database record built by the loader's RowBuilder, or a 422 listing the problems."""
    columns = {name: name for name in cells}
    if layer.key and cells.get(layer.key) and not cells.get("external_id"):
        columns["external_id"] = layer.key
    builder = RowBuilder(layer, columns, crsmod.parse_crs(None), load_context(conn, layer),
                         default_kind=None, source_name="api")
    record, problems = builder.build(cells, label, geometry, [])
    if record is None:
        shown = "; ".join(str(p) for p in problems)
        raise LoadRejectedError(f"the feature was not saved: {shown}", problems)
    if extra is not None:
        record["extra"] = extra
    if layer.id == "place_names":
        from geo_service.gazetteer.pinyin import fill_pinyin

        fill_pinyin(record)
    return record


def _bind(record: dict) -> dict:
    """Column values for SQLAlchemy: shapely geometries as CGCS2000 WKB elements."""
    return {k: from_shape(v, srid=crsmod.STORAGE_SRID) if k in GEOMETRY_COLUMNS and v is not None
            else v for k, v in record.items()}


def _current(conn: Connection, layer_id: str, feature_id: int, *, lock: bool) -> dict:
    table = LAYER_TABLES[layer_id]
    stmt = row_select(table).where(table.c.id == feature_id)
    row = conn.execute(stmt.with_for_update() if lock else stmt).first()
    if row is None:
        raise NotFoundError(f"{layer_id} has no feature {feature_id}")
    return row_feature(row, table)


def current_etag(conn: Connection, layer_id: str, feature_id: int) -> str:
    """The feature's ETag now."""
    table = LAYER_TABLES[layer_id]
    stamp = conn.execute(select(table.c.updated_at).where(table.c.id == feature_id)).scalar()
    if stamp is None:
        raise NotFoundError(f"{layer_id} has no feature {feature_id}")
    return feature_etag(feature_id, stamp)


def _etag_of(feature: dict) -> str:
    from datetime import datetime

    return feature_etag(feature["id"], datetime.fromisoformat(feature["properties"]["updated_at"]))


def _keep_version(conn: Connection, layer_id: str, before: dict, who: Principal) -> int:
    """Store the previous version; returns its number."""
    number = conn.execute(
        select(func.coalesce(func.max(feature_versions.c.version), 0) + 1)
        .where(feature_versions.c.layer == layer_id,
               feature_versions.c.feature_id == before["id"])
    ).scalar_one()
    conn.execute(feature_versions.insert().values(
        layer=layer_id, feature_id=before["id"], version=number, data=before,
        changed_by=who.username or "anonymous"))
    return number


def _write(conn: Connection, stmt, layer_id: str):
    try:
        return conn.execute(stmt)
    except IntegrityError as exc:
        if "external_id" in str(exc.orig):
            raise ConflictError(f"{layer_id}: another feature has this external_id") from exc
        raise LoadRejectedError(f"the database refused the feature: {exc.orig}", []) from exc
    except DBAPIError as exc:
        if exc.orig is not None and getattr(exc.orig, "sqlstate", "") in {"22000", "22023",
                                                                             "XX000", "22P02"}:
            raise LoadRejectedError(f"the database refused the feature: {exc.orig}", []) from exc
        raise


def create(conn: Connection, who: Principal, layer_id: str, body: object,
           request_id: str | None = None) -> Written:
    """Insert a new feature."""
    layer = _layer(layer_id)
    table = LAYER_TABLES[layer_id]
    body = check_feature_body(body)
    cells, extra = feature_cells(body["properties"], layer)
    geometry = feature_geometry(body)
    if geometry is None:
        raise BadFeatureError("a new feature needs a geometry")
    record = _validate(conn, layer, cells, geometry, extra, "feature")
    taken = conn.execute(select(table.c.id).where(
        table.c.external_id == record["external_id"])).scalar()
    if taken is not None:
        raise ConflictError(f"{layer_id} feature {taken} already has external_id "
                            f"{record['external_id']!r}; update it instead")
    new_id = _write(conn, table.insert().values(_bind(record)).returning(table.c.id),
                    layer_id).scalar_one()
    after = _current(conn, layer_id, new_id, lock=False)
    audit.record(conn, who, "insert", layer_id, new_id, None, after, request_id=request_id)
    return Written(after, _etag_of(after), 1)


def update(conn: Connection, who: Principal, layer_id: str, feature_id: int, body: object,
           if_match: str | None, *, merge: bool, request_id: str | None = None) -> Written:
    """Replace (PUT) or merge-patch (PATCH) a feature, guarded by If-Match."""
    layer = _layer(layer_id)
    table = LAYER_TABLES[layer_id]
    body = check_feature_body(body)
    before = _current(conn, layer_id, feature_id, lock=True)
    require_match(if_match, _etag_of(before), "the feature")
    given, extra = feature_cells(body["properties"], layer)
    geometry = feature_geometry(body)
    if merge:
        cells = {**record_cells(before, layer), **given}
        renamed = "name" in given and given["name"].strip() != before["properties"].get("name")
        if renamed and "pinyin" in cells and "pinyin" not in given:
            del cells["pinyin"]  # the stored spelling was of the old name: spell the new one
        if geometry is None and before["geometry"]:
            geometry = feature_geometry(before)
        if extra is not None:
            extra = {**before["properties"].get("extra", {}), **extra}
    else:
        cells = given
        if geometry is None:
            raise BadFeatureError("PUT replaces the whole feature: give its geometry "
                                  "(or use PATCH to change some properties)")
    cells.setdefault("external_id", before["properties"]["external_id"])
    record = _validate(conn, layer, cells, geometry, extra, f"feature {feature_id}")
    if extra is None:
        record.pop("extra", None)
    version = _keep_version(conn, layer_id, before, who)
    _write(conn, table.update().where(table.c.id == feature_id).values(_bind(record)),
           layer_id)
    after = _current(conn, layer_id, feature_id, lock=False)
    audit.record(conn, who, "update", layer_id, feature_id, before, after,
                 request_id=request_id)
    return Written(after, _etag_of(after), version + 1)


def delete(conn: Connection, who: Principal, layer_id: str, feature_id: int,
           if_match: str | None, request_id: str | None = None) -> Written:
    """Delete a feature, keeping its last version, guarded by If-Match."""
    _layer(layer_id)
    table = LAYER_TABLES[layer_id]
    before = _current(conn, layer_id, feature_id, lock=True)
    require_match(if_match, _etag_of(before), "the feature")
    version = _keep_version(conn, layer_id, before, who)
    _write(conn, table.delete().where(table.c.id == feature_id), layer_id)
    audit.record(conn, who, "delete", layer_id, feature_id, before, None,
                 request_id=request_id)
    return Written(None, None, version)


def versions(conn: Connection, layer_id: str, feature_id: int) -> list[dict]:
    """Every kept previous version of a feature, oldest first."""
    _layer(layer_id)
    rows = conn.execute(
        select(feature_versions.c.version, feature_versions.c.data,
               feature_versions.c.changed_by, feature_versions.c.changed_at)
        .where(feature_versions.c.layer == layer_id, feature_versions.c.feature_id == feature_id)
        .order_by(feature_versions.c.version)
    ).all()
    return [{"version": r.version, "changed_by": r.changed_by,
             "changed_at": r.changed_at.isoformat(), "feature": r.data} for r in rows]
