"""Load a file into a layer: read, validate every row, plan the changes, write all-or-nothing.

Merge rules: a column the file lacks leaves that field unchanged; an empty cell leaves it
unchanged unless clear_empty; every changed row's previous version goes to feature_versions
with the load's id, so a load can be undone (ingest.history.undo_run).
"""

from __future__ import annotations

import gc
import getpass
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import psycopg
import shapely
from psycopg import sql
from shapely.geometry.base import BaseGeometry
from shapely.prepared import prep
from sqlalchemy import Connection, Engine, Table, func, select, text
from sqlalchemy.exc import DBAPIError, OperationalError

from geo_service import crs as crsmod
from geo_service.access import looks_like_file_name
from geo_service.catalog import LayerSpec, catalogue
from geo_service.db.models import LAYER_TABLES, admin_areas, ingest_runs
from geo_service.errors import GeoServiceError, InputFileError, LoadRejectedError
from geo_service.ingest.duplicates import Site, name_key, near_duplicates, shared_keys
from geo_service.ingest.history import raw_connection
from geo_service.ingest.readers import SourceTable, read_source
from geo_service.ingest.rows import (
    DERIVED,
    EMPTY,
    FIGURE_PAIRS,
    Context,
    Problem,
    RowBuilder,
    figure_conflicts,
    key_note,
    known_header,
    map_columns,
)
from geo_service.ingest.writing import (
    GEOMETRY_COLUMNS,
    RETIRED_STATUS,
    Change,
    InsertStream,
    Plan,
    ProgressFn,
    write_plan,
)
from geo_service.settings import DEFAULT_DISTRICT_TOLERANCE_M

SinkFn = Callable[[list[dict]], None]
STREAM_CHUNK = 10_000  # rows checked before their insert starts, when a load streams
_GEOMETRY_TOLERANCE = 1e-9  # degrees (0.1 mm): closer is the same position


class LoadTimeoutError(GeoServiceError):
    """A statement of the load ran past the database's statement timeout: nothing was written."""

    status_code = 504


@dataclass
class LoadOptions:
    """How to read and merge a file (the `load` command's options)."""

    input_crs: str | None = None
    kind: str | None = None
    mapping: dict[str, str] | None = None
    sheet: str | None = None
    layer_name: str | None = None
    header_row: int | None = None
    coord_column: str | None = None
    northing_first: bool = False
    source: str | None = None
    clear_empty: bool = False
    skip_bad: bool = False
    dry_run: bool = False
    replace_township: str | None = None
    allow_near_duplicates: bool = False
    errors_out: Path | None = None
    loaded_by: str | None = None
    district_code: str | None = None  # None: the one district in admin_areas
    district_tolerance_m: float = DEFAULT_DISTRICT_TOLERANCE_M


@dataclass
class LoadReport:
    """What a load did (or, with dry_run, would do): counts, changes, skipped rows and notes."""

    layer: str
    file: str
    title: str = ""
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unclaimed: list[str] = field(default_factory=list)
    near_duplicates: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # field → the file's header
    errors_file: Path | None = None
    run_id: int | None = None
    dry_run: bool = False
    indexed: int = 0  # records indexed for place search after the commit
    index_seconds: float = 0.0

    def summary(self) -> str:
        """One line for people."""
        verb = "（预览，未写入）" if self.dry_run else ""
        run = (f"，导入编号 #{self.run_id}（撤销：geo-service load --undo {self.run_id}）"
               if self.run_id else "")
        return (
            f"{self.title or self.layer} ← {self.file}{verb}：读取 {self.rows_read} 行，"
            f"新增 {self.inserted}，更新 {self.updated}，未变 {self.unchanged}，"
            f"停用 {len(self.retired)}，跳过 {len(self.skipped)}{run}"
        )


def load_context(conn: Connection, layer: LayerSpec, district_code: str | None = None,
                 tolerance_m: float = DEFAULT_DISTRICT_TOLERANCE_M) -> Context:
    """The district outline (with tolerance) and townships, if loaded, for validation.

    The district is `district_code`, or the one district row of admin_areas when not given.
    """
    ctx = Context()
    rows = conn.execute(
        select(admin_areas.c.code, admin_areas.c.level, admin_areas.c.geom.ST_AsBinary())
        .where(admin_areas.c.level.in_(["district", "township"]))
    ).all()
    districts = [r for r in rows if r.level == "district"
                 and (district_code is None or r.code == district_code)]
    district = districts[0] if len(districts) == 1 else None
    if district is None:
        ctx.notes.append("区界尚未导入：位置没有与区界核对")
    elif layer.id != "admin_areas":
        outline = shapely.from_wkb(bytes(district[2]))
        zone = crsmod.from_metric(crsmod.to_metric(outline).buffer(tolerance_m))
        ctx.district = outline
        ctx.district_zone = prep(zone)
    for row in rows:
        if row.level == "township":
            ctx.townships.append((row.code, prep(shapely.from_wkb(bytes(row[2])))))
            ctx.known_codes.add(row.code)
    return ctx


@dataclass
class Prepared:
    """A file read and checked: its records, problems, report and the table behind them."""

    records: list[dict]
    problems: list[Problem]
    report: LoadReport
    sha256: str
    crs: crsmod.InputCRS
    table: SourceTable
    columns: dict[str, str]
    builder: RowBuilder | None = None
    extra: list[str] = field(default_factory=list)


def prepare(conn: Connection, layer_id: str, path: Path, options: LoadOptions,
            progress: ProgressFn | None = None) -> Prepared:
    """Read and validate a file; nothing is written."""
    prepared = open_source(conn, layer_id, path, options)
    check_rows(prepared, progress)
    return prepared


def open_source(conn: Connection, layer_id: str, path: Path, options: LoadOptions) -> Prepared:
    """Read a file and map its columns onto the layer; its rows are checked by check_rows."""
    cat = catalogue()
    layer = cat.layer(layer_id)
    if options.kind is not None and layer.canonical_kind(options.kind) is None:
        raise InputFileError(f"--kind「{options.kind}」不是 {layer_id} 的类型；类型有："
                             f"{'、'.join(layer.kinds) or '（本图层没有类型）'}")
    table = read_source(path, options.sheet, layer=options.layer_name,
                        header_row=options.header_row, is_header=known_header(layer, cat))
    mapping = dict(options.mapping or {})
    if options.coord_column:
        mapping[options.coord_column] = "coord"
    columns = map_columns(table, layer, cat, mapping)
    _require_columns(table, columns, path, layer)
    chosen = crsmod.parse_crs(options.input_crs or table.file_crs or None)
    ctx = load_context(conn, layer, options.district_code, options.district_tolerance_m)
    if table.is_extract:
        table = _within_district(table, ctx)
    builder = RowBuilder(layer, columns, chosen, ctx, default_kind=options.kind,
                         source_name=_checked_source(options.source), partial=True,
                         northing_first=options.northing_first)
    report = LoadReport(layer=layer_id, file=path.name, title=layer.title,
                        rows_read=len(table.frame), dry_run=options.dry_run)
    report.notes.extend(table.notes)
    report.notes.extend(ctx.notes)
    extra = builder.extra_columns(list(table.frame.columns))
    report.unclaimed = extra
    report.headers = dict(columns)
    return Prepared([], [], report, table.sha256, chosen, table, columns, builder, extra)


def check_rows(prepared: Prepared, progress: ProgressFn | None = None,
               sink: SinkFn | None = None) -> None:
    """Check every row into prepared.records and .problems; `sink` gets each chunk of
    STREAM_CHUNK new good records as soon as they are checked (and the rest at the end)."""
    table, columns, builder = prepared.table, prepared.columns, prepared.builder
    assert builder is not None, "open_source makes the builder"
    records, problems = prepared.records, prepared.problems
    seen: dict[str, str] = {}
    total = len(table.frame)
    headers = list(table.frame.columns)
    rows = [dict(zip(headers, values, strict=True))
            for values in zip(*(table.frame[h].tolist() for h in headers), strict=True)]
    built = builder.build_many(rows, table.labels, table.geometries, prepared.extra)
    sent = 0
    for index, (record, row_problems) in enumerate(built):
        label = table.labels[index]
        if record is not None:
            key = record["external_id"]
            if key in seen:
                column = columns.get("external_id")
                what = f"编号「{key}」" if column else f"名称「{record['name']}」（同类型）"
                row_problems.append(Problem(label, f"{what}与{seen[key]}重复", column))
                record = None
            else:
                seen[key] = label
                record["_label"] = label
        problems.extend(row_problems)
        if record is not None:
            records.append(record)
        if progress and (index % 200 == 0 or index == total - 1):
            progress("检查各行", index + 1, total)
        if sink is not None and len(records) - sent >= STREAM_CHUNK:
            sent = _send(prepared, sink, sent)
    if sink is not None:
        _send(prepared, sink, sent)
    elif prepared.report.layer == "place_names":
        _fill_pinyin(records)


def _send(prepared: Prepared, sink: SinkFn, sent: int) -> int:
    """Pass the records checked since `sent` to the sink (pinyin filled first)."""
    chunk = prepared.records[sent:]
    if prepared.report.layer == "place_names":
        _fill_pinyin(chunk)
    sink(chunk)
    return len(prepared.records)


def _checked_source(source: str | None) -> str | None:
    """--source as given: a human source name, never a file name (None when not given)."""
    if source is None:
        return None
    text = source.strip()
    if not text or looks_like_file_name(text):
        raise InputFileError(f"--source {source!r}：请写数据来源的名称（如 区民政局养老服务科 "
                             "2026年台账），不要写文件名")
    return text


def _require_columns(table: SourceTable, columns: dict[str, str], path: Path,
                     layer: LayerSpec) -> None:
    """A table lacking a name or coordinate column is one clear error, not one per row."""
    headers = "、".join(map(str, table.frame.columns)) or "（无）"
    missing = []
    if "name" not in columns and not layer.name_optional:
        missing.append("名称")
    has_xy = {"lon", "lat"} <= columns.keys() or "coord" in columns
    if table.geometries is None and "wkt" not in columns and not has_xy:
        missing.append("经度/纬度（或 坐标、WKT）")
    if missing:
        raise InputFileError(
            f"{path.name}：没有{'列，也没有'.join(missing)}列；文件的列有：{headers}。"
            "可用 --map 指定，例如 --map '站点名称=name' --map 'X坐标=lon' --map 'Y坐标=lat'，"
            "或 --coord-column 坐标；什么也没有导入"
        )


def _within_district(table: SourceTable, ctx: Context) -> SourceTable:
    """An extract (e.g. OpenStreetMap) keeps only features touching the district; says how many."""
    if ctx.district_zone is None or table.geometries is None:
        return table
    keep = [i for i, g in enumerate(table.geometries)
            if g is not None and ctx.district_zone.intersects(g)]
    left = len(table.geometries) - len(keep)
    if left:
        ctx.notes.append(f"区域提取文件中有 {left} 条要素在本区范围以外，未导入")
    return replace(table, frame=table.frame.iloc[keep].reset_index(drop=True),
                   geometries=[table.geometries[i] for i in keep],
                   labels=[table.labels[i] for i in keep])


def _fill_pinyin(records: list[dict]) -> None:
    """Place names without a spelling get the orthographic pinyin (as API edits do)."""
    from geo_service.gazetteer.pinyin import fill_pinyin

    for record in records:
        fill_pinyin(record)


# ---------------------------------------------------------------- planning


_PRIVATE_KEYS = ("_label", EMPTY, DERIVED)


@dataclass
class StoredRows:
    """Stored rows with the file's keys, by column: values[column][position of the key]."""

    position: dict[str, int]
    values: dict[str, list]

    def row(self, key: str) -> dict | None:
        """One stored row as {column: value}, or None when the key is new."""
        at = self.position.get(key)
        return None if at is None else {c: v[at] for c, v in self.values.items()}


def _stored_rows(conn: Connection, table: Table, keys: list[str], columns: list[str]
                 ) -> StoredRows:
    """Stored rows with these keys, by column (geometries as shapely)."""
    wanted = [c for c in columns if c in table.c and c != "external_id"]
    select_cols = ", ".join(
        f'ST_AsBinary("{c}") AS "{c}"' if c in GEOMETRY_COLUMNS else f'"{c}"'
        for c in wanted)  # identifiers from the table's own columns
    with raw_connection(conn).cursor() as cursor:  # plain tuples: 100 000 rows come back
        cursor.execute(
            f'SELECT id, external_id{", " + select_cols if select_cols else ""} '
            f'FROM "{table.name}" WHERE external_id = ANY(%s)', (keys,))
        rows = cursor.fetchall()
    names = ["id", "external_id", *wanted]
    columns_of = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    values_of = dict(zip(names, map(list, columns_of), strict=True))
    for c in wanted:  # geometries parsed in one vectorised call per column
        if c in GEOMETRY_COLUMNS:
            values_of[c] = list(shapely.from_wkb(
                [None if v is None else bytes(v) for v in values_of[c]]))
    return StoredRows({key: at for at, key in enumerate(values_of["external_id"])}, values_of)


def _same(old: object, new: object) -> bool:
    """Whether a stored value equals a new one (geometries to 0.1 mm, decimals as floats)."""
    if isinstance(old, BaseGeometry) and isinstance(new, BaseGeometry):
        return bool(old.geom_type == new.geom_type
                    and old.equals_exact(new, _GEOMETRY_TOLERANCE))
    if isinstance(old, Decimal):
        old = float(old)
    if isinstance(old, float) and isinstance(new, int | float):
        return abs(old - float(new)) < 1e-9
    return old == new


def record_values(record: dict) -> dict:
    """A checked record's column values (the loader's own keys off)."""
    values = dict(record)
    for key in _PRIVATE_KEYS:
        values.pop(key, None)
    return values


def insert_values(record: dict, default_source: str) -> dict:
    """A checked record as the row to insert: its values, with a source."""
    values = record_values(record)
    values.setdefault("source", default_source)
    return values


@dataclass
class Staged:
    """Records copied into a temporary table (record_values), and their keys."""

    table: str
    keys: set[str]


def _unchanged_keys(conn: Connection, table: Table, staged: Staged, columns: list[str]
                    ) -> set[str]:
    """Keys whose staged record equals the stored row in every column it carries (exactly:
    what is equal here is unchanged for the per-row comparison too) and whose stored figures
    agree: the common case of a reload, found by one join instead of row by row."""
    same: list[sql.Composable] = [
        sql.SQL("s.{0} IS NOT DISTINCT FROM t.{0}").format(sql.Identifier(c))
        for c in columns if c in table.c and c != "external_id"]
    same += [sql.SQL("NOT coalesce(t.{} > t.{}, false)").format(
                 sql.Identifier(part), sql.Identifier(whole))
             for part, whole in FIGURE_PAIRS if part in table.c and whole in table.c]
    with raw_connection(conn).cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # the join's hash in memory, not on disk
        cursor.execute(sql.SQL(  # the few others come back: new, changed or near-equal rows
            "SELECT s.external_id FROM {s} s LEFT JOIN {t} t ON t.external_id = s.external_id"
            " WHERE t.id IS NULL OR NOT ({same})").format(
                s=sql.Identifier(staged.table), t=sql.Identifier(table.name),
                same=sql.SQL(" AND ").join(same or [sql.SQL("true")])))
        return staged.keys - {row[0] for row in cursor.fetchall()}


def plan_changes(conn: Connection, layer: LayerSpec, records: list[dict],
                 options: LoadOptions, default_source: str,
                 headers: dict[str, str] | None = None, staged: Staged | None = None) -> Plan:
    """Compare records with the stored rows: inserts, updates (with per-field diffs), unchanged.

    `staged`: the records in a temporary table, so the rows equal to their stored version
    are found in the database; the others are compared field by field."""
    table = LAYER_TABLES[layer.id]
    columns = sorted(k for k in set().union(*records) if not k.startswith("_"))
    figures = {f for pair in FIGURE_PAIRS for f in pair if f in table.c}
    same = set() if staged is None else _unchanged_keys(conn, table, staged, columns)
    stored = _stored_rows(conn, table, [r["external_id"] for r in records
                                        if r["external_id"] not in same],
                          sorted(set(columns) | figures))
    plan = Plan()
    for record in records:
        if record["external_id"] in same:
            plan.unchanged += 1
            continue
        before = stored.row(record["external_id"])
        if before is None:
            plan.inserts.append(insert_values(record, default_source))
            continue
        values = record_values(record)
        empty, derived = set(record.get(EMPTY, ())), set(record.get(DERIVED, ()))
        diff: dict[str, tuple[object, object]] = {}
        final = dict(before)  # stored values for columns other rows change and this one lacks
        for column, new in values.items():
            if column == "external_id":
                continue
            old = before.get(column)
            if (column in empty and not options.clear_empty) or (
                    column in derived and old is not None):
                new = old
            elif column == "extra" and isinstance(old, dict):
                new = {**old, **new}
            final[column] = new
            if old is not new and not (type(old) is type(new) and old == new) \
                    and not _same(old, new):
                diff[column] = (old, new)
        for part, message in figure_conflicts(final, layer, headers or {}):
            plan.problems.append(Problem(record["_label"], message + "（与库中原有数字合并后）",
                                         (headers or {}).get(part, part)))
        if diff:
            plan.updates.append((before["id"], final,
                                 Change(record["external_id"], record["name"], diff)))
        else:
            plan.unchanged += 1
    return plan


def _default_source(conn: Connection, table: Table, layer: LayerSpec) -> str:
    """The layer's most common source (a stable name), else the catalogue's; never a file name."""
    found = conn.execute(select(table.c.source).group_by(table.c.source)
                         .order_by(func.count().desc()).limit(1)).scalar()
    return found if found and not looks_like_file_name(found) else layer.default_source


def _retirements(conn: Connection, layer: LayerSpec, records: list[dict],
                 township: str) -> list[tuple[int, str, str]]:
    """Stored facilities of the township and the file's kinds that the file no longer lists."""
    if layer.field("township_code") is None or layer.field("status") is None:
        raise InputFileError(f"--replace-scope 只用于有镇街和状态的设施图层，{layer.id} 不是")
    kinds = sorted({r["kind"] for r in records if r.get("kind")})
    keys = [r["external_id"] for r in records]
    table = LAYER_TABLES[layer.id]
    rows = conn.execute(
        select(table.c.id, table.c.external_id, table.c.name)
        .where(table.c.township_code == township, table.c.kind.in_(kinds),
               table.c.external_id.not_in(keys),
               (table.c.status != RETIRED_STATUS) | table.c.is_public)
        .order_by(table.c.external_id)).all()
    return [(r.id, r.external_id, r.name) for r in rows]


def _duplicate_messages(conn: Connection, layer: LayerSpec, records: list[dict],
                        inserted_keys: set[str]) -> list[str]:
    """Near-duplicates among the file's rows, and of its new rows against stored ones.

    Only rows whose name key is repeated (in the file, or by a stored row) can be one, so
    only those become sites to compare."""
    if not layer.has_kind or layer.geometry != "Point":
        return []
    table = LAYER_TABLES[layer.id]
    keys = [name_key(r["name"]) for r in records]
    stored: list[Site] = []
    if inserted_keys:
        stored = [Site(row[0], row[1], row[2], row[3], row[4], "库中记录") for row in conn.execute(
            select(table.c.external_id, table.c.name, table.c.kind, table.c.geom.ST_X(),
                   table.c.geom.ST_Y())).all()]
    stored_keys = {name_key(site.name) for site in stored}
    wanted = shared_keys(keys, stored_keys)
    picked = [i for i, key in enumerate(keys) if key in wanted]
    points = np.empty(len(picked), dtype=object)
    points[:] = [records[i]["geom"] for i in picked]
    xy = shapely.get_coordinates(points).tolist()  # one (x, y) per point, in order
    sites = [Site(records[i]["external_id"], records[i]["name"], records[i].get("kind") or "",
                  x, y, records[i]["_label"]) for i, (x, y) in zip(picked, xy, strict=True)]
    messages = near_duplicates(sites, [])
    new = [s for s in sites if s.key in inserted_keys and name_key(s.name) in stored_keys]
    if new:  # against nothing stored, the file's own check above has said it all
        messages += near_duplicates(new, [s for s in stored if name_key(s.name) in wanted])
    return sorted(set(messages), key=messages.index)


_gc_lock = threading.Lock()
_gc_holders = 0  # loads running with the cycle collector paused
_gc_was_enabled = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a load holds its rows (reference counting still
    frees them): with 100 000 rows alive it rescanned them again and again, tripling the
    check's time. Nested and concurrent loads share one pause; the state is then restored."""
    global _gc_holders, _gc_was_enabled
    with _gc_lock:
        if _gc_holders == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holders += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_was_enabled:
                gc.enable()


def load_file(
    engine: Engine,
    layer_id: str,
    path: Path,
    *,
    input_crs: str | None = None,
    kind: str | None = None,
    mapping: dict[str, str] | None = None,
    sheet: str | None = None,
    skip_bad: bool = False,
    progress: ProgressFn | None = None,
    options: LoadOptions | None = None,
) -> LoadReport:
    """Validate a file and merge its rows in one transaction; bad rows reject it all."""
    opts = options or LoadOptions()
    opts.input_crs = input_crs or opts.input_crs
    opts.kind = kind or opts.kind
    opts.mapping = mapping or opts.mapping
    opts.sheet = sheet or opts.sheet
    opts.skip_bad = skip_bad or opts.skip_bad
    try:
        with cyclic_gc_paused():
            with engine.begin() as conn:
                report = _load(conn, layer_id, path, opts, progress)
            if not report.dry_run:
                report.indexed, report.index_seconds = index_loaded(engine, layer_id, progress)
    except OperationalError as exc:
        if isinstance(exc.orig, psycopg.errors.QueryCanceled):
            raise _timeout(engine, path) from exc
        raise
    except psycopg.errors.QueryCanceled as exc:
        raise _timeout(engine, path) from exc
    return report


def index_loaded(engine: Engine, layer_id: str,
                 progress: ProgressFn | None = None) -> tuple[int, float]:
    """Index the committed load's records, in transactions of their own: merge the layer's
    GIN name index's pending entries, and index the records for place search.

    The layers do not wait for this: the load has committed, queries already use the
    pending entries, and the records' old search rows went with the load, so until this
    ends they are missing from searches, never stale. Returns (records indexed, seconds);
    what is interrupted stays queued.
    """
    from geo_service.gazetteer.index import refresh_search_index

    started = time.perf_counter()
    if progress:
        progress("更新索引", 0, 1)
    _merge_pending_gin(engine, LAYER_TABLES[layer_id].name)
    with engine.begin() as conn:
        done = refresh_search_index(conn)
    if progress:
        progress("更新索引", 1, 1)
    return done, time.perf_counter() - started


def _merge_pending_gin(engine: Engine, table_name: str) -> None:
    """Move the pending entries of the table's GIN indexes into the index proper (as
    autovacuum would later); a role that does not own the table leaves it to autovacuum."""
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "SELECT gin_clean_pending_list(i.indexrelid) FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam"
                " WHERE i.indrelid = CAST(:table AS regclass) AND a.amname = 'gin'"),
                {"table": table_name})
    except DBAPIError as exc:
        if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise


def _timeout(engine: Engine, path: Path) -> LoadTimeoutError:
    """The message for a load cut off by the statement timeout."""
    with engine.connect() as conn:
        limit = conn.execute(text("SHOW statement_timeout")).scalar()
    return LoadTimeoutError(
        f"{path.name}：数据库语句超时（statement_timeout = {limit}），导入已整体撤回，"
        "什么也没有写入。"
        "可以：稍后（数据库不忙时）再试；把文件分成几份导入；或调大"
        " GEO_SERVICE_STATEMENT_TIMEOUT_MS（毫秒）后再试")


def _errors_workbook(opts: LoadOptions, prepared: Prepared, report: LoadReport) -> None:
    """Write the rejected rows to --errors-out (if asked and there are any)."""
    if report.skipped and opts.errors_out is not None:
        from geo_service.ingest.workbooks import write_errors

        write_errors(opts.errors_out, prepared.table, report.skipped)
        report.errors_file = opts.errors_out


def _load(conn: Connection, layer_id: str, path: Path, opts: LoadOptions,
          progress: ProgressFn | None) -> LoadReport:
    """The load inside its transaction.

    The checked records stream to the database while later rows are checked: into an empty
    layer itself, else into a stage that planning compares with the layer in one join. A
    file that is then rejected is rolled back with everything else."""
    prepared = open_source(conn, layer_id, path, opts)
    report = prepared.report
    layer = catalogue().layer(layer_id)
    table = LAYER_TABLES[layer_id]
    who = opts.loaded_by or _who()
    default_source = _checked_source(opts.source) or _default_source(conn, table, layer)
    stream: InsertStream | None = None
    compared: str | None = None  # the records, staged for planning in the database
    if _is_empty(conn, table):
        if not opts.dry_run:  # the new rows go straight in
            report.run_id = _start_run(conn, layer_id, path, prepared, who, default_source)
            stream = InsertStream(conn, table, defaults={"source": default_source})
    else:
        compared = _compare_stage(conn, table)
        stream = InsertStream(conn, table, compared)
    streamed = _checked_rows(prepared, opts, progress, stream)
    if stream is not None and compared is None and streamed:
        _keep_inserted_ids(conn, table, report.run_id, streamed)
    problems, records = prepared.problems, prepared.records
    report.skipped = problems
    _errors_workbook(opts, prepared, report)
    if problems and not opts.skip_bad and not opts.dry_run:
        shown = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  ……另有 {len(problems) - 50} 处" if len(problems) > 50 else ""
        saved = (f"\n有问题的行已写入 {opts.errors_out}（含 错误原因 列，改好后可重新导入）"
                 if opts.errors_out else "")
        raise LoadRejectedError(
            f"{path.name}：有 {len(problems)} 处问题，什么也没有导入"
            f"（--skip-bad 可只导入没有问题的行；--errors-out 错误.xlsx 可导出有问题的行）："
            f"\n{shown}{more}{saved}",
            problems,
        )
    inserted = stream is not None and compared is None  # every record new and written
    staged = None if compared is None else Staged(compared, set(streamed))
    plan = Plan() if inserted else plan_changes(conn, layer, records, opts, default_source,
                                               prepared.columns, staged)
    if plan.problems:
        report.skipped = problems = problems + plan.problems
        _errors_workbook(opts, prepared, report)
        if not opts.dry_run:
            raise LoadRejectedError(
                f"{path.name}：有 {len(plan.problems)} 处数字与库中原有数字矛盾，什么也没有导入：\n"
                + "\n".join(f"  {p}" for p in plan.problems[:50]), plan.problems)
    # against a layer that was empty, the file's own rows are all there is to compare
    inserted_keys = set() if inserted else {r["external_id"] for r in plan.inserts}
    report.near_duplicates = _duplicate_messages(conn, layer, records, inserted_keys)
    if opts.replace_township:
        retired = _retirements(conn, layer, records, opts.replace_township)
        plan.retire_ids = [row_id for row_id, _, _ in retired]
        report.retired = [f"{name}{key_note(key)}" for _, key, name in retired]
    report.inserted, report.updated, report.unchanged = (
        len(plan.inserts) + (len(streamed) if inserted else 0), len(plan.updates),
        plan.unchanged)
    report.changes = [change for _, _, change in plan.updates]
    if opts.dry_run:
        return report
    if report.near_duplicates and not opts.allow_near_duplicates:
        shown = "\n".join(f"  {m}" for m in report.near_duplicates[:50])
        raise LoadRejectedError(
            f"{path.name}：有 {len(report.near_duplicates)} 处疑似重复，什么也没有导入"
            f"（确认不是重复后加 --allow-near-duplicates）：\n{shown}", [])
    if report.run_id is None:
        report.run_id = _start_run(conn, layer_id, path, prepared, who, default_source)
    with _rejected_by_database():
        write_plan(conn, table, plan, report.run_id, who, progress)
    conn.execute(ingest_runs.update().where(ingest_runs.c.id == report.run_id).values(
        rows_inserted=report.inserted, rows_updated=report.updated,
        rows_unchanged=report.unchanged, rows_skipped=len(problems),
        rows_retired=len(plan.retire_ids), problems=[p.as_dict() for p in problems]))
    conn.execute(text(
        "INSERT INTO audit_log (actor, role, action, table_name, record_id, note) "
        "VALUES (:who, 'loader', 'other', :layer, :run, :note)"),
        {"who": who, "layer": layer_id, "run": str(report.run_id), "note": report.summary()})
    return report  # load_file indexes the records for search once this has committed


def _is_empty(conn: Connection, table: Table) -> bool:
    """Whether the layer has no rows at all."""
    return not conn.execute(select(select(table.c.id).limit(1).exists())).scalar()


def _start_run(conn: Connection, layer_id: str, path: Path, prepared: Prepared, who: str,
               source: str) -> int:
    """The load's ingest_runs row (its counts are filled in when it has written)."""
    return conn.execute(ingest_runs.insert().values(
        layer=layer_id, file_name=path.name, file_sha256=prepared.sha256,
        input_crs=prepared.crs.name, rows_read=prepared.report.rows_read, rows_inserted=0,
        rows_updated=0, rows_unchanged=0, rows_skipped=0, loaded_by=who, source=source,
    ).returning(ingest_runs.c.id)).scalar_one()


@contextmanager
def _rejected_by_database() -> Iterator[None]:
    """A constraint the database enforces, broken by the file's rows: a rejected load."""
    try:
        yield
    except psycopg.errors.QueryCanceled:
        raise
    except psycopg.Error as exc:
        raise LoadRejectedError(f"数据库拒绝了这些行：{exc}", []) from exc


def _checked_rows(prepared: Prepared, opts: LoadOptions, progress: ProgressFn | None,
                  stream: InsertStream | None) -> list[str]:
    """check_rows, streaming the good records into `stream` if there is one; returns the
    streamed records' keys. Once a row is bad (and not skipped) nothing more is sent: the
    load will be rejected."""
    if stream is None:
        check_rows(prepared, progress)
        return []

    def send(chunk: list[dict]) -> None:
        if not (prepared.problems and not opts.skip_bad and not opts.dry_run):
            stream.put(chunk)

    try:
        with _rejected_by_database():
            check_rows(prepared, progress, send)
            return stream.close()
    finally:
        stream.abort()


def _compare_stage(conn: Connection, table: Table) -> str:
    """An empty temporary table shaped like the layer (no constraints), for the records."""
    name = "load_compare"
    with raw_connection(conn).cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
        cursor.execute(sql.SQL(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM {} WITH NO DATA").format(
                sql.Identifier(name), sql.Identifier(table.name)))
    return name


def _keep_inserted_ids(conn: Connection, table: Table, run_id: int | None,
                       keys: list[str]) -> None:
    """The ids of the rows streamed into the layer, in the run's record (for --undo)."""
    with raw_connection(conn).cursor() as cursor:
        cursor.execute(sql.SQL(
            "UPDATE ingest_runs SET inserted_ids = ARRAY(SELECT id FROM {t}"
            " WHERE external_id = ANY(%s) ORDER BY id) WHERE id = %s").format(
                t=sql.Identifier(table.name)), (keys, run_id))


def _who() -> str:
    """The OS user running the load."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"
