"""Load a file into a layer: read, validate every row, then upsert all-or-nothing."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb
from shapely.prepared import prep
from sqlalchemy import Connection, Engine, Table, select

from geo_service import crs as crsmod
from geo_service.access import looks_like_file_name
from geo_service.catalog import LayerSpec, catalogue
from geo_service.db.models import LAYER_TABLES, admin_areas, ingest_runs
from geo_service.errors import InputFileError, LoadRejectedError
from geo_service.ingest.readers import SourceTable, read_source
from geo_service.ingest.rows import Context, Problem, RowBuilder, map_columns
from geo_service.settings import data_settings

ProgressFn = Callable[[str, int, int], None]
_GEOMETRY_COLUMNS = ("geom", "rep_point", "site_area")
_JSON_COLUMNS = ("extra", "aliases")


@dataclass
class LoadReport:
    """What a load did: counts, skipped rows and notes."""

    layer: str
    file: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line for people."""
        return (
            f"{self.layer} ← {self.file}: {self.rows_read} rows read, {self.inserted} inserted, "
            f"{self.updated} updated, {self.unchanged} unchanged, {len(self.skipped)} skipped"
        )


def load_context(conn: Connection, layer: LayerSpec) -> Context:
    """The district outline (with tolerance) and townships, if loaded, for validation."""
    settings = data_settings()
    ctx = Context()
    rows = conn.execute(
        select(admin_areas.c.code, admin_areas.c.level, admin_areas.c.geom.ST_AsBinary())
        .where(admin_areas.c.level.in_(["district", "township"]))
    ).all()
    district = next((r for r in rows if r.code == settings.district_code), None)
    if district is None:
        ctx.notes.append("the district outline is not loaded yet: positions were not checked "
                         "against it")
    elif layer.id != "admin_areas":
        outline = shapely.from_wkb(bytes(district[2]))
        zone = crsmod.from_metric(crsmod.to_metric(outline).buffer(settings.district_tolerance_m))
        ctx.district = outline
        ctx.district_zone = prep(zone)
    for row in rows:
        if row.level == "township":
            ctx.townships.append((row.code, prep(shapely.from_wkb(bytes(row[2])))))
            ctx.known_codes.add(row.code)
    return ctx


def prepare(
    conn: Connection,
    layer_id: str,
    path: Path,
    *,
    input_crs: str | None = None,
    kind: str | None = None,
    mapping: dict[str, str] | None = None,
    sheet: str | None = None,
    progress: ProgressFn | None = None,
    source: str | None = None,
) -> tuple[list[dict], list[Problem], LoadReport, str, crsmod.InputCRS]:
    """Read and validate a file; nothing is written."""
    cat = catalogue()
    layer = cat.layer(layer_id)
    if kind is not None and layer.canonical_kind(kind) is None:
        raise InputFileError(f"--kind {kind!r} is not a kind of {layer_id}; kinds: "
                             f"{', '.join(layer.kinds) or '(this layer has none)'}")
    table = read_source(path, sheet)
    columns = map_columns(table, layer, cat, mapping)
    _require_columns(table, columns, path)
    chosen = crsmod.parse_crs(input_crs or table.file_crs or None)
    ctx = load_context(conn, layer)
    builder = RowBuilder(layer, columns, chosen, ctx, default_kind=kind,
                         source_name=_source_name(source, layer))
    report = LoadReport(layer=layer_id, file=path.name, rows_read=len(table.frame))
    report.notes.extend(ctx.notes)
    extra = builder.extra_columns(list(table.frame.columns))
    records: list[dict] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    total = len(table.frame)
    rows = table.frame.to_dict("records")
    built = builder.build_many(rows, table.labels, table.geometries, extra)
    for index, (record, row_problems) in enumerate(built):
        label = table.labels[index]
        if record is not None:
            key = record["external_id"]
            if key in seen:
                row_problems.append(Problem(label, f"duplicate key {key!r}: same as {seen[key]}"))
                record = None
            else:
                seen[key] = label
        problems.extend(row_problems)
        if record is not None:
            records.append(record)
        if progress and (index % 200 == 0 or index == total - 1):
            progress("checking rows", index + 1, total)
    if layer_id == "place_names":
        _fill_pinyin(records)
    return records, problems, report, table.sha256, chosen


def _source_name(source: str | None, layer: LayerSpec) -> str:
    """The human source name of a load (--source, else the catalogue's), never a file name."""
    if source is None:
        return layer.default_source
    text = source.strip()
    if not text or looks_like_file_name(text):
        raise InputFileError(f"--source {source!r}: give the data's source as people say it "
                             "(e.g. 区民政局养老服务科 2026年台账), not a file name")
    return text


def _require_columns(table: SourceTable, columns: dict[str, str], path: Path) -> None:
    """A table lacking a name or coordinate column is one clear error, not one per row."""
    if len(table.frame) == 0:
        return
    headers = ", ".join(map(str, table.frame.columns)) or "(none)"
    missing = []
    if "name" not in columns:
        missing.append("名称 (name)")
    if table.geometries is None and "wkt" not in columns and not {"lon", "lat"} <= columns.keys():
        missing.append("经度/纬度 (longitude/latitude) or WKT")
    if missing:
        raise InputFileError(
            f"{path.name}: no {' and no '.join(missing)} column; its columns are: {headers}. "
            "Name yours with --map, e.g. --map '站点名称=name' --map 'X坐标=lon' "
            "--map 'Y坐标=lat'; nothing was loaded"
        )


def _fill_pinyin(records: list[dict]) -> None:
    """Place names without a spelling get the orthographic pinyin (as API edits do)."""
    from geo_service.gazetteer.pinyin import fill_pinyin

    for record in records:
        fill_pinyin(record)


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
    source: str | None = None,
) -> LoadReport:
    """Validate a file and upsert its rows in one transaction; bad rows reject it all."""
    with engine.begin() as conn:
        records, problems, report, sha, chosen = prepare(
            conn, layer_id, path, input_crs=input_crs, kind=kind, mapping=mapping, sheet=sheet,
            progress=progress, source=source,
        )
        if problems and not skip_bad:
            shown = "\n".join(f"  {p}" for p in problems[:50])
            more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
            raise LoadRejectedError(
                f"{path.name}: {len(problems)} problem(s); nothing was loaded "
                f"(use --skip-bad to load the good rows):\n{shown}{more}",
                problems,
            )
        report.skipped = problems
        inserted, updated = upsert(conn, LAYER_TABLES[layer_id], records, progress)
        report.inserted, report.updated = inserted, updated
        report.unchanged = len(records) - inserted - updated
        conn.execute(ingest_runs.insert().values(
            layer=layer_id, file_name=path.name, file_sha256=sha, input_crs=chosen.name,
            rows_read=report.rows_read, rows_inserted=inserted, rows_updated=updated,
            rows_unchanged=report.unchanged, rows_skipped=len(problems),
            problems=[p.as_dict() for p in problems], loaded_by=_who(),
        ))
        from geo_service.gazetteer.index import refresh_search_index

        refresh_search_index(conn)  # the gazetteer's search keys of changed rows
    return report


def upsert(
    conn: Connection, table: Table, records: list[dict], progress: ProgressFn | None = None
) -> tuple[int, int]:
    """Insert or update rows by external_id; unchanged rows are not touched. → (ins, upd).

    Rows are streamed with COPY into a temporary table, then merged with one
    INSERT … ON CONFLICT that only rewrites rows whose values differ.
    """
    if not records:
        return 0, 0
    columns = sorted({k for r in records for k in r})
    changing = [c for c in columns if c != "external_id"]
    stage = sql.Identifier(f"stage_{table.name}")
    target = sql.Identifier(table.name)
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    merge = sql.SQL(
        "INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} "
        "ON CONFLICT (external_id) DO UPDATE SET {sets} "
        "WHERE ({old}) IS DISTINCT FROM ({new}) RETURNING (xmax = 0)"
    ).format(
        target=target, cols=cols, stage=stage,
        sets=sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
                                for c in changing),
        old=sql.SQL(", ").join(sql.SQL("{}.{}").format(target, sql.Identifier(c))
                               for c in changing),
        new=sql.SQL(", ").join(sql.SQL("excluded.{}").format(sql.Identifier(c))
                               for c in changing),
    )
    raw = conn.connection.dbapi_connection
    try:
        with raw.cursor() as cursor:
            cursor.execute(sql.SQL(
                "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {target} "
                "WITH NO DATA"
            ).format(stage=stage, target=target, cols=cols))
            with cursor.copy(sql.SQL("COPY {stage} ({cols}) FROM STDIN").format(
                    stage=stage, cols=cols)) as copy:
                for done, record in enumerate(records, 1):
                    copy.write_row([_copy_value(c, record.get(c)) for c in columns])
                    if progress and (done % 2000 == 0 or done == len(records)):
                        progress("writing", done, len(records))
            cursor.execute(merge)
            flags = [row[0] for row in cursor.fetchall()]
            cursor.execute(sql.SQL("DROP TABLE {stage}").format(stage=stage))
    except psycopg.Error as exc:
        raise LoadRejectedError(f"the database refused the rows: {exc}", []) from exc
    inserted = sum(1 for f in flags if f)
    return inserted, len(flags) - inserted


def _copy_value(column: str, value: object) -> object:
    """A record value in the form COPY takes: geometry as EWKB hex, JSON wrapped."""
    if value is None:
        return None
    if column in _GEOMETRY_COLUMNS:
        return shapely.to_wkb(shapely.set_srid(value, crsmod.STORAGE_SRID), hex=True,
                              include_srid=True)
    if isinstance(value, dict) or (column in _JSON_COLUMNS and isinstance(value, list)):
        return Jsonb(value)
    return value


def _who() -> str:
    """The OS user running the load."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"
