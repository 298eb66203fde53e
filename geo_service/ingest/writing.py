"""Write a load's plan to its layer: previous versions, inserts, updates and retirements.

Rows travel by COPY into a temporary stage, then one set-based statement per kind of change.
A load streams its checked records (InsertStream) into the empty layer, or into a stage to
plan a reload against: the database takes the rows already checked while the loader checks
the next, so both cores work.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from itertools import count

import numpy as np
import psycopg
import shapely
from psycopg import sql
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Table
from sqlalchemy.dialects.postgresql import JSONB

from geo_service import crs as crsmod
from geo_service.ingest.history import keep_versions, raw_connection
from geo_service.ingest.rows import Problem

ProgressFn = Callable[[str, int, int], None]
GEOMETRY_COLUMNS = ("geom", "rep_point", "site_area")
RETIRED_STATUS = "停业"
COPY_ROWS = 100_000  # rows per COPY statement of a stream
_stage_names = count(1)


@dataclass
class Change:
    """One row the load updates: its key, name and the fields that change (old → new)."""

    key: str
    name: str
    fields: dict[str, tuple[object, object]]


@dataclass
class Plan:
    """What writing the records would do."""

    inserts: list[dict] = field(default_factory=list)
    updates: list[tuple[int, dict, Change]] = field(default_factory=list)
    unchanged: int = 0
    retire_ids: list[int] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # with the stored values merged in


def _jsonb(value: object) -> object:
    """A JSON column's value as COPY takes it."""
    return None if value is None else Jsonb(value)


def _ewkb_hex(values: list) -> list:
    """Geometries (or None) as EWKB hex with the storage SRID, in one vectorised call."""
    geoms = np.empty(len(values), dtype=object)
    geoms[:] = values
    return list(shapely.to_wkb(shapely.set_srid(geoms, crsmod.STORAGE_SRID), hex=True,
                               include_srid=True))


def _copy_columns(table: Table, columns: list[str], rows: list[dict],
                  defaults: dict[str, object] | None = None) -> list[list]:
    """Rows' values column by column, as COPY takes them: geometries converted in one call
    per column, JSON wrapped, the rest as they are (`defaults` for a field a row lacks)."""
    values: list[list] = []
    for c in columns:
        default = (defaults or {}).get(c)
        column = [row.get(c, default) for row in rows]
        if c in GEOMETRY_COLUMNS:
            column = _ewkb_hex(column)
        elif isinstance(table.c[c].type, JSONB):
            column = [_jsonb(v) for v in column]
        values.append(column)
    return values


def _stage(cursor: psycopg.Cursor, table: Table, columns: list[str], rows: list[dict],
           progress: ProgressFn | None) -> sql.Identifier:
    """A temporary copy of `table`'s columns filled with `rows` through COPY."""
    stage = sql.Identifier(f"load_stage_{next(_stage_names)}")
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cursor.execute(sql.SQL(
        "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} WITH NO DATA"
    ).format(stage=stage, target=sql.Identifier(table.name), cols=cols))
    values = _copy_columns(table, columns, rows)
    with cursor.copy(sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(
            stage=stage, cols=cols)) as copy:
        for done, row_values in enumerate(zip(*values, strict=True), 1):
            copy.write_row(row_values)
            if progress and (done % 2000 == 0 or done == len(rows)):
                progress("写入", done, len(rows))
    return stage


def _pending_gin(cursor: psycopg.Cursor) -> None:
    """GIN name entries wait in the index's pending list (which queries read) until they are
    merged after the commit: merging them row by row was half the insert's time."""
    cursor.execute("SET LOCAL gin_pending_list_limit = '1GB'")


def _insert(cursor: psycopg.Cursor, table: Table, rows: list[dict], run_id: int,
            progress: ProgressFn | None) -> int:
    """Insert rows; their new ids are added to the run's inserted_ids in the same statement."""
    columns = sorted(set().union(*rows))
    stage = _stage(cursor, table, columns, rows, progress)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    cursor.execute(sql.SQL(
        "WITH inserted AS (INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} RETURNING id)"
        " UPDATE ingest_runs SET inserted_ids = inserted_ids"
        " || ARRAY(SELECT id FROM inserted ORDER BY id) WHERE id = %s"
        " RETURNING (SELECT count(*) FROM inserted)"
    ).format(t=sql.Identifier(table.name), cols=cols, stage=stage), (run_id,))
    found = cursor.fetchone()
    cursor.execute(sql.SQL("DROP TABLE {}").format(stage))
    return int(found[0]) if found else 0


def write_plan(conn: Connection, table: Table, plan: Plan, run_id: int, who: str,
               progress: ProgressFn | None = None) -> int:
    """Keep previous versions, then insert, update and retire in this transaction; the new
    ids go to the run's ingest_runs.inserted_ids. Returns how many rows were inserted."""
    inserted = 0
    with raw_connection(conn).cursor() as cursor:
        changed_ids = [row_id for row_id, _, _ in plan.updates] + plan.retire_ids
        keep_versions(cursor, table.name, changed_ids, who, run_id)
        _pending_gin(cursor)
        if plan.inserts:
            inserted = _insert(cursor, table, plan.inserts, run_id, progress)
        if plan.updates:
            changed = sorted({c for _, _, change in plan.updates for c in change.fields})
            rows = [final for _, final, _ in plan.updates]
            stage = _stage(cursor, table, ["id", *changed], rows, progress)
            cursor.execute(sql.SQL("UPDATE {t} AS t SET {sets} FROM {stage} s WHERE t.id = s.id")
                           .format(t=sql.Identifier(table.name), stage=stage,
                                   sets=sql.SQL(", ").join(
                                       sql.SQL("{0} = s.{0}").format(sql.Identifier(c))
                                       for c in changed)))
        if plan.retire_ids:
            cursor.execute(sql.SQL(
                "UPDATE {t} SET status = %s, is_public = false WHERE id = ANY(%s)"
            ).format(t=sql.Identifier(table.name)), (RETIRED_STATUS, plan.retire_ids))
        cursor.execute("ANALYZE place_search_pending")  # fresh statistics for the refresh
    return inserted


class InsertStream:
    """Checked records COPYed into the layer `table` (or a table shaped like it, `into`) as
    they come: the rows are formatted here and sent by psycopg's writer thread, so
    PostgreSQL inserts and indexes them while the caller checks the next ones. `defaults`
    fill fields the records lack (e.g. the load's source); keys starting with "_" are the
    loader's own and are not sent."""

    def __init__(self, conn: Connection, table: Table, into: str | None = None,
                 defaults: dict[str, object] | None = None) -> None:
        self._cursor = raw_connection(conn).cursor()
        self._table = table
        self._into = into or table.name
        self._defaults = defaults or {}
        self._statements = ExitStack()
        self._copy: psycopg.Copy | None = None
        self._columns: list[str] = []
        self._copied = 0  # rows in the current COPY statement
        self._keys: list[str] = []

    def put(self, records: list[dict]) -> None:
        """COPY these records (a new statement when their columns change, and every
        COPY_ROWS rows, which keeps each well within the statement timeout)."""
        if not records:
            return
        columns = sorted(k for k in set().union(*records, self._defaults)
                         if not k.startswith("_"))
        if self._copy is None or columns != self._columns or self._copied >= COPY_ROWS:
            if self._copy is None and not self._keys:
                _pending_gin(self._cursor)
            self._statements.close()  # the previous COPY ends (its error is raised here)
            cols = sql.SQL(", ").join(map(sql.Identifier, columns))
            self._copy = self._statements.enter_context(self._cursor.copy(
                sql.SQL("COPY {t} ({cols}) FROM STDIN").format(t=sql.Identifier(self._into),
                                                                cols=cols),
                writer=QueuedLibpqWriter(self._cursor)))
            self._columns, self._copied = columns, 0
        values = _copy_columns(self._table, columns, records, self._defaults)
        for row_values in zip(*values, strict=True):
            self._copy.write_row(row_values)
        self._copied += len(records)
        self._keys.extend(record["external_id"] for record in records)

    def close(self) -> list[str]:
        """End the COPY (a row the database refuses raises here); returns the rows' keys."""
        try:
            self._statements.close()
        finally:
            self._copy = None
            self._cursor.close()
        return self._keys

    def abort(self) -> None:
        """Stop streaming (the load has failed; its transaction rolls back)."""
        if self._copy is None:
            return
        self._copy = None
        try:
            self._statements.close()
        except psycopg.Error:
            pass  # the load's own error is the one to report
        finally:
            self._cursor.close()
