"""Turn a file's rows into validated layer records, with a message per bad row."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry

from geo_service import crs as crsmod
from geo_service.catalog import Catalogue, FieldSpec, LayerSpec
from geo_service.errors import InputFileError
from geo_service.ingest.readers import SourceTable, parse_wkt

_TRUE = {"是", "有", "公开", "true", "yes", "y", "1", "t", "√", "提供"}
_FALSE = {"否", "无", "不公开", "false", "no", "n", "0", "f", "×", "不提供"}
_LIST_SPLIT = re.compile(r"[、,，;；/|\s]+")
ACCURACIES = ("surveyed", "published", "geocoded", "illustrative", "unknown")
Converted = tuple[BaseGeometry | None, tuple[str, str | None] | None]


@dataclass
class Problem:
    """One bad row: where (row label and column) and what."""

    row: str
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"{self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, str | None]:
        """JSON-friendly form."""
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class Context:
    """What validation needs from the database: the district and its townships."""

    district: BaseGeometry | None = None
    district_zone: PreparedGeometry | None = None
    townships: list[tuple[str, PreparedGeometry]] = field(default_factory=list)
    known_codes: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


@dataclass
class Prepared:
    """Validated records ready for the database, and the rows that failed."""

    records: list[dict]
    problems: list[Problem]
    rows_read: int


def map_columns(
    table: SourceTable, layer: LayerSpec, cat: Catalogue, mapping: dict[str, str] | None
) -> dict[str, str]:
    """Field name → the file's header, from an explicit mapping then the catalogue's aliases."""
    headers = list(table.frame.columns)
    by_lower = {h.lower(): h for h in headers}
    result: dict[str, str] = {}
    for header, field_name in (mapping or {}).items():
        if header not in headers:
            raise InputFileError(
                f"column mapping names {header!r}, which the file does not have; "
                f"its columns are: {', '.join(headers)}"
            )
        result[field_name] = header
    aliases: dict[str, tuple[str, ...]] = dict(cat.common_aliases)
    aliases.update({f.name: f.aliases for f in layer.fields})
    for field_name, names in aliases.items():
        if field_name in result:
            continue
        for alias in (field_name, *names):
            header = by_lower.get(alias.lower())
            if header is not None and header not in result.values():
                result[field_name] = header
                break
    if layer.key and layer.key in result and "external_id" not in result:
        result["external_id"] = result[layer.key]
    return result


def _float(text: str) -> float:
    """A number from a cell, allowing thousands separators and full-width digits."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    cleaned = cleaned.translate(str.maketrans("０１２３４５６７８９．－", "0123456789.-"))
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _convert(spec: FieldSpec, text: str) -> object:
    """A cell converted to the field's type; ValueError with a readable reason."""
    if spec.type in {"text", "code"}:
        value: object = text
        if spec.type == "code":
            digits = text.replace(" ", "")
            if re.fullmatch(r"\d{9}", digits):
                digits += "000"
            if not re.fullmatch(r"\d{12}", digits):
                raise ValueError(f"{text!r} is not a 12-digit statistical division code")
            value = digits
        if spec.choices:
            value = spec.choice_aliases.get(text, text)
            if value not in spec.choices:
                raise ValueError(f"{text!r} is not one of {', '.join(spec.choices)}")
        return value
    if spec.type in {"int", "float"}:
        try:
            number = _float(text)
        except ValueError:
            found = re.search(r"\d+(?:\.\d+)?", text)  # 约50, 50张: a number with words
            hint = f": write the number alone, e.g. {found.group()}" if found else ""
            raise ValueError(f"{text!r} is not a number{hint}") from None
        if spec.type == "int":
            if not number.is_integer():
                raise ValueError(f"{text!r} is not a whole number")
            number = int(number)
        low = 0 if spec.min is None else spec.min
        if number < low or (spec.max is not None and number > spec.max):
            upper = f"–{spec.max:g}" if spec.max is not None else " or more"
            raise ValueError(f"{text!r} is out of range ({low:g}{upper})")
        if spec.type == "int" and number > 2_147_483_647:
            raise ValueError(f"{text!r} is too large")
        return number
    if spec.type == "bool":
        return parse_yes_no(text)
    if spec.type == "text[]":
        return [part for part in _LIST_SPLIT.split(text) if part]
    if spec.type == "json":
        return _json_list(text)
    raise ValueError(f"unsupported field type {spec.type}")


def parse_yes_no(text: str) -> bool:
    """是/否, true/false, 1/0 and friends (ValueError otherwise)."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"{text!r} is not yes/no (是/否)")


def _json_list(text: str) -> list:
    """A JSON array, or names separated by 、 (each becomes an alias)."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg})") from None
        if not isinstance(value, list):
            raise ValueError("must be a JSON array")
        return value
    return [{"name": part, "type": "alias"} for part in _LIST_SPLIT.split(text) if part]


def _point_problem(lon: float, lat: float, ctx: Context) -> str | None:
    """Why a storage-CRS point is implausible (swapped, outside the world or the district)."""
    swapped_ok = -180 <= lat <= 180 and -90 <= lon <= 90
    swapped_inside = ctx.district_zone is not None and ctx.district_zone.contains(Point(lat, lon))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        if swapped_ok:
            return f"longitude/latitude look swapped (经度 {lon}, 纬度 {lat})"
        return f"coordinates ({lon}, {lat}) are outside the range of longitude/latitude"
    if ctx.district_zone is not None and not ctx.district_zone.contains(Point(lon, lat)):
        if swapped_inside:
            return f"longitude/latitude look swapped (经度 {lon}, 纬度 {lat})"
        return f"position ({lon:.6f}, {lat:.6f}) is outside the district"
    return None


def _geometry_problem(geom: BaseGeometry, layer: LayerSpec, ctx: Context) -> str | None:
    """Why a storage-CRS geometry cannot be stored in this layer."""
    if geom.is_empty:
        return "the geometry is empty"
    kind = geom.geom_type
    expected = layer.geometry
    if expected == "Point" and kind != "Point":
        return f"expected a point, got a {kind}"
    if expected == "MultiPolygon" and kind not in {"Polygon", "MultiPolygon"}:
        return f"expected a polygon, got a {kind}"
    if expected == "MultiLineString" and kind not in {"LineString", "MultiLineString"}:
        return f"expected a line, got a {kind}"
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return "the geometry has NaN or infinite coordinates"
    if kind == "Point":
        return _point_problem(float(geom.x), float(geom.y), ctx)
    if not geom.is_valid:
        return f"invalid geometry: {shapely.is_valid_reason(geom)}"
    outside = ctx.district_zone is not None and not ctx.district_zone.intersects(geom)
    if outside and layer.geometry != "MultiPolygon":
        return "the geometry is outside the district"
    return None


class RowBuilder:
    """Validates rows of one file for one layer and builds database records."""

    def __init__(
        self,
        layer: LayerSpec,
        columns: dict[str, str],
        input_crs: crsmod.InputCRS,
        ctx: Context,
        *,
        default_kind: str | None,
        source_name: str,
    ) -> None:
        self.layer = layer
        self.columns = columns
        self.crs = input_crs
        self.ctx = ctx
        self.default_kind = default_kind
        self.source_name = source_name
        mapped = set(columns.values())
        self.extra_headers: list[str] = []
        self._mapped = mapped

    def extra_columns(self, headers: list[str]) -> list[str]:
        """Headers no field claims: kept verbatim in the `extra` column."""
        return [h for h in headers if h not in self._mapped]

    def cell(self, row: dict[str, str], field_name: str) -> str:
        """The raw text of a field in a row ('' if the file lacks the column)."""
        header = self.columns.get(field_name)
        return row.get(header, "") if header else ""

    def build_many(
        self, rows: list[dict[str, str]], labels: list[str],
        geometries: list[BaseGeometry | None] | None, extra: list[str],
    ) -> Iterator[tuple[dict | None, list[Problem]]]:
        """Records (or problems) for many rows, converting coordinates in one batch."""
        sources = [self.source_geometry(row, geometries[i] if geometries else None)
                   for i, row in enumerate(rows)]
        for row, label, converted in zip(rows, labels, self.to_storage(sources), strict=True):
            yield self.build(row, label, None, extra, converted=converted)

    def build(
        self, row: dict[str, str], label: str, geometry: BaseGeometry | None, extra: list[str],
        *, converted: Converted | None = None,
    ) -> tuple[dict | None, list[Problem]]:
        """One record, or None and the row's problems."""
        problems: list[Problem] = []

        def bad(message: str, field_name: str | None = None) -> None:
            header = self.columns.get(field_name) if field_name else None
            problems.append(Problem(label, message, header or field_name))

        record: dict = {}
        name = self.cell(row, "name")
        if not name and not self.layer.name_optional:
            bad("the name (名称) is empty", "name")
        record["name"] = name or (None if self.layer.name_optional else name)
        if self.layer.has_kind:
            self._kind(row, record, bad)
        for spec in self.layer.fields:
            text = self.cell(row, spec.name)
            if text == "":
                if spec.required:
                    bad(f"{spec.title} ({spec.name}) is empty", spec.name)
                record[spec.name] = [] if spec.type in {"text[]", "json"} else spec.default
                continue
            try:
                record[spec.name] = _convert(spec, text)
            except ValueError as exc:
                bad(f"{spec.title}: {exc}", spec.name)
        self._provenance(row, record, bad)
        self._cross_checks(record, bad)
        if converted is None:
            converted = self.to_storage([self.source_geometry(row, geometry)])[0]
        geom, area = self._checked(converted, bad)
        if geom is not None:
            self._place(record, geom, bad)
            if self.layer.area_column:
                record[self.layer.area_column] = area
        record["extra"] = {h: row[h] for h in extra if row.get(h, "") != ""}
        key = self.cell(row, "external_id")
        record["external_id"] = key or self._derived_key(record)
        return (None if problems else record), problems

    def _kind(self, row: dict[str, str], record: dict, bad: Callable) -> None:
        """Kind from the row (or --kind), mapped onto the catalogue's names."""
        text = self.cell(row, "kind") or (self.default_kind or "")
        if not text:
            bad("the kind (类型) is empty; give a 类型 column or --kind", "kind")
            return
        kind = self.layer.canonical_kind(text)
        if kind is None:
            close = difflib.get_close_matches(text, self.layer.kinds, n=1, cutoff=0.4)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            bad(f"unknown kind {text!r}{hint} (kinds: {', '.join(self.layer.kinds)})", "kind")
            return
        if self.default_kind and self.cell(row, "kind"):
            wanted = self.layer.canonical_kind(self.default_kind)
            if wanted != kind:
                bad(f"kind {kind!r} differs from --kind {self.default_kind!r}", "kind")
        record["kind"] = kind

    def _provenance(self, row: dict[str, str], record: dict, bad: Callable) -> None:
        """is_public, source and geometry accuracy, with defaults."""
        text = self.cell(row, "is_public")
        try:
            record["is_public"] = parse_yes_no(text) if text else True
        except ValueError as exc:
            bad(f"是否公开: {exc}", "is_public")
        record["source"] = self.cell(row, "source") or self.source_name
        accuracy = self.cell(row, "geometry_accuracy") or "unknown"
        if accuracy not in ACCURACIES:
            bad(f"位置精度 {accuracy!r} is not one of {', '.join(ACCURACIES)}", "geometry_accuracy")
        record["geometry_accuracy"] = accuracy

    def _cross_checks(self, record: dict, bad: Callable) -> None:
        """Figures that must agree with each other."""
        pairs = [("nursing_beds", "beds"), ("occupied_beds", "beds"), ("used", "capacity"),
                 ("population_60plus", "population"), ("population_0_17", "population")]
        for part, whole in pairs:
            a, b = record.get(part), record.get(whole)
            if isinstance(a, int) and isinstance(b, int) and a > b:
                bad(f"{part} ({a}) is larger than {whole} ({b})", part)

    def source_geometry(self, row: dict[str, str], geometry: BaseGeometry | None) -> Converted:
        """The row's geometry in the file's CRS (file geometry, WKT or lon/lat), or why not."""
        if geometry is None:
            wkt = self.cell(row, "wkt")
            lon_text, lat_text = self.cell(row, "lon"), self.cell(row, "lat")
            if wkt:
                try:
                    geometry = parse_wkt(wkt)
                except ValueError as exc:
                    return None, (f"the WKT geometry cannot be read ({exc})", "wkt")
            elif lon_text or lat_text:
                if not (lon_text and lat_text):
                    which = "经度 (longitude)" if not lon_text else "纬度 (latitude)"
                    return None, (f"{which} is empty", "lon" if not lon_text else "lat")
                try:
                    lon, lat = _float(lon_text), _float(lat_text)
                except ValueError:
                    return None, (f"经度/纬度 ({lon_text!r}, {lat_text!r}) are not both numbers",
                                  "lon")
                geometry = Point(lon, lat)
            else:
                return None, ("no geometry: 经度/纬度 (or a WKT column) are empty", "lon")
        if geometry is None or geometry.is_empty:
            return None, ("the geometry is empty", None)
        coords = shapely.get_coordinates(geometry)
        if not np.isfinite(coords).all():
            return None, ("the geometry has NaN or infinite coordinates", None)
        geographic = self.crs.pyproj_crs is None or self.crs.pyproj_crs.is_geographic
        if geographic and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
            lon, lat = coords[0]
            if abs(lon) <= 90 and abs(lat) <= 180:
                return None, (f"longitude/latitude look swapped (经度 {lon}, 纬度 {lat})", "lon")
            return None, (f"coordinates ({lon}, {lat}) are outside longitude/latitude range",
                          "lon")
        return geometry, None

    def to_storage(self, sources: list[Converted]) -> list[Converted]:
        """Convert every row's source geometry to CGCS2000 in one vectorised call."""
        out = list(sources)
        index = [i for i, (geom, _) in enumerate(sources) if geom is not None]
        if index:
            batch = np.empty(len(index), dtype=object)
            batch[:] = [sources[i][0] for i in index]
            for i, stored in zip(index, crsmod.geometry_to_storage(batch, self.crs), strict=True):
                out[i] = (stored, None)
        return out

    def _checked(
        self, converted: Converted, bad: Callable
    ) -> tuple[BaseGeometry | None, MultiPolygon | None]:
        """(geometry, site polygon) if it suits the layer and lies in the district, else None."""
        stored, why = converted
        if why is not None or stored is None:
            bad(*(why or ("no geometry", None)))
            return None, None
        area = None
        if self.layer.area_column and isinstance(stored, Polygon | MultiPolygon):
            area = stored if isinstance(stored, MultiPolygon) else MultiPolygon([stored])
            problem = _geometry_problem(area, replace(self.layer, geometry="MultiPolygon"),
                                        self.ctx)
            if problem:
                bad(f"site polygon: {problem}", "wkt")
                return None, None
            stored = area.point_on_surface()
        if self.layer.geometry == "MultiPolygon" and isinstance(stored, Polygon):
            stored = MultiPolygon([stored])
        if self.layer.geometry == "MultiLineString" and isinstance(stored, LineString):
            stored = MultiLineString([stored])
        problem = _geometry_problem(stored, self.layer, self.ctx)
        if problem:
            bad(problem, "lon" if stored.geom_type == "Point" else "wkt")
            return None, None
        return stored, area

    def _place(self, record: dict, geom: BaseGeometry, bad: Callable) -> None:
        """Store the geometry; fill or check the township code; convert representative points."""
        record["geom"] = geom
        if "rep_lon" in record or "rep_lat" in record:
            rep_lon, rep_lat = record.pop("rep_lon", None), record.pop("rep_lat", None)
            record["rep_point"] = None
            if rep_lon is not None and rep_lat is not None:
                x, y = crsmod.to_storage_xy([rep_lon], [rep_lat], self.crs)
                record["rep_point"] = Point(float(x[0]), float(y[0]))
        if "township_code" in record and self.ctx.townships:
            code = record["township_code"]
            if code is None:
                inside = [c for c, poly in self.ctx.townships if poly.intersects(geom)]
                record["township_code"] = inside[0] if inside else None
            elif code not in self.ctx.known_codes:
                bad(f"township code {code} is not a township of this district", "township_code")

    def _derived_key(self, record: dict) -> str:
        """A stable key when the file has no id column: kind and name."""
        parts = [self.layer.id, record.get("kind") or "", record.get("name") or ""]
        if self.layer.geometry == "MultiLineString" and record.get("geom") is not None:
            parts.append(hashlib.sha1(shapely.to_wkb(record["geom"])).hexdigest()[:16])
        return "auto:" + "|".join(parts)
