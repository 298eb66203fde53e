"""`geo-service places …`: search, reverse geocoding, hierarchy, census import/export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geo_service.access import ANONYMOUS, Principal, Role

places_app = typer.Typer(help="Place names (地名): search, reverse geocoding, hierarchy, "
                              "census export.", no_args_is_help=True)
out = Console(soft_wrap=True)
# The CLI is run by the bureau's staff on the database host: it sees every row unless asked
# for the public view.
STAFF = Principal("cli", Role.admin)


def _engine():
    from geo_service.cli_state import state

    return state().engine()


def _who(public: bool) -> Principal:
    return ANONYMOUS if public else STAFF


def _print_json(data: object) -> None:
    out.print_json(json.dumps(data, ensure_ascii=False, default=str))


@places_app.command("search")
def search_cmd(
    q: Annotated[str, typer.Argument(help="what to find: 宝顶, 寶頂, baodingshan, bds, 邮亭铺…")],
    types: Annotated[str, typer.Option(help="place and/or facility, comma-separated")] = "place",
    category: Annotated[str | None, typer.Option(help="地名类别, 类别代码 or kind")] = None,
    township: Annotated[str | None, typer.Option(help="township code or name")] = None,
    bbox: Annotated[str | None, typer.Option(help="min lon,min lat,max lon,max lat")] = None,
    near: Annotated[str | None, typer.Option(help="a point 'lon,lat' (nearer ranks first)")] = None,
    radius: Annotated[float | None, typer.Option(help="metres around --near")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of --near (default CRS84)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many results")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    geojson: Annotated[bool, typer.Option("--geojson", help="print GeoJSON")] = False,
    public: Annotated[bool, typer.Option(help="only what the public may see")] = False,
) -> None:
    """Find places (and facilities) by Chinese, traditional characters, pinyin or initials."""
    from geo_service.errors import GeoServiceError
    from geo_service.gazetteer.query import build_query, split_list
    from geo_service.gazetteer.search import as_geojson, search, strip_geometry

    lon = lat = None
    if near:
        try:
            lon, lat = (float(v) for v in split_list(near))
        except ValueError:
            raise GeoServiceError(f"--near {near!r}: write it as 'lon,lat'") from None
    query = build_query(q, types=types, category=category, township=township, bbox=bbox,
                        lon=lon, lat=lat, radius=radius, crs=crs, limit=limit)
    found = search(_engine(), query, _who(public))
    if geojson:
        _print_json(as_geojson(found))
        return
    if as_json:
        _print_json(strip_geometry(found))
        return
    if not found["results"]:
        out.print(f"nothing found for {q!r}")
        raise typer.Exit(1)
    table = Table("名称", "拼音", "类别", "乡镇", "匹配", "经度", "纬度",
                  *(["距离(m)"] if query.near else []))
    for r in found["results"]:
        matched = r["matched"]
        how = (matched["how"] if matched["type"] == "name"
               else f"{matched['type']}: {matched['name']}")
        table.add_row(r["name"], r.get("pinyin") or "", r["category"] or "", r["township"] or "",
                      how, f"{r['lon']:.6f}", f"{r['lat']:.6f}",
                      *([f"{r['distance_m']:.0f}"] if query.near else []))
    out.print(table)
    for r in found["results"]:
        if r.get("note"):
            out.print(f"{r['name']}: {r['note']}")
    if found["note"]:
        count = str(found["illustrative_count"])
        out.print(f"note: {found['note'].replace('illustrative_count', count)}")


@places_app.command("reverse")
def reverse_cmd(
    lon: Annotated[float, typer.Argument(help="longitude (or easting in --crs)")],
    lat: Annotated[float, typer.Argument(help="latitude (or northing in --crs)")],
    crs: Annotated[str | None, typer.Option(help="CRS84 (default), EPSG:n, gcj02, bd09")] = None,
    limit: Annotated[int, typer.Option(help="nearest places to list")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    public: Annotated[bool, typer.Option(help="only what the public may see")] = False,
) -> None:
    """Which district, township and village a point is in, and what is near it."""
    from geo_service.gazetteer.reverse import format_distance, reverse_geocode

    found = reverse_geocode(_engine(), lon, lat, crs=crs, limit=limit, principal=_who(public))
    if as_json:
        _print_json(found)
        return
    out.print(found["description"])
    for level in ("district", "township", "village"):
        area = found[level]
        if area:
            out.print(f"  {level}: {area['name']} ({area['code']})")
    for place in found["nearest"]:
        out.print(f"  near: {place['name']} ({place['category']}) "
                  f"{format_distance(place['distance_m'])} {place['direction'] or ''}")
    if found["note"]:
        out.print(f"note: {found['note']}")


@places_app.command("hierarchy")
def hierarchy_cmd(
    code_or_name: Annotated[str, typer.Argument(help="statistical code or name")],
    depth: Annotated[int, typer.Option(help="levels of children (0-2)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    public: Annotated[bool, typer.Option(help="only what the public may see")] = False,
) -> None:
    """District → townships → villages with their statistical codes."""
    from geo_service.gazetteer.hierarchy import hierarchy

    is_code = code_or_name.strip().isdigit()
    tree = hierarchy(_engine(), code=code_or_name if is_code else None,
                     name=None if is_code else code_or_name, depth=depth,
                     principal=_who(public))
    if as_json:
        _print_json(tree)
        return
    if tree["path"]:
        out.print(" > ".join(f"{p['name']} ({p['code']})" for p in tree["path"]))

    def show(node: dict, indent: int) -> None:
        out.print(f"{'  ' * indent}{node['name']} {node['code']} {node['level']} "
                  f"{node.get('pinyin') or ''} [{node['child_count']}]")
        for child in node.get("children", []):
            show(child, indent + 1)

    show(tree, 0)


@places_app.command("export")
def export_cmd(
    out_file: Annotated[Path, typer.Argument(help="the .xlsx to write")],
    public: Annotated[bool, typer.Option(help="only public rows")] = False,
) -> None:
    """Write the place names in the census's Excel layout (Chinese headers)."""
    from geo_service.errors import GeoServiceError
    from geo_service.gazetteer.census import export_rows, write_xlsx

    if out_file.suffix.lower() != ".xlsx":
        raise GeoServiceError(f"{out_file}: the export is an Excel workbook; name it *.xlsx")
    count = write_xlsx(export_rows(_engine(), _who(public)), out_file)
    out.print(f"{count} place names → {out_file}")


@places_app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help="census sheet (.xlsx/.csv) or GeoJSON")],
    crs: Annotated[str | None, typer.Option(help="CRS of the coordinates")] = None,
    sheet: Annotated[str | None, typer.Option(help="Excel sheet (default: first)")] = None,
    skip_bad: Annotated[bool, typer.Option(help="load good rows, report bad ones")] = False,
) -> None:
    """Load a census sheet into place_names (same as `geo-service load place_names FILE`)."""
    from geo_service.cli import load

    load("place_names", file, crs=crs, kind=None, map_=[], sheet=sheet, skip_bad=skip_bad)


@places_app.command("reindex")
def reindex_cmd() -> None:
    """Rebuild the search index of every place name and facility."""
    from geo_service.gazetteer.index import rebuild_search_index

    with _engine().begin() as conn:
        count = rebuild_search_index(conn)
    out.print(f"search keys of {count} records rebuilt")
