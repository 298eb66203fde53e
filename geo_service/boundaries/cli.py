"""`geo-service boundary …`: derive lines, check topology, sample markers, write a report."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geo_service.access import Principal, Role
from geo_service.boundaries import lines, markers, registry, report, topology
from geo_service.errors import GeoServiceError, LoadRejectedError

boundary_app = typer.Typer(help="Boundary lines, topology checks, markers and inspection "
                                "reports (界线联检).", no_args_is_help=True)
out = Console(soft_wrap=True)


def _engine():
    from geo_service.cli_state import state

    return state().migrated_engine()


def _operator() -> Principal:
    """The person at the terminal (the CLI runs with the database owner's rights)."""
    return Principal(f"cli:{getpass.getuser()}", Role.admin)


@boundary_app.command("derive")
def derive(
    tolerance: Annotated[float, typer.Option(
        help="how far (m) the district outline may lie from a neighbour's outline")]
    = lines.DEFAULT_TOLERANCE_M,
    dry_run: Annotated[bool, typer.Option(help="report only, write nothing")] = False,
) -> None:
    """Derive the township lines and the outer lines split by neighbouring county."""
    from geo_service.cli_state import state

    engine, district = _engine(), state().settings.data.district_code
    if dry_run:
        with engine.connect() as conn:
            result = lines.derive(conn, tolerance, district)
    else:
        result = lines.derive_and_save(engine, _operator(), tolerance, district)
    table = Table("level", "lines", "length (km)")
    for level in ("township", "county", "provincial"):
        chosen = [x for x in result.lines if x.level == level]
        table.add_row(level, str(len(chosen)), f"{sum(x.length_m for x in chosen) / 1000:.3f}")
    out.print(table)
    for line in result.lines:
        if line.level != "township":
            out.print(f"{line.side_a_name}—{line.side_b_name} ({line.level}): "
                      f"{line.length_m / 1000:.3f} km")
    for left in result.leftovers:
        out.print(f"leftover: {left['where']}: {left['length_m']:.1f} m — {left['reason']}")
    summary = result.summary()
    out.print(" ".join(f"{k}={v}" for k, v in summary.items()))


@boundary_app.command("check")
def check(
    output: Annotated[Path | None, typer.Option(help="write the issues as GeoJSON here")]
    = None,
) -> None:
    """Topology of the administrative areas: gaps, overlaps, slivers, invalid rings,
    children outside parents (exit status 1 when there are issues)."""
    engine = _engine()
    with engine.connect() as conn:
        result = topology.check(conn)
    for issue in result["features"]:
        p = issue["properties"]
        where = issue["geometry"]
        spot = _spot(where)
        extra = f", {p['area_m2']} m²" if "area_m2" in p else ""
        out.print(f"{p['type']}: {p['message']}{extra} at {spot}", markup=False)
    if output is not None:
        output.write_text(json.dumps(result, ensure_ascii=False), encoding="utf-8")
        out.print(f"wrote {output}")
    out.print(f"{result['areas_checked']} areas checked, "
              f"{len(result['features'])} issues {result['counts'] or ''}")
    if result["features"]:
        raise typer.Exit(1)


def _spot(geometry: dict) -> str:
    """A lon/lat to look at for an issue (its representative point)."""
    import shapely
    from shapely.geometry import shape

    point = shapely.point_on_surface(shape(geometry))
    return f"{point.x:.6f},{point.y:.6f}"


@boundary_app.command("sample-markers")
def sample_markers(
    lines_: Annotated[int, typer.Option("--lines", help="how many lines get markers")] = 6,
    per_line: Annotated[int, typer.Option(help="markers per line")] = 3,
) -> None:
    """Add ILLUSTRATIVE markers (示意界桩) along some derived lines, for trying the field form."""
    engine = _engine()
    with engine.begin() as conn:
        created = markers.sample_markers(conn, _operator(), lines_, per_line)
    out.print(f"{len(created)} illustrative markers added (numbers 示意-<line>-<n>; "
              "already present ones are kept)")


@boundary_app.command("report")
def write_report(
    line_id: Annotated[int | None, typer.Argument(
        help="boundary line id: its round's latest signed-off record")] = None,
    output: Annotated[Path, typer.Option(
        help="file to write: .html (stands alone, photos inlined) or .pdf (A4, via Chromium)")]
    = Path("联检报告.pdf"),
    round_: Annotated[str | None, typer.Option("--round", help="inspection round "
                                               "(default: newest)")] = None,
    inspection: Annotated[int | None, typer.Option(
        "--inspection", help="report this record (draft or signed) instead")] = None,
) -> None:
    """Write the 联检报告 of one record, or of a line's round, as standalone HTML or a PDF."""
    if output.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise GeoServiceError(f"--output {output.name}: use a .html or .pdf file name")
    if (line_id is None) == (inspection is None):
        raise GeoServiceError("give a LINE_ID (its round's signed-off record) or "
                              "--inspection ID, not both")
    from geo_service.cli_state import state

    server, media = state().settings.server, state().settings.data.media_dir
    base = server.public_url.rstrip("/") or f"http://{server.host}:{server.port}"
    engine = _engine()
    with engine.connect() as conn:
        if line_id is None:
            html = report.render_inspection(conn, inspection or 0, embed_from=media,
                                            base_url=base)
        else:
            html = report.render(conn, line_id, round_, embed_from=media, base_url=base)
    if output.suffix.lower() == ".pdf":
        from geo_service.printing import html_to_pdf

        html_to_pdf(html, output)
    else:
        output.write_text(html, encoding="utf-8")
    out.print(f"wrote {output}")


@boundary_app.command("import-markers")
def import_markers(
    file: Annotated[Path, typer.Argument(help="界桩成果表: .xlsx, .csv, .gpkg or .geojson")],
    dry_run: Annotated[bool, typer.Option(help="check every row, write nothing")] = False,
) -> None:
    """Import a marker list (界桩成果表): all rows or none; errors name row and column."""
    if file.suffix.lower() not in registry.SUFFIXES:
        raise GeoServiceError(f"{file.name}: 用 {', '.join(registry.SUFFIXES)} 文件")
    engine = _engine()
    try:
        with engine.begin() as conn:
            result = registry.import_file(conn, _operator(), file, dry_run=dry_run)
    except LoadRejectedError as exc:
        table = Table("位置", "列", "问题", title=f"{file.name}: 未导入任何界桩")
        for p in exc.problems:
            table.add_row(p["row"], p["column"] or "", p["message"])
        out.print(table)
        raise typer.Exit(1) from None
    table = Table("读入行数", "新登记", "已修改", "未变", title="检查结果 (未写入)" if dry_run
                  else "界桩导入完成")
    s = result.summary()
    table.add_row(*(str(s[k]) for k in ("rows_read", "created", "updated", "unchanged")))
    out.print(table)


@boundary_app.command("export-markers")
def export_markers(
    output: Annotated[Path, typer.Option(help=".xlsx (界桩成果表), .gpkg or .geojson")]
    = Path("界桩成果表.xlsx"),
    line: Annotated[int | None, typer.Option(help="only the markers of this line")] = None,
) -> None:
    """Write the marker registry (界桩成果表) with GK X/Y, lon/lat and latest condition."""
    engine = _engine()
    with engine.connect() as conn:
        count = registry.export(conn, output, line)
    out.print(f"已写出 {output}: {count} 个界桩")


@boundary_app.command("markers")
def list_markers(
    number: Annotated[str | None, typer.Option(help="part of the 界桩编号, e.g. 大荣-00")]
    = None,
    line: Annotated[int | None, typer.Option(help="only the markers of this line")] = None,
) -> None:
    """List markers (search by number): number, type, status, line, latest condition."""
    engine = _engine()
    with engine.connect() as conn:
        found = markers.list_markers(conn, line, number)
    table = Table("界桩编号", "类型", "状态", "界线", "经度", "纬度", "最新状况", "检查日期")
    for m in found:
        table.add_row(m["number"], m["marker_type"], m["status"], str(m["line_id"]),
                      f"{m['lon']:.6f}", f"{m['lat']:.6f}", m["latest_condition"] or "",
                      m["latest_inspected_on"] or "")
    out.print(table)
    out.print(f"共 {len(found)} 个界桩")
