"""The `geo-service` command line: database, loading, the sample, and the server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from geo_service.cli_state import begin, state
from geo_service.errors import GeoServiceError
from geo_service.progress import progress_bar
from geo_service.settings import Settings

app = typer.Typer(help="geo_service: the civil-affairs bureau's layers in PostGIS.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="The PostGIS database: local cluster and migrations.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")
from geo_service.auth.cli import user_app  # noqa: E402
from geo_service.ops.backup_cli import backup_app  # noqa: E402

app.add_typer(user_app, name="user")
app.add_typer(backup_app)  # backup FILE, restore FILE
from geo_service.gazetteer.cli import places_app  # noqa: E402

app.add_typer(places_app, name="places")  # places search|reverse|hierarchy|export|import
from geo_service.boundaries.cli import boundary_app  # noqa: E402

app.add_typer(boundary_app, name="boundary")  # boundary derive|check|sample-markers|report
from geo_service.coverage.cli import app as coverage_app  # noqa: E402

app.add_typer(coverage_app, name="coverage")  # coverage [options] | coverage indicators|suggest
from geo_service.maps.cli import maps_app  # noqa: E402

app.add_typer(maps_app)  # export-map OUT.html [--kinds …] (the care map, self-contained)
from geo_service.network.cli import network_app  # noqa: E402

app.add_typer(network_app, name="network")  # network info | network isochrones
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option(
        "--debug", help="show the full traceback of an unexpected error")] = False,
) -> None:
    """Read the settings once (GEO_SERVICE_* variables) for every command of this run."""
    from geo_service.maps import vendor

    settings = Settings()
    vendor.use(settings.web.node_modules)
    begin(settings, debug=debug)


def _engine():
    return state().engine()


@db_app.command("start")
def db_start() -> None:
    """Start the embedded PostGIS cluster (initialising it the first time)."""
    from geo_service.db.cluster import LocalCluster
    from geo_service.db.engine import uses_local_cluster

    settings = state().settings.database
    if not uses_local_cluster(settings):
        out.print("GEO_SERVICE_DATABASE_URL is set: using that database, the local cluster "
                  "is left alone")
        return
    cluster = LocalCluster.from_settings(settings)
    cluster.start()
    out.print(f"local PostGIS running on 127.0.0.1:{cluster.port}, data in {cluster.data_dir}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostGIS cluster."""
    from geo_service.db.cluster import LocalCluster
    from geo_service.db.engine import uses_local_cluster

    settings = state().settings.database
    if not uses_local_cluster(settings):
        out.print("GEO_SERVICE_DATABASE_URL is set: the local cluster is not in use")
        return
    stopped = LocalCluster.from_settings(settings).stop()
    out.print("local PostGIS stopped" if stopped else "local PostGIS was not running")


@db_app.command("status")
def db_status() -> None:
    """Which database is in use, whether it is up, and its migration revision."""
    from geo_service.db import migrate
    from geo_service.db.cluster import LocalCluster
    from geo_service.db.engine import make_engine, redact, resolve_url, uses_local_cluster

    settings = state().settings.database
    if uses_local_cluster(settings):
        cluster = LocalCluster.from_settings(settings)
        running = cluster.is_running()
        out.print(f"database: local cluster in {cluster.data_dir} (port {cluster.port})")
        out.print(f"running: {'yes' if running else 'no'}")
        if not running:
            raise typer.Exit(3)
    url = resolve_url(settings, start=False)
    out.print(f"url: {redact(url)}")
    engine = make_engine(url, settings)
    try:
        current = migrate.current_revision(engine)
    except Exception as exc:  # unreachable database: say so, not a traceback
        raise GeoServiceError(f"cannot reach the database: {exc}") from exc
    head = migrate.head_revision(engine)
    out.print(f"schema: {current or 'empty'} (newest {head})"
              + ("" if current == head else " — run geo-service db upgrade"))


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="target revision")] = "heads",
) -> None:
    """Create or migrate the schema (Alembic)."""
    from geo_service.db import migrate

    engine = _engine()
    migrate.upgrade(engine, revision)
    out.print(f"schema at revision {migrate.current_revision(engine)}")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="target revision or 'base'")],
) -> None:
    """Migrate the schema down (base = drop the service's tables)."""
    from geo_service.db import migrate

    engine = _engine()
    migrate.downgrade(engine, revision)
    out.print(f"schema at revision {migrate.current_revision(engine) or 'base'}")


def _parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        header, sep, field = pair.partition("=")
        if not sep or not header or not field:
            raise GeoServiceError(f"--map {pair!r}: write it as 'file header=field'")
        mapping[header.strip()] = field.strip()
    return mapping


@app.command("load")
def load(
    layer: Annotated[str | None, typer.Argument(help="layer id, e.g. eldercare_sites")] = None,
    file: Annotated[Path | None, typer.Argument(
        help="GeoJSON, GeoPackage, Shapefile (zip), KML/KMZ, CSV, XLSX or .osm.pbf (roads)")
    ] = None,
    crs: Annotated[str | None, typer.Option(
        help="CRS of the coordinates: EPSG:n, gcj02 (Amap/Tencent) or bd09 (Baidu); "
             "default: the file's own, else EPSG:4490")] = None,
    kind: Annotated[str | None, typer.Option(help="kind for rows without a 类型 column")] = None,
    map_: Annotated[list[str], typer.Option("--map", help="column mapping 'header=field'")] = [],  # noqa: B006
    sheet: Annotated[str | None, typer.Option(help="Excel sheet name (default: first)")] = None,
    layer_name: Annotated[str | None, typer.Option(
        "--layer", help="layer of a multi-layer GeoPackage")] = None,
    header_row: Annotated[int | None, typer.Option(
        help="row number of the header (default: found among the first rows)")] = None,
    coord_column: Annotated[str | None, typer.Option(
        help="one column holding 'lon,lat' (e.g. 坐标)")] = None,
    xy: Annotated[str, typer.Option(
        help="order of X/Y columns: easting,northing (default) or northing,easting "
             "(survey X = north)")] = "easting,northing",
    source: Annotated[str | None, typer.Option(
        help="the data's source as the public map shows it, e.g. '区民政局养老服务科 2026年台账' "
             "(default: the row's existing source, else the layer's; never a file name)")] = None,
    clear_empty: Annotated[bool, typer.Option(
        help="an empty cell clears the stored value (default: left unchanged)")] = False,
    skip_bad: Annotated[bool, typer.Option(help="load good rows, report bad ones")] = False,
    dry_run: Annotated[bool, typer.Option(
        help="show what would be inserted/updated/retired, write nothing")] = False,
    errors_out: Annotated[Path | None, typer.Option(
        help="write the rejected rows with a 错误原因 column to this XLSX")] = None,
    replace_scope: Annotated[str | None, typer.Option(
        help="township=CODE: facilities of that township and the file's kinds missing "
             "from the file become 停业 / not public")] = None,
    allow_near_duplicates: Annotated[bool, typer.Option(
        help="load even when rows look like duplicates")] = False,
    undo: Annotated[int | None, typer.Option(
        help="undo the load with this run id (restores previous versions)")] = None,
) -> None:
    """Load a file into a layer, all-or-nothing (or skipping bad rows if asked); or undo a load."""
    from geo_service.ingest.cli_report import print_report, run_load

    engine = _engine()
    if undo is not None:
        from geo_service.ingest.history import undo_run
        from geo_service.ingest.loader import _who

        with engine.begin() as conn:
            out.print(undo_run(conn, undo, _who()).summary())
        return
    if layer is None or file is None:
        raise GeoServiceError("请给出图层和文件：geo-service load 图层 文件（或 --undo 导入编号）")
    with progress_bar(sys.stderr.isatty()) as progress:
        report = run_load(engine, layer, file, progress=progress, crs=crs, kind=kind,
                          mapping=_parse_mapping(map_), sheet=sheet, layer_name=layer_name,
                          header_row=header_row, coord_column=coord_column, xy=xy,
                          source=source, clear_empty=clear_empty, skip_bad=skip_bad,
                          dry_run=dry_run, errors_out=errors_out, replace_scope=replace_scope,
                          allow_near_duplicates=allow_near_duplicates)
    print_report(report, out, err)
    if layer == "roads" and not dry_run:
        from geo_service.network.cli import print_graph_summary

        print_graph_summary(engine, err)


@app.command("template")
def template(
    layer: Annotated[str, typer.Argument(help="layer id, e.g. eldercare_sites")],
    out_file: Annotated[Path | None, typer.Argument(help="XLSX to write")] = None,
) -> None:
    """Write an XLSX template for a layer: recognised Chinese headers, 填写说明, kind lists."""
    from geo_service.ingest.workbooks import write_template

    path = write_template(layer, out_file)
    out.print(f"模板已写入 {path}")


@app.command("sample")
def sample(
    rebuild: Annotated[bool, typer.Option(
        help="regenerate layers/sample from ../shared/data first")] = False,
) -> None:
    """Load the 大足 sample (illustrative facilities and areas; real outline and names)."""
    from geo_service.sample import load_sample, rebuild_sample

    engine = state().migrated_engine()
    if rebuild:
        rebuild_sample(state().settings.data.shared_data_dir)
    with progress_bar(sys.stderr.isatty()) as progress:
        reports = load_sample(engine, progress=progress)
    for report in reports:
        out.print(report.summary())


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(
        help="address to listen on (default GEO_SERVICE_HOST, else 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(
        help="port (default GEO_SERVICE_PORT, else 8000)")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="worker processes (default GEO_SERVICE_WORKERS, else one per core)")] = None,
) -> None:
    """Run the HTTP service (several worker processes share one login throttle)."""
    import os

    from geo_service.api import serving

    settings = state().settings
    host = host or settings.server.host
    port = port or settings.server.port
    count = workers or settings.server.worker_count()
    state().migrated_engine().dispose()  # the schema first; each worker opens its own pool
    # each worker process builds its own Settings from the environment: tell it how many
    # workers share the anonymous rate limit
    os.environ["GEO_SERVICE_WORKERS"] = str(count)
    out.print(f"geo_service on http://{host}:{port} ({count} worker"
              f"{'s' if count > 1 else ''})")
    # the service logs every request itself, as one JSON line without the query string
    # (README "Operations"); uvicorn's plain-text line, with it, only when asked for
    code = serving.run(host, port, count, access_log=settings.server.access_log)
    if code:
        raise typer.Exit(code)


def main() -> None:
    """Entry point: user errors go to stderr with exit code 1 (a traceback only with --debug)."""
    try:
        app()
    except GeoServiceError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # last resort: a message, not a traceback (unless --debug)
        from sqlalchemy.exc import OperationalError

        if "--debug" in sys.argv[1:]:
            import traceback

            traceback.print_exc()

        if isinstance(exc, OperationalError):
            err.print(f"error: database unavailable: {exc.orig}", markup=False)
        else:
            err.print(f"error: {type(exc).__name__}: {exc}", markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
