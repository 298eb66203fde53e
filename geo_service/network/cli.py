"""`geo-service network`: the road graph's size and islands, and isochrones for QGIS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from geo_service.errors import GeoServiceError
from geo_service.network.speeds import Speeds

network_app = typer.Typer(help="Road network: graph summary (连通性) and isochrones (等时圈).")
MODE_HELP = "walk (步行) | drive (驾车)"


def _engine() -> Engine:
    from geo_service.cli_state import state

    return state().migrated_engine()


def _speeds() -> Speeds:
    from geo_service.cli_state import state

    return Speeds.configured(state().settings.data)


def print_graph_summary(engine: Engine, console: Console | None = None) -> dict:
    """Print the graph's size and, per mode, its connected parts (islands are warnings)."""
    from geo_service.network.store import road_graph

    console = console or Console(stderr=True, soft_wrap=True)
    summary = road_graph(engine).summary(_speeds())
    table = Table(title=f"道路网: {summary['roads']} 条道路, {summary['edges']} 段, "
                        f"{summary['nodes']} 个节点, {summary['km']:g} 公里")
    for col in ("方式", "可用路段", "公里", "连通部分", "最大部分占比"):
        table.add_column(col)
    for mode, title in (("walk", "步行"), ("drive", "驾车")):
        c = summary[mode]
        share = "—" if c["largest_share"] is None else f"{c['largest_share']:.1%}"
        table.add_row(title, str(c["edges"]), f"{c['km']:g}", str(c["components"]), share)
    console.print(table)
    for mode, title in (("walk", "步行"), ("drive", "驾车")):
        c = summary[mode]
        if c["components"] > 1:
            console.print(f"警告: {title}网有 {c['components'] - 1} 个孤立部分, 未自动连接; "
                          "落在孤立部分上的点到不了主网上的设施")
            for island in c["islands"][:5]:
                x, y = island["at_xy_epsg4544"]
                console.print(f"  孤立部分 {island['nodes']} 个节点, {island['km']:g} 公里, "
                              f"位于 EPSG:4544 ({x:.0f}, {y:.0f})")
    return summary


@network_app.command("info")
def info(
    format_: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
) -> None:
    """The road graph built from the roads layer: size, speeds, connected parts per mode."""
    engine = _engine()
    if format_ == "json":
        from geo_service.network.store import road_graph

        typer.echo(json.dumps(road_graph(engine).summary(_speeds()), ensure_ascii=False,
                              indent=1))
        return
    if format_ != "table":
        raise GeoServiceError(f"--format {format_!r}: use table or json")
    print_graph_summary(engine, Console(soft_wrap=True))


@network_app.command("isochrones")
def isochrones_cmd(
    layer: Annotated[str, typer.Option("--layer", "-l", help="site layer")] = "eldercare_sites",
    kind: Annotated[list[str], typer.Option("--kind", "-k", help="kind (repeat)")] = [],  # noqa: B006
    site: Annotated[list[str], typer.Option("--site", help="site id (repeat)")] = [],  # noqa: B006
    minutes: Annotated[str, typer.Option(help="comma-separated minutes")] = "5,10,15",
    mode: Annotated[str, typer.Option(help=MODE_HELP)] = "walk",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="GeoJSON file")] = None,
) -> None:
    """Isochrones (等时圈) of the chosen sites as GeoJSON in EPSG:4490, ready for QGIS."""
    from geo_service.network.service import isochrones_for, parse_minutes

    doc = isochrones_for(_engine(), layer, kind, site, parse_minutes(minutes), mode, _speeds())
    text = json.dumps(doc, ensure_ascii=False)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
