"""`geo-service coverage` (and `coverage indicators`, `coverage suggest`): planners' commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ValidationError

from geo_service.coverage.labels import (
    ILLUSTRATIVE_NOTE_ZH,
    STATUS_TITLES,
    pct,
    solution_text,
    weight_title,
    whole,
)
from geo_service.errors import GeoServiceError
from geo_service.progress import steps

app = typer.Typer(help="Coverage analysis for planners: who is beyond reach, plan indicators, "
                  "where new sites help most.")

Layer = Annotated[str, typer.Option("--layer", "-l", help="eldercare_sites | funeral_sites | "
                                    "child_sites")]
Kinds = Annotated[list[str], typer.Option("--kind", "-k", help="kind to include (repeat; "
                                          "default: all kinds of the layer)")]
Radius = Annotated[float | None, typer.Option("--radius", help="one radius in metres for every "
                                              "kind (overrides the defaults)")]
KindRadius = Annotated[list[str], typer.Option("--radius-for", help="'KIND=METRES' per kind")]
Add = Annotated[list[str], typer.Option("--add", help="what-if site 'lon,lat,kind[,radius_m"
                                        "[,beds]]' (repeat; nothing is written)")]
Remove = Annotated[list[str], typer.Option("--remove", help="site id to leave out (repeat)")]
Weight = Annotated[str | None, typer.Option(help="population_60plus | population_0_17 | "
                                            "population (default by layer)")]
Out = Annotated[Path | None, typer.Option("--out", "-o", help="output file (default: stdout "
                                          "for json/geojson)")]
Building = Annotated[bool, typer.Option("--include-under-construction",
                                        help="also count sites with status 在建")]
RadiusBy = Annotated[str, typer.Option("--radius-by", help="residents (radius by the unit: "
                                       "urban community vs rural village, default) | site "
                                       "(by where the site stands)")]
Distance = Annotated[str, typer.Option("--distance", help="straight | walk | drive (walk/drive "
                                      "follow the roads layer)")]
Minutes = Annotated[float | None, typer.Option("--minutes", help="one travel-time radius in "
                                               "minutes for every radius kind (walk/drive)")]


def _request(cls: type[BaseModel], **fields: Any) -> Any:
    """Build a request model; validation problems become a one-line user error."""
    try:
        return cls(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}"
                             for e in exc.errors())
        raise GeoServiceError(problems) from None


def parse_kind_radii(pairs: list[str]) -> dict[str, float]:
    """'KIND=METRES' pairs → {kind: metres}."""
    out = {}
    for pair in pairs:
        kind, sep, value = pair.partition("=")
        try:
            out[kind.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not kind.strip():
            raise GeoServiceError(f"--radius-for {pair!r}: write it as 'KIND=METRES'")
    return out


def parse_sites(items: list[str]) -> list[dict]:
    """'lon,lat,kind[,radius_m[,beds]]' → what-if site dicts."""
    sites = []
    for item in items:
        parts = [p.strip() for p in item.replace("，", ",").split(",")]
        if len(parts) < 3:
            raise GeoServiceError(f"--add {item!r}: write it as 'lon,lat,kind[,radius_m[,beds]]'")
        try:
            site: dict[str, Any] = {"lon": float(parts[0]), "lat": float(parts[1]),
                                    "kind": parts[2]}
            if len(parts) > 3 and parts[3]:
                site["radius_m"] = float(parts[3])
            if len(parts) > 4 and parts[4]:
                site["beds"] = int(parts[4])
        except ValueError as exc:
            raise GeoServiceError(f"--add {item!r}: {exc}") from None
        sites.append(site)
    return sites


def _study():
    from geo_service.cli_state import state
    from geo_service.coverage.data import load_study
    from geo_service.network.speeds import Speeds

    settings = state().settings.data
    return load_study(state().engine(), settings.district_code,
                      Speeds.configured(settings))


def _emit(payload: dict, out: Path | None) -> None:
    text = json.dumps(payload, ensure_ascii=False, indent=1, default=str)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)


@app.callback(invoke_without_command=True)
def coverage(
    ctx: typer.Context,
    layer: Layer = "eldercare_sites",
    kind: Kinds = [],  # noqa: B006
    radius: Radius = None,
    radius_for: KindRadius = [],  # noqa: B006
    weight: Weight = None,
    add: Add = [],  # noqa: B006
    remove: Remove = [],  # noqa: B006
    include_under_construction: Building = False,
    radius_by: RadiusBy = "residents",
    access: Annotated[bool, typer.Option(help="also 2SFCA beds per 1 000 of the weight")] = False,
    catchment: Annotated[float, typer.Option(help="2SFCA catchment in metres")] = 10_000,
    decay: Annotated[str, typer.Option(help="2SFCA decay: none | linear | gaussian")] = "none",
    format_: Annotated[str, typer.Option("--format", "-f",
                                         help="json | geojson | html | xlsx")] = "json",
    out: Out = None,
    distance: Distance = "straight",
    minutes: Minutes = None,
    catchment_minutes: Annotated[float | None, typer.Option(
        help="2SFCA catchment in travel minutes (walk/drive)")] = None,
) -> None:
    """Who is within reach of which sites: per unit, township and district, gaps, 2SFCA."""
    if ctx.invoked_subcommand is not None:
        return
    from geo_service.coverage.indicators import compute_indicators
    from geo_service.coverage.request import CoverageRequest
    from geo_service.coverage.service import run_coverage

    if format_ not in ("json", "geojson", "html", "xlsx"):
        raise GeoServiceError(f"--format {format_!r}: use json, geojson, html or xlsx")
    if format_ in ("html", "xlsx") and out is None:
        raise GeoServiceError(f"--format {format_} needs --out FILE")
    req = _request(CoverageRequest, layer=layer, kinds=kind, radius_m=radius,
                   kind_radii=parse_kind_radii(radius_for), weight=weight,
                   include_under_construction=include_under_construction,
                   add_sites=parse_sites(add), remove_sites=remove, radius_by=radius_by,
                   access={"catchment_m": catchment, "decay": decay,
                           "catchment_minutes": catchment_minutes} if access else None,
                   distance=distance, minutes=minutes)
    with steps(3) as step:
        step("读取村(社区)和设施 reading units and sites")
        study = _study()
        step("计算覆盖 computing coverage")
        result = run_coverage(study, req)
        step("输出结果 writing the result")
        if format_ == "json":
            _emit(result.to_json(), out)
        elif format_ == "geojson":
            _emit(result.to_geojson(), out)
        elif format_ == "html":
            from geo_service.coverage.report_html import render_report

            assert out is not None
            out.write_text(render_report(result, compute_indicators(study)), encoding="utf-8")
        else:
            from geo_service.coverage.report_xlsx import write_workbook

            assert out is not None
            write_workbook(result, out, compute_indicators(study))
    if out is not None and format_ in ("html", "xlsx"):
        typer.echo(f"wrote {out}", err=True)


@app.command("indicators")
def indicators(
    format_: Annotated[str, typer.Option("--format", "-f", help="table | json")] = "table",
    out: Out = None,
) -> None:
    """The plan indicators (2025 targets) for the district and every township."""
    from rich.console import Console
    from rich.table import Table

    from geo_service.coverage.indicators import compute_indicators

    if format_ not in ("table", "json"):
        raise GeoServiceError(f"--format {format_!r}: use table or json")
    result = compute_indicators(_study())
    if format_ == "json":
        _emit(result, out)
        return
    table = Table(title=f"{result['district']['name']} 规划指标(2025 年目标)")
    for col in ("指标", "现值", "2025 年目标", "状态"):
        table.add_column(col)
    for r in result["district"]["indicators"]:
        table.add_row(r["title"], indicator_cell(r, "value"), indicator_cell(r, "target", True),
                      STATUS_TITLES.get(r["status"], r["status"]))
    console = Console(soft_wrap=True)
    console.print(table)
    missing = [u["name"] for t in result["townships"] for u in t["units_without_station"]]
    console.print(f"尚无养老服务站点的村(社区)：{'、'.join(missing) or '无'}")
    if result.get("illustrative"):
        console.print(ILLUSTRATIVE_NOTE_ZH)


def indicator_cell(r: dict, key: str, compare: bool = False) -> str:
    """An indicator's value or target as the CLI table shows it (percent rounded once)."""
    value = r[key]
    if value is None:
        return "—"
    shown = pct(value) if r["unit"] == "share" else (
        f"{whole(value)} 张" if r["unit"] == "beds" else f"{value:.1f}")
    return f"{'≥' if r['compare'] == '>=' else '≤'} {shown}" if compare else shown


def _suggest_table(result: dict) -> None:
    """The suggestion as Chinese tables: before/after, method, sites, minimum for all."""
    from rich.console import Console
    from rich.table import Table

    w = result["weight"]
    wt = weight_title(w)
    b, a = result["before"], result["after"]
    console = Console(soft_wrap=True)
    head = Table(title=f"建议新增{result['new_kind']} {len(result['sites'])} 处")
    for col in ("", "村(社区)已覆盖", f"已覆盖{wt}(人)", "覆盖率"):
        head.add_column(col)
    for label, d in (("新增前", b), ("新增后", a)):
        head.add_row(label, f"{d['covered_units']} / {d['units']}", str(d[f"covered_{w}"]),
                     pct(d[f"covered_{w}"], d[w]))
    console.print(head)
    console.print(f"求解方法：{solution_text(result['mclp'])}")
    for note in result["mclp"].get("notes", []):
        console.print(note)
    sites = Table()
    for col in ("序号", "名称", "经度", "纬度", f"新增覆盖{wt}(不重复计)"):
        sites.add_column(col)
    for s in result["sites"]:
        sites.add_row(str(s["rank"]), s["name"], f"{s['lon']:.5f}", f"{s['lat']:.5f}",
                      str(whole(s["added_weight"])))
    console.print(sites)
    sc = result.get("set_cover")
    if sc:
        console.print(f"全覆盖最少需新增 {sc['sites_needed']} 处(已核验全部覆盖："
                      f"{'是' if sc['complete'] else '否'})；{solution_text(sc)}")
    if result.get("illustrative"):
        console.print(ILLUSTRATIVE_NOTE_ZH)


@app.command("suggest")
def suggest_cmd(
    layer: Layer = "eldercare_sites",
    kind: Kinds = [],  # noqa: B006
    radius: Radius = None,
    radius_for: KindRadius = [],  # noqa: B006
    weight: Weight = None,
    add: Add = [],  # noqa: B006
    remove: Remove = [],  # noqa: B006
    include_under_construction: Building = False,
    radius_by: RadiusBy = "residents",
    count: Annotated[int, typer.Option("--count", "-n", help="new sites to place")] = 3,
    new_kind: Annotated[str | None, typer.Option(help="kind of the new sites")] = None,
    new_radius: Annotated[float | None, typer.Option(help="radius of the new sites (m)")] = None,
    candidates: Annotated[str, typer.Option(help="units | grid")] = "units",
    grid_spacing: Annotated[float, typer.Option(help="grid spacing in metres")] = 1000,
    method: Annotated[str, typer.Option(help="auto | exact | greedy")] = "auto",
    solver: Annotated[str, typer.Option(help="MIP solver: highs | cbc")] = "highs",
    time_limit: Annotated[float, typer.Option("--time-limit", help="wall-time budget in "
                                              "seconds (model building included)")] = 60,
    format_: Annotated[str, typer.Option("--format", "-f", help="json | table | html")
                       ] = "json",
    out: Out = None,
    distance: Distance = "straight",
    minutes: Minutes = None,
) -> None:
    """Where N new sites cover the most uncovered demand (MCLP), and the minimum for all."""
    from geo_service.coverage.request import SuggestRequest
    from geo_service.coverage.suggest import suggest, suggestion_result

    if format_ not in ("json", "table", "html"):
        raise GeoServiceError(f"--format {format_!r}: use json, table or html")
    if format_ == "html" and out is None:
        raise GeoServiceError("--format html needs --out FILE")
    req = _request(SuggestRequest, layer=layer, kinds=kind, radius_m=radius,
                   kind_radii=parse_kind_radii(radius_for), weight=weight,
                   include_under_construction=include_under_construction,
                   add_sites=parse_sites(add), remove_sites=remove, count=count,
                   new_kind=new_kind, new_radius_m=new_radius, candidates=candidates,
                   grid_spacing_m=grid_spacing, method=method, solver=solver,
                   time_limit_s=time_limit, radius_by=radius_by, distance=distance,
                   minutes=minutes)
    with steps(3 if format_ == "html" else 2) as step:
        step("读取村(社区)和设施 reading units and sites")
        study = _study()
        step("求解选址 solving the location problem")
        result = suggest(study, req)
        if format_ == "html":
            from geo_service.coverage.report_html import render_report

            step("生成报告 writing the report")
            assert out is not None
            after = suggestion_result(study, req, result)
            out.write_text(render_report(after, suggestion=result), encoding="utf-8")
    if format_ == "json":
        _emit(result, out)
        return
    if format_ == "table":
        _suggest_table(result)
        return
    typer.echo(f"wrote {out}", err=True)
