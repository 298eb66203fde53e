"""The marker registry (界桩成果表) in and out: XLSX, CSV, GeoPackage, GeoJSON.

Import reads the file with the loader's readers (geo_service.ingest.readers), checks every
row, and writes all rows or none: a new 界桩编号 is registered, a known one is changed only
where the file differs, an identical one is left alone — so importing an export changes
nothing. Positions are 经度/纬度 (CGCS2000) or Gauss-Krüger X/Y of the 3-degree zone with
central meridian 105°E (EPSG:4544), where X is the NORTHING, as Chinese surveys write it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import shapely
from pydantic import ValidationError
from sqlalchemy import Connection, select

from geo_service import crs as crsmod
from geo_service.access import Principal
from geo_service.boundaries import markers
from geo_service.boundaries.geometry import point_of
from geo_service.boundaries.report import BEIJING, beijing_time
from geo_service.boundaries.schemas import MarkerIn, MarkerPatch, ReferenceIn
from geo_service.db.models import boundary_lines, boundary_markers
from geo_service.errors import GeoServiceError, InputFileError, LoadRejectedError
from geo_service.ingest.readers import SourceTable, read_source

GK_EPSG = 4544                 # CGCS2000 / 3-degree Gauss-Krüger CM 105E
GK_ZONE = 35                   # its zone number (a Y written with the zone prefix: 35xxxxxx)
SAME_POSITION_M = 0.001        # a position within 1 mm of the stored one is unchanged
AGREE_M = 0.5                  # X/Y and 经纬度 given together must agree this closely
SHEET = "界桩成果表"
SUFFIXES = (".xlsx", ".csv", ".gpkg", ".geojson", ".json")

# field → (export header, other headers accepted on import)
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "number": ("界桩编号", ("编号", "桩号", "number")),
    "marker_type": ("类型", ("界桩类型", "type", "marker_type")),
    "material": ("材质", ("material",)),
    "status": ("状态", ("status",)),
    "line_id": ("界线编号", ("line_id",)),
    "line": ("所在界线", ("界线", "line")),
    "side_a": ("甲方", ("县1", "一侧", "side_a")),
    "side_b": ("乙方", ("县2", "另一侧", "side_b")),
    "x": ("X坐标(m)", ("x", "x坐标", "北坐标", "纵坐标", "x(m)")),
    "y": ("Y坐标(m)", ("y", "y坐标", "东坐标", "横坐标", "y(m)")),
    "lon": ("经度", ("lon", "longitude")),
    "lat": ("纬度", ("lat", "latitude")),
    "elevation_m": ("高程(m)", ("高程", "elevation", "elevation_m")),
    "installed_on": ("埋设日期", ("埋设时间", "installed_on")),
    "note": ("备注", ("说明", "note")),
    "latest_condition": ("最新状况", ()),          # export only: from signed-off inspections
    "latest_inspected_on": ("检查日期", ()),
}
EXPORT_ONLY = {"latest_condition", "latest_inspected_on"}
TYPE_ALIASES = {"单立式": "单立", "双立": "双立同号", "三立": "三立同号"}
_REF = re.compile(r"^方位物(\d+)(名称|方位角|距离|备注)?")
_DMS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[°度]\s*(?:(\d+(?:\.\d+)?)\s*['′分])?\s*"
                  r"(?:(\d+(?:\.\d+)?)\s*[\"″秒])?\s*$")


@dataclass
class ImportResult:
    """What an import did (or, dry run, would do)."""

    rows_read: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        """Counts for a table or a JSON answer."""
        return {"rows_read": self.rows_read, "created": len(self.created),
                "updated": len(self.updated), "unchanged": len(self.unchanged)}


@dataclass
class _Problem:
    row: str
    column: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.row}" + (f", 列「{self.column}」" if self.column else "") + \
            f": {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        return {"row": self.row, "column": self.column, "message": self.message}


class _RowError(Exception):
    """One bad cell: the column and what is wrong."""

    def __init__(self, column: str | None, message: str) -> None:
        super().__init__(message)
        self.column = column
        self.message = message


# --- reading a cell -------------------------------------------------------------------

def _number(text: str, header: str) -> float:
    cleaned = text.replace(",", "").replace("，", "").strip()
    cleaned = cleaned.translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-"))
    try:
        value = float(cleaned)
    except ValueError:
        raise _RowError(header, f"{text!r} 不是数字") from None
    if not math.isfinite(value):
        raise _RowError(header, f"{text!r} 不是有限的数字")
    return value


def _angle(text: str, header: str) -> float:
    """Decimal degrees, or 度分秒 such as 105°43′12.5″."""
    found = _DMS.match(text)
    if found:
        d, m, s = (float(g) if g else 0.0 for g in found.groups())
        if m >= 60 or s >= 60:
            raise _RowError(header, f"{text!r}: 分、秒须小于 60")
        return d + m / 60 + s / 3600
    return _number(text, header)


def _date(text: str, header: str) -> date:
    cleaned = text.strip().split(" ")[0].split("T")[0]
    found = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", cleaned)
    if found:
        try:
            return date(*(int(g) for g in found.groups()))
        except ValueError:
            pass
    raise _RowError(header, f"{text!r} 不是日期 (例如 2021-05-18 或 2021年5月18日)")


# --- the file's columns -----------------------------------------------------------------

def _headers(table: SourceTable) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """field → the file's header; reference number → {名称/方位角/距离/备注: header}."""
    by_lower = {h.strip().lower(): h for h in table.frame.columns}
    found: dict[str, str] = {}
    for name, (header, aliases) in COLUMNS.items():
        for alias in (header, *aliases):
            hit = by_lower.get(alias.lower())
            if hit is not None:
                found[name] = hit
                break
    refs: dict[int, dict[str, str]] = {}
    for h in table.frame.columns:
        m = _REF.match(str(h).strip())
        if m:
            refs.setdefault(int(m.group(1)), {})[m.group(2) or "名称"] = h
    if "number" not in found:
        raise InputFileError(f"没有「界桩编号」列; 文件的列为: {', '.join(table.frame.columns)}")
    return found, refs


@dataclass
class _Lines:
    by_id: dict[int, Any]
    by_sides: dict[frozenset[str], list[Any]]

    @classmethod
    def load(cls, conn: Connection) -> _Lines:
        rows = conn.execute(select(boundary_lines)
                            .where(boundary_lines.c.status == "current")).all()
        by_sides: dict[frozenset[str], list[Any]] = {}
        for r in rows:
            by_sides.setdefault(frozenset((r.side_a_name, r.side_b_name)), []).append(r)
        return cls({r.id: r for r in rows}, by_sides)

    def find(self, line_id: str, line: str, side_a: str, side_b: str, cols: dict) -> Any:
        sides: tuple[str, str] | None = None
        if line:
            parts = [p for p in re.split(r"\s*(?:—|–|--|-|与|/|～|~)\s*",
                                         re.sub(r"^#\d+\s*", "", line)) if p]
            if len(parts) != 2:
                raise _RowError(cols.get("line"),
                                f"{line!r}: 写作「甲方—乙方」, 例如 龙岗街道—棠香街道")
            sides = (parts[0], parts[1])
        elif side_a or side_b:
            sides = (side_a, side_b)
        chosen = None
        if line_id:
            try:
                chosen = self.by_id[int(float(line_id))]
            except (ValueError, KeyError):
                raise _RowError(cols.get("line_id"), f"界线 {line_id} 不存在或已停用") from None
        if sides is not None:
            hits = self.by_sides.get(frozenset(sides), [])
            if chosen is not None and chosen not in hits:
                raise _RowError(cols.get("line"), f"界线编号 {chosen.id} 是 {chosen.side_a_name}—"
                                f"{chosen.side_b_name}, 与「{sides[0]}—{sides[1]}」不符")
            if chosen is None:
                if not hits:
                    raise _RowError(cols.get("line") or cols.get("side_a"),
                                    f"没有 {sides[0]} 与 {sides[1]} 之间的现行界线")
                if len(hits) > 1:
                    ids = ", ".join(str(h.id) for h in hits)
                    raise _RowError(cols.get("line"), f"{sides[0]} 与 {sides[1]} 之间有多条界线 "
                                    f"({ids}): 请填「界线编号」")
                chosen = hits[0]
        if chosen is None:
            raise _RowError(None, "缺少所在界线: 填「所在界线」(甲方—乙方)、"
                                  "「甲方」「乙方」或「界线编号」")
        return chosen


def _gk_to_storage(x_north: float, y_east: float, cols: dict) -> shapely.Point:
    """A Gauss-Krüger X (northing) / Y (easting) of zone 35 as a CGCS2000 lon/lat point."""
    if y_east >= 1e7:
        zone = int(y_east // 1e6)
        if zone != GK_ZONE:
            raise _RowError(cols.get("y"), f"Y {y_east:.3f} 带号为 {zone}, 本区应为 {GK_ZONE} 带 "
                            "(中央经线 105°) 或不带带号")
        y_east -= GK_ZONE * 1e6
    if x_north < 1e6 and y_east > 1e6:
        raise _RowError(cols.get("x"), f"X {x_north:.3f} 与 Y {y_east:.3f} 似乎写反了: "
                        "我国测量成果中 X 为北坐标 (约 3 300 000), Y 为东坐标 (约 570 000)")
    if not (1e6 < x_north < 6.5e6 and 0 < y_east < 1e6):
        raise _RowError(cols.get("x"), f"X {x_north:.3f}, Y {y_east:.3f} 不在 CGCS2000 3° 带"
                        "高斯-克吕格坐标的范围内")
    lon, lat = crsmod.transformer(GK_EPSG, crsmod.STORAGE_SRID).transform(y_east, x_north)
    return shapely.Point(lon, lat)


def gk_of(point: shapely.Point) -> tuple[float, float]:
    """(X northing, Y easting) in EPSG:4544 of a CGCS2000 point."""
    east, north = crsmod.transformer(crsmod.STORAGE_SRID, GK_EPSG).transform(point.x, point.y)
    return float(north), float(east)


def _distance_m(a: shapely.Point, b: shapely.Point) -> float:
    return float(crsmod.geodesic_distance_m(a.x, a.y, b.x, b.y))


def _position(cell: dict[str, str], geom: Any, file_crs: str | None, cols: dict
              ) -> shapely.Point:
    """The row's point: the feature's geometry, else X/Y, else 经度/纬度 (checked to agree)."""
    point = None
    if geom is not None:
        if geom.geom_type != "Point":
            raise _RowError(None, f"几何应为点, 不是 {geom.geom_type}")
        point = crsmod.geometry_to_storage(geom, crsmod.parse_crs(file_crs))
    has_xy = bool(cell.get("x") or cell.get("y"))
    has_ll = bool(cell.get("lon") or cell.get("lat"))
    gk = ll = None
    if has_xy:
        if not (cell.get("x") and cell.get("y")):
            raise _RowError(cols.get("x") or cols.get("y"), "X 与 Y 须同时填写")
        gk = _gk_to_storage(_number(cell["x"], cols["x"]), _number(cell["y"], cols["y"]), cols)
    if has_ll:
        if not (cell.get("lon") and cell.get("lat")):
            raise _RowError(cols.get("lon") or cols.get("lat"), "经度与纬度须同时填写")
        lon, lat = _angle(cell["lon"], cols["lon"]), _angle(cell["lat"], cols["lat"])
        if 0 < lon < 60 and 60 < lat < 140:
            raise _RowError(cols["lon"], f"经度 {lon} 与纬度 {lat} 似乎写反了")
        if not (73 <= lon <= 136 and 3 <= lat <= 54):
            raise _RowError(cols["lon"], f"经度 {lon}, 纬度 {lat} 不在我国范围内")
        ll = shapely.Point(lon, lat)
    point = point or gk or ll
    if point is None:
        raise _RowError(None, "缺少位置: 填 X/Y (高斯-克吕格, X 为北坐标) 或 经度/纬度")
    for other, column, what in ((gk, cols.get("x"), "X/Y"), (ll, cols.get("lon"), "经纬度")):
        if other is not None and other is not point:
            gap = _distance_m(point, other)
            if gap > AGREE_M:
                raise _RowError(column, f"{what} 与本行其他位置相差 {gap:.2f} m (最多 {AGREE_M} m)")
    return point


def _references(cell_of: dict[str, str], refs: dict[int, dict[str, str]]) -> list[ReferenceIn]:
    out = []
    for n in sorted(refs):
        cols = refs[n]
        text = {k: cell_of.get(h, "") for k, h in cols.items()}
        if not any(text.values()):
            continue
        name = text.get("名称", "")
        if not name:
            raise _RowError(cols.get("名称", f"方位物{n}"), f"方位物{n} 缺少名称")
        if not text.get("方位角") or not text.get("距离"):
            raise _RowError(cols.get("方位角") or cols.get("距离") or cols["名称"],
                            f"方位物{n}「{name}」须有方位角与距离")
        bearing = _angle(text["方位角"], cols["方位角"])
        distance = _number(text["距离"].removesuffix("m").removesuffix("米"), cols["距离"])
        try:
            out.append(ReferenceIn(name=name, bearing_deg=bearing, distance_m=distance,
                                   note=text.get("备注") or None))
        except ValidationError as exc:
            bad = exc.errors()[0]
            column = cols.get("方位角" if bad["loc"][0] == "bearing_deg" else "距离")
            raise _RowError(column, f"方位物{n}: 方位角须在 0–360° 之间, 距离须在 0–10000 m "
                            f"之间 ({bad['msg']})") from None
    return out


def _marker_in(cell: dict[str, str], geom: Any, table: SourceTable, cols: dict,
               refs: dict[int, dict[str, str]], lines: _Lines) -> MarkerIn:
    """One row as a MarkerIn (raises _RowError naming the column)."""
    raw_type = cell.get("marker_type", "").replace(" ", "").replace("(", "").replace(")", "") \
        .replace("（", "").replace("）", "")
    marker_type = TYPE_ALIASES.get(raw_type, raw_type)
    line = lines.find(cell.get("line_id", ""), cell.get("line", ""), cell.get("side_a", ""),
                      cell.get("side_b", ""), cols)
    point = _position(cell, geom, table.file_crs, cols)
    values: dict[str, Any] = {
        "number": cell["number"], "marker_type": marker_type,
        "material": cell.get("material") or None, "lon": point.x, "lat": point.y,
        "line_id": line.id, "note": cell.get("note") or None,
        "elevation_m": (_number(cell["elevation_m"], cols["elevation_m"])
                        if cell.get("elevation_m") else None),
        "installed_on": (_date(cell["installed_on"], cols["installed_on"])
                         if cell.get("installed_on") else None),
        "references": _references(cell, refs)}
    if cell.get("status"):
        values["status"] = cell["status"]
    try:
        return MarkerIn(**values)
    except ValidationError as exc:
        bad = exc.errors()[0]
        name = str(bad["loc"][0]) if bad["loc"] else ""
        header = cols.get(name) or COLUMNS.get(name, (name, ()))[0]
        if name == "marker_type":
            message = (f"{values['marker_type']!r} 不是界桩类型 (单立、双立同号、双立异号、"
                       "三立同号、三立异号, 或 单面/双面/三面)")
        elif name == "status":
            message = f"{values['status']!r} 不是状态 (在用、损毁待修、已重建、已废止)"
        elif name == "references":
            header = "方位物"
            message = (f"至少需要 3 个方位物 (名称、方位角、距离), "
                       f"本行有 {len(values['references'])} 个")
        else:
            message = bad["msg"]
        raise _RowError(header, message) from None


def _changes(current: dict, new: MarkerIn) -> dict[str, Any]:
    """The fields of the stored marker that the row changes (position: beyond 1 mm)."""
    out: dict[str, Any] = {}
    for name in ("marker_type", "material", "elevation_m", "installed_on", "note", "status"):
        old, value = current.get(name), getattr(new, name)
        if isinstance(value, date):
            value = value.isoformat()
        if isinstance(old, float) and isinstance(value, float):
            if abs(old - value) > 1e-9:
                out[name] = value
        elif old != value:
            out[name] = value
    if current["line_id"] != new.line_id:
        out["line_id"] = new.line_id
    stored = shapely.Point(current["lon_exact"], current["lat_exact"])
    if _distance_m(stored, shapely.Point(new.lon, new.lat)) > SAME_POSITION_M:
        out["lon"], out["lat"] = new.lon, new.lat
    def key(r: dict) -> tuple:
        return (r["name"], round(r["bearing_deg"], 9), round(r["distance_m"], 6),
                r.get("note") or None)
    if [key(r) for r in current["references"]] != [key(r.model_dump()) for r in new.references]:
        out["references"] = new.references
    return out


def import_file(conn: Connection, principal: Principal, path: Path,
                dry_run: bool = False, name: str | None = None) -> ImportResult:
    """Import a marker list: every row checked, all written or none (LoadRejectedError)."""
    table = read_source(path)
    cols, refs = _headers(table)
    lines = _Lines.load(conn)
    tabular = table.is_tabular
    problems: list[_Problem] = []
    parsed: list[tuple[str, MarkerIn]] = []
    seen: dict[str, str] = {}
    for i, record in enumerate(table.frame.to_dict("records")):
        label = f"第 {i + 2} 行" if tabular else f"第 {i + 1} 个要素"
        cell = {name: str(record.get(h, "")).strip() for name, h in cols.items()
                if name not in EXPORT_ONLY}
        cell |= {h: str(record.get(h, "")).strip() for r in refs.values() for h in r.values()}
        if not cell.get("number"):
            if any(str(v).strip() for v in record.values()):
                problems.append(_Problem(label, cols["number"], "缺少界桩编号"))
            continue
        if cell["number"] in seen:
            problems.append(_Problem(label, cols["number"],
                                     f"界桩编号 {cell['number']} 与{seen[cell['number']]}重复"))
            continue
        seen[cell["number"]] = label
        geom = table.geometries[i] if table.geometries is not None else None
        try:
            parsed.append((label, _marker_in(cell, geom, table, cols, refs, lines)))
        except _RowError as exc:
            problems.append(_Problem(label, exc.column, exc.message))
    result = ImportResult(rows_read=len(table.frame))
    with conn.begin_nested() as savepoint:
        for label, body in parsed:
            try:
                _write(conn, principal, body, result)
            except GeoServiceError as exc:
                problems.append(_Problem(label, None, str(exc)))
        if problems or dry_run:
            savepoint.rollback()
    if problems:
        shown = "; ".join(str(p) for p in problems[:20])
        more = f" (另有 {len(problems) - 20} 处)" if len(problems) > 20 else ""
        raise LoadRejectedError(f"{name or path.name}: {len(problems)} 处错误, 未导入任何界桩: "
                                f"{shown}{more}", [p.as_dict() for p in problems])
    return result


def _write(conn: Connection, principal: Principal, body: MarkerIn,
           result: ImportResult) -> None:
    row = conn.execute(select(boundary_markers)
                       .where(boundary_markers.c.number == body.number)).first()
    if row is None:
        with conn.begin_nested():
            markers.create(conn, principal, body)
        result.created.append(body.number)
        return
    current = markers.get(conn, row.id)
    point = point_of(row.geom)
    current |= {"lon_exact": point.x, "lat_exact": point.y}
    changes = _changes(current, body)
    if not changes:
        result.unchanged.append(body.number)
        return
    if "line_id" in changes:
        raise InputFileError(f"界桩 {body.number} 已登记在界线 {row.line_id}, 文件写的是界线 "
                             f"{body.line_id}: 界桩不能改到另一条界线")
    with conn.begin_nested():
        markers.update(conn, principal, row.id, MarkerPatch(**changes), current["etag"])
    result.updated.append(body.number)


# --- out ------------------------------------------------------------------------------

def registry_rows(conn: Connection, line_id: int | None = None) -> list[dict[str, Any]]:
    """The registry as rows keyed by export header (references as 方位物N… columns)."""
    query = select(boundary_markers).order_by(boundary_markers.c.line_id,
                                              boundary_markers.c.number)
    if line_id is not None:
        query = query.where(boundary_markers.c.line_id == line_id)
    stored = conn.execute(query).all()
    lines = {r.id: r for r in conn.execute(select(boundary_lines)).all()}
    latest = markers.latest_conditions(conn, [r.id for r in stored])
    out = []
    for r in stored:
        point = point_of(r.geom)
        x, y = gk_of(point)
        line = lines[r.line_id]
        record = markers.get(conn, r.id)
        row: dict[str, Any] = {
            "界桩编号": r.number, "类型": r.marker_type, "材质": r.material, "状态": r.status,
            "界线编号": r.line_id, "所在界线": f"{line.side_a_name}—{line.side_b_name}",
            "甲方": line.side_a_name, "乙方": line.side_b_name,
            "X坐标(m)": round(x, 4), "Y坐标(m)": round(y, 4),
            "经度": round(point.x, 10), "纬度": round(point.y, 10),
            "高程(m)": r.elevation_m,
            "埋设日期": r.installed_on.isoformat() if r.installed_on else None,
            "备注": r.note,
            "最新状况": (latest.get(r.id) or {}).get("condition"),
            "检查日期": (latest.get(r.id) or {}).get("inspected_on")}
        for n, ref in enumerate(record["references"], start=1):
            row |= {f"方位物{n}名称": ref["name"], f"方位物{n}方位角": ref["bearing_deg"],
                    f"方位物{n}距离": ref["distance_m"], f"方位物{n}备注": ref["note"]}
        row["_point"] = point
        out.append(row)
    return out


def _header_order(rows: list[dict[str, Any]]) -> list[str]:
    base = [header for header, _ in COLUMNS.values()]
    most = max((int(k[3:-2]) for r in rows for k in r if k.startswith("方位物")
                and k.endswith("名称")), default=3)
    refs = [f"方位物{n}{part}" for n in range(1, most + 1)
            for part in ("名称", "方位角", "距离", "备注")]
    return base[:-3] + refs + base[-3:]


def export(conn: Connection, path: Path, line_id: int | None = None) -> int:
    """Write the 界桩成果表 as .xlsx, .gpkg or .geojson; the number of markers."""
    suffix = path.suffix.lower()
    rows = registry_rows(conn, line_id)
    headers = _header_order(rows)
    if suffix == ".xlsx":
        _write_xlsx(rows, headers, path)
    elif suffix in (".gpkg", ".geojson", ".json"):
        import geopandas as gpd

        frame = gpd.GeoDataFrame([{h: r.get(h) for h in headers} for r in rows],
                                 columns=headers, geometry=[r["_point"] for r in rows],
                                 crs=f"EPSG:{crsmod.STORAGE_SRID}")
        if path.exists():
            path.unlink()
        frame.to_file(path, layer=SHEET, driver="GPKG" if suffix == ".gpkg" else "GeoJSON")
    else:
        raise GeoServiceError(f"{path.name}: 用 .xlsx、.gpkg 或 .geojson 文件名")
    return len(rows)


def _write_xlsx(rows: list[dict[str, Any]], headers: list[str], path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    from geo_service.coverage.report_xlsx import display_width

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EEF4")
    for r in rows:
        ws.append([r.get(h) for h in headers])
    for line in ws.iter_rows(min_row=2):
        for i, cell in enumerate(line):
            if cell.data_type == "f":        # text from the data that starts with "=": text
                cell.data_type = "s"
            if headers[i] in ("X坐标(m)", "Y坐标(m)"):
                cell.number_format = "0.0000"
    ws.freeze_panes = "B2"
    for i, col in enumerate(ws.iter_cols(min_row=1, max_row=min(ws.max_row, 300))):
        width = max([display_width(str(c.value)) for c in col if c.value is not None]
                    + [display_width(headers[i])])
        ws.column_dimensions[get_column_letter(i + 1)].width = min(40, width + 2)
    notes = wb.create_sheet("说明")
    for line_text in (
            "界桩成果表 (由 geo_service 导出)",
            f"导出时间: {beijing_time(datetime.now(BEIJING))}",
            "坐标系: CGCS2000。经度/纬度为十进制度。",
            "X/Y: CGCS2000 3° 带高斯-克吕格投影, 中央经线 105° (EPSG:4544), 不带带号; "
            "X 为北坐标, Y 为东坐标。",
            "最新状况、检查日期: 取自双方签字确认的最近一次联检记录; 导入时不读这两列。",
            "本表可直接导入: geo-service boundary import-markers 本文件.xlsx"):
        notes.append([line_text])
    notes.column_dimensions["A"].width = 90
    wb.save(path)

