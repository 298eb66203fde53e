"""Load history: previous versions of the rows a load changed, and undoing a load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Table, select, text

from geo_service.db.models import LAYER_TABLES, ingest_runs
from geo_service.errors import ConflictError, NotFoundError

_GEOMETRY_COLUMNS = ("geom", "rep_point", "site_area")
_NOT_RESTORED = {"id", "created_at", "updated_at"}


def raw_connection(conn: Connection) -> psycopg.Connection:
    """The psycopg connection under a SQLAlchemy one (for COPY and composed SQL)."""
    return cast(psycopg.Connection, conn.connection.dbapi_connection)


def _feature_json(table: Table, alias: str) -> sql.Composable:
    """SQL building a row as the GeoJSON feature the API keeps in feature_versions."""
    geoms = [c for c in _GEOMETRY_COLUMNS if c in table.c and c != "geom"]
    minus = sql.SQL("").join(sql.SQL(" - {}").format(sql.Literal(c))
                             for c in ("id", *_GEOMETRY_COLUMNS) if c in table.c)
    extra = sql.SQL(", ").join(
        sql.SQL("{0}, ST_AsGeoJSON({1}.{2}, 15)::jsonb").format(
            sql.Literal(c), sql.Identifier(alias), sql.Identifier(c)) for c in geoms)
    props = sql.SQL("(to_jsonb({a}){minus})").format(a=sql.Identifier(alias), minus=minus)
    if geoms:
        props = sql.SQL("({p} || jsonb_build_object({e}))").format(p=props, e=extra)
    return sql.SQL(
        "jsonb_build_object('type', 'Feature', 'id', {a}.id, "
        "'geometry', ST_AsGeoJSON({a}.geom, 15)::jsonb, 'properties', {p})"
    ).format(a=sql.Identifier(alias), p=props)


def keep_versions(cursor: psycopg.Cursor, layer_id: str, ids: list[int], changed_by: str,
                  run_id: int | None) -> int:
    """Store the current state of rows `ids` as their next version; returns how many."""
    if not ids:
        return 0
    table = LAYER_TABLES[layer_id]
    cursor.execute(sql.SQL(
        "INSERT INTO feature_versions (layer, feature_id, version, data, changed_by, "
        "ingest_run_id) SELECT %(layer)s, t.id, COALESCE((SELECT max(v.version) FROM "
        "feature_versions v WHERE v.layer = %(layer)s AND v.feature_id = t.id), 0) + 1, "
        "{feature}, %(who)s, %(run)s FROM {table} t WHERE t.id = ANY(%(ids)s)"
    ).format(feature=_feature_json(table, "t"), table=sql.Identifier(table.name)),
        {"layer": layer_id, "who": changed_by, "run": run_id, "ids": ids})
    return cursor.rowcount


@dataclass
class UndoReport:
    """What undoing a load did."""

    run_id: int
    layer: str
    restored: int
    removed: int

    def summary(self) -> str:
        """One line for people."""
        return (f"已撤销导入 #{self.run_id}（{self.layer}）：恢复 {self.restored} 条原有记录，"
                f"删除 {self.removed} 条该次新增的记录")


def undo_run(conn: Connection, run_id: int, who: str) -> UndoReport:
    """Restore what a load replaced, remove what it inserted (refused if changed since)."""
    run = conn.execute(select(ingest_runs).where(ingest_runs.c.id == run_id)
                       .with_for_update()).first()
    if run is None:
        raise NotFoundError(f"没有编号为 {run_id} 的导入记录（见 ingest_runs 表）")
    if run.undone_at is not None:
        raise ConflictError(f"导入 #{run_id} 已于 {run.undone_at:%Y-%m-%d %H:%M} 由 "
                            f"{run.undone_by} 撤销过")
    layer_id = run.layer
    table = LAYER_TABLES[layer_id]
    with raw_connection(conn).cursor() as cursor:
        cursor.execute("SELECT DISTINCT feature_id FROM feature_versions "
                       "WHERE ingest_run_id = %s", (run_id,))
        restored = [r[0] for r in cursor.fetchall()]
        inserted = list(run.inserted_ids or [])
        touched = restored + inserted
        cursor.execute(sql.SQL(
            "SELECT id, external_id, name, updated_at FROM {t} WHERE id = ANY(%s) FOR UPDATE"
        ).format(t=sql.Identifier(table.name)), (touched,))
        current = {r[0]: r for r in cursor.fetchall()}
        gone = [i for i in touched if i not in current]
        changed = [current[i] for i in touched if i in current
                   and current[i][3] != run.loaded_at]
        if gone or changed:
            names = [f"{r[2]}（{r[1]}）" for r in changed[:10]]
            raise ConflictError(
                f"导入 #{run_id} 之后有 {len(changed) + len(gone)} 条记录又被修改或删除，"
                f"不能自动撤销：{'、'.join(names) or f'{len(gone)} 条已删除'}"
                + ("…" if len(changed) > 10 else "") + "；请在编辑页面逐条处理")
        note = f"{who}（撤销导入 #{run_id}）"
        keep_versions(cursor, layer_id, touched, note, None)
        if restored:
            _restore(cursor, table, run_id)
        if inserted:
            cursor.execute(sql.SQL("DELETE FROM {t} WHERE id = ANY(%s)").format(
                t=sql.Identifier(table.name)), (inserted,))
    conn.execute(ingest_runs.update().where(ingest_runs.c.id == run_id).values(
        undone_at=text("now()"), undone_by=who))
    conn.execute(text(
        "INSERT INTO audit_log (actor, role, action, table_name, record_id, note) "
        "VALUES (:who, 'loader', 'restore', :layer, :run, :note)"),
        {"who": who, "layer": layer_id, "run": str(run_id),
         "note": f"撤销导入 #{run_id}：恢复 {len(restored)}，删除 {len(inserted)}"})
    from geo_service.gazetteer.index import refresh_search_index

    refresh_search_index(conn)
    return UndoReport(run_id, layer_id, len(restored), len(inserted))


def _restore(cursor: psycopg.Cursor, table: Table, run_id: int) -> None:
    """Set each row back to the version the run kept (every column but id and timestamps)."""
    columns = [c.name for c in table.c if c.name not in _NOT_RESTORED]
    sets = []
    for name in columns:
        value: sql.Composable
        if name == "geom":
            value = sql.SQL("ST_SetSRID(ST_GeomFromGeoJSON(v.data->'geometry'), 4490)")
        elif name in _GEOMETRY_COLUMNS:
            value = sql.SQL(
                "CASE WHEN jsonb_typeof(v.data->'properties'->{n}) = 'object' THEN "
                "ST_SetSRID(ST_GeomFromGeoJSON(v.data->'properties'->{n}), 4490) END"
            ).format(n=sql.Literal(name))
        else:
            value = sql.SQL("r.{}").format(sql.Identifier(name))
        sets.append(sql.SQL("{} = {}").format(sql.Identifier(name), value))
    drop = sql.SQL("").join(sql.SQL(" - {}").format(sql.Literal(c))
                            for c in _GEOMETRY_COLUMNS if c in table.c)
    cursor.execute(sql.SQL(
        "UPDATE {t} AS t SET {sets} FROM feature_versions v, "
        "LATERAL jsonb_populate_record(NULL::{t}, (v.data->'properties'){drop}) r "
        "WHERE v.ingest_run_id = %s AND v.layer = %s AND t.id = v.feature_id"
    ).format(t=sql.Identifier(table.name), sets=sql.SQL(", ").join(sets), drop=drop),
        (run_id, table.name))

