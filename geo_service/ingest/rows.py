"""Turn a file's rows into validated layer records, with a message per bad row."""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import unicodedata
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
from geo_service.ingest.readers import SourceTable, normalise_header, parse_wkt

_TRUE = {"是", "有", "公开", "true", "yes", "y", "1", "t", "√", "提供"}
_FALSE = {"否", "无", "不公开", "false", "no", "n", "0", "f", "×", "不提供"}
_LIST_SPLIT = re.compile(r"[、,，;；/|\s]+")
ACCURACIES = ("surveyed", "published", "geocoded", "illustrative", "unknown")
ACCURACY_ALIASES = {"实测": "surveyed", "测绘": "surveyed", "公布": "published",
                    "官方": "published", "地理编码": "geocoded", "示意": "illustrative",
                    "未知": "unknown"}
# Columns of a download that are the database's own (not fields): read, never stored in extra.
READ_ONLY_HEADERS = {"id", "updated_at", "更新时间", "created_at", "创建时间"}
EMPTY = "_empty"  # record key: fields whose cell was empty (kept on update unless --clear-empty)
DERIVED = "_derived"  # record key: fields filled in by the loader, not read from the file
Converted = tuple[BaseGeometry | None, tuple[str, str | None] | None]
Located = tuple[BaseGeometry, str | None]  # a point checked in the district, its township
BATCH_ROWS = 10_000  # rows whose coordinates are converted and checked in one call


@dataclass
class Problem:
    """One bad row: where (row label and column) and what."""

    row: str
    message: str
    column: str | None = None

    def __str__(self) -> str:
        where = f"{self.row}" + (f"，列「{self.column}」" if self.column else "")
        return f"{where}：{self.message}"

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


def layer_aliases(layer: LayerSpec, cat: Catalogue) -> dict[str, tuple[str, ...]]:
    """Every header a field answers to: name, Chinese title (as downloads write it), aliases."""
    aliases: dict[str, tuple[str, ...]] = {
        name: (name, *names) for name, names in cat.common_aliases.items()}
    aliases.update({f.name: (f.name, f.title, *f.aliases) for f in layer.fields})
    aliases.setdefault("geometry_accuracy", ("geometry_accuracy",))
    return aliases


def known_header(layer: LayerSpec, cat: Catalogue) -> Callable[[str], bool]:
    """A test whether a cell looks like one of the layer's headers (to find the header row)."""
    known = {normalise_header(a) for names in layer_aliases(layer, cat).values() for a in names}
    return lambda cell: normalise_header(cell) in known


def map_columns(
    table: SourceTable, layer: LayerSpec, cat: Catalogue, mapping: dict[str, str] | None
) -> dict[str, str]:
    """Field name → the file's header, from an explicit mapping then the catalogue's aliases.

    Headers are compared after normalising full/half width, spaces and a bracketed unit.
    """
    headers = list(table.frame.columns)
    by_norm: dict[str, str] = {}
    for header in headers:
        by_norm.setdefault(normalise_header(header), header)
    result: dict[str, str] = {}
    for header, field_name in (mapping or {}).items():
        if header not in headers:
            raise InputFileError(
                f"--map 指定的列「{header}」在文件里没有；文件的列有：{'、'.join(headers)}"
            )
        result[field_name] = header
    for field_name, names in layer_aliases(layer, cat).items():
        if field_name in result:
            continue
        for alias in names:
            found = by_norm.get(normalise_header(alias))
            if found is not None and found not in result.values():
                result[field_name] = found
                break
    if layer.key and layer.key in result and "external_id" not in result:
        result["external_id"] = result[layer.key]
    return result


def _float(text: str) -> float:
    """A number from a cell, allowing thousands separators and full-width digits."""
    cleaned = unicodedata.normalize("NFKC", text).replace(",", "").replace("，", "").strip()
    value = float(cleaned)
    if not math.isfinite(value):
        raise ValueError("不是有限的数")
    return value


_AXIS_WORDS = (("东经", "E"), ("西经", "W"), ("北纬", "N"), ("南纬", "S"), ("经度", ""),
               ("纬度", ""))
_DMS = re.compile(
    r"(?P<deg>\d+(?:\.\d+)?)\s*(?:°|度|:)\s*"
    r"(?:(?P<min>\d+(?:\.\d+)?)\s*(?:'|分|:)\s*)?"
    r"(?:(?P<sec>\d+(?:\.\d+)?)\s*(?:\"|''|秒)?\s*)?")


def parse_coordinate(text: str) -> tuple[float, str]:
    """Degrees from decimal or DMS text with 东经/北纬/E/N/° → (value, axis 'E'/'N'/'')."""
    try:
        value = float(text)  # the common case: plain decimal degrees
        if math.isfinite(value):
            return value, ""
    except ValueError:
        pass
    cleaned = unicodedata.normalize("NFKC", text).strip()
    for old, new in (("′", "'"), ("’", "'"), ("″", '"'), ("”", '"'), ("〃", '"'), ("º", "°")):
        cleaned = cleaned.replace(old, new)
    axis = ""
    for word, letter in _AXIS_WORDS:
        if cleaned.startswith(word) or cleaned.endswith(word):
            cleaned = cleaned.removeprefix(word).removesuffix(word).strip(" :")
            axis = letter or axis
    if cleaned[-1:].upper() in {"E", "W", "N", "S"}:
        axis, cleaned = cleaned[-1].upper(), cleaned[:-1].strip()
    elif cleaned[:1].upper() in {"E", "W", "N", "S"}:
        axis, cleaned = cleaned[0].upper(), cleaned[1:].strip()
    sign = -1.0 if axis in {"W", "S"} else 1.0
    if cleaned.startswith("-"):
        sign, cleaned = -sign, cleaned[1:]
    cleaned = cleaned.rstrip("°").strip()
    try:
        return sign * _float(cleaned), axis.replace("W", "E").replace("S", "N")
    except ValueError:
        pass
    match = _DMS.fullmatch(cleaned)
    if not match or match.group("deg") is None:
        raise ValueError(f"「{text}」不是坐标（可写 105.78、105°47'20.8\"、105度47分20.8秒、"
                         "东经105.78）")
    minutes, seconds = float(match.group("min") or 0), float(match.group("sec") or 0)
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"「{text}」的分或秒不小于 60")
    value = float(match.group("deg")) + minutes / 60 + seconds / 3600
    return sign * value, axis.replace("W", "E").replace("S", "N")


def split_coordinates(text: str) -> tuple[str, str]:
    """A single 坐标 cell ('lon,lat', 'lon lat', '北纬… 东经…') as (lon text, lat text)."""
    cleaned = unicodedata.normalize("NFKC", text).strip().strip("()[]")
    parts = [p for p in re.split(r"\s*[,;，；/]\s*", cleaned) if p]
    if len(parts) != 2:
        parts = [p for p in re.split(r"\s+", cleaned) if p]
    if len(parts) != 2:
        raise ValueError(f"「{text}」不是「经度,纬度」两个数")
    first, second = parts
    if parse_coordinate(first)[1] == "N" or parse_coordinate(second)[1] == "E":
        first, second = second, first
    return first, second


def _metric_hint_possible(x: np.ndarray, y: np.ndarray, geographic: bool) -> np.ndarray:
    """Where :func:`metric_hint` could say something (those rows take the per-row path)."""
    northing = (y >= 1_000_000) & (y < 6_000_000)
    zone_prefixed = (x >= 13_000_000) & (x < 46_000_000) & northing
    plain_metres = (x >= 100_000) & (x < 1_000_000) & northing
    swapped = (x >= 1_000_000) & (x < 6_000_000) & (((y >= 100_000) & (y < 1_000_000))
                                                     | ((y >= 13_000_000) & (y < 46_000_000)))
    return swapped | zone_prefixed | (plain_metres & geographic)


def _prepared(zone: PreparedGeometry) -> BaseGeometry:
    """The geometry of a prepared one, prepared for shapely's vectorised predicates too."""
    shapely.prepare(zone.context)
    return zone.context


def metric_hint(x: float, y: float, chosen: crsmod.InputCRS) -> str | None:
    """What a metre coordinate in the wrong place probably means (zone prefix, swapped X/Y)."""
    geographic = chosen.pyproj_crs is None or chosen.pyproj_crs.is_geographic
    zone_prefixed = 13_000_000 <= x < 46_000_000 and 1_000_000 <= y < 6_000_000
    plain_metres = 100_000 <= x < 1_000_000 and 1_000_000 <= y < 6_000_000
    swapped = 1_000_000 <= x < 6_000_000 and (100_000 <= y < 1_000_000
                                              or 13_000_000 <= y < 46_000_000)
    if swapped:
        return (f"X={x:g}、Y={y:g} 像是测绘习惯的 X=北坐标、Y=东坐标：请加 --xy northing,easting"
                + ("，并用 --crs 说明坐标系（如 EPSG:4544）" if geographic else ""))
    if zone_prefixed:
        zone = int(x // 1_000_000)
        return (f"{x:g} 像是带带号的高斯-克吕格东坐标（米，第 {zone} 带）："
                f"请加 --crs EPSG:{4488 + zone}（CGCS2000 3度带第 {zone} 带）")
    if plain_metres and geographic:
        return (f"({x:g}, {y:g}) 是米制坐标，不是经纬度：请加 --crs EPSG:4544"
                "（CGCS2000 3度带，中央经线105°），带号开头的东坐标用 EPSG:4523")
    return None


FIGURE_PAIRS = (("nursing_beds", "beds"), ("occupied_beds", "beds"), ("used", "capacity"),
                ("population_60plus", "population"), ("population_0_17", "population"))


def field_title(layer: LayerSpec, columns: dict[str, str], field_name: str) -> str:
    """The field's header as in the file, else its catalogue title."""
    spec = layer.field(field_name)
    header = columns.get(field_name)
    if header and header != field_name:
        return header
    return spec.title if spec else field_name


def figure_conflicts(values: dict, layer: LayerSpec,
                     columns: dict[str, str]) -> list[tuple[str, str]]:
    """(field, message) for each part larger than its whole (nursing beds above beds …)."""
    found = []
    for part, whole in FIGURE_PAIRS:
        a, b = values.get(part), values.get(whole)
        if isinstance(a, int) and isinstance(b, int) and a > b:
            found.append((part, f"{field_title(layer, columns, part)}（{a}）大于"
                                f"{field_title(layer, columns, whole)}（{b}）"))
    return found


def key_note(key: str) -> str:
    """'（编号 X）' for a key from the file, '' for a key the loader derived from kind and name."""
    return "" if key.startswith("auto:") else f"（编号 {key}）"


def _convert(spec: FieldSpec, text: str) -> object:
    """A cell converted to the field's type; ValueError with a readable reason."""
    if spec.type in {"text", "code"}:
        value: object = text
        if spec.type == "code":
            digits = unicodedata.normalize("NFKC", text).replace(" ", "")
            if re.fullmatch(r"\d{9}", digits):
                digits += "000"
            if not re.fullmatch(r"\d{12}", digits):
                raise ValueError(f"「{text}」不是 12 位统计用区划代码")
            value = digits
        if spec.choices:
            value = spec.choice_aliases.get(text) or text
            if value not in spec.choices:
                raise ValueError(f"「{text}」不是以下之一：{'、'.join(spec.choices)}")
        return value
    if spec.type in {"int", "float"}:
        try:
            number = _float(text)
        except ValueError:
            found = re.search(r"\d+(?:\.\d+)?", unicodedata.normalize("NFKC", text))
            hint = f"：只写数字，例如 {found.group()}" if found else ""
            raise ValueError(f"「{text}」不是数字{hint}") from None
        if spec.type == "int":
            if not number.is_integer():
                raise ValueError(f"「{text}」不是整数")
            number = int(number)
        low = 0 if spec.min is None else spec.min
        if number < low or (spec.max is not None and number > spec.max):
            upper = f"–{spec.max:g}" if spec.max is not None else " 或以上"
            raise ValueError(f"「{text}」超出范围（{low:g}{upper}）")
        if spec.type == "int" and number > 2_147_483_647:
            raise ValueError(f"「{text}」太大")
        return number
    if spec.type == "bool":
        return parse_yes_no(text)
    if spec.type == "text[]":
        if text.startswith("["):  # a JSON array, as GeoJSON and GeoPackage carry lists
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                items = None
            if isinstance(items, list):
                return [str(item).strip() for item in items if str(item).strip()]
        return [part for part in _LIST_SPLIT.split(text) if part]
    if spec.type == "json":
        return _json_list(text)
    raise ValueError(f"不支持的字段类型 {spec.type}")


def parse_yes_no(text: str) -> bool:
    """是/否, true/false, 1/0 and friends (ValueError otherwise)."""
    key = text.strip().lower()
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"「{text}」不是 是/否")


def _json_list(text: str) -> list:
    """A JSON array, or names separated by 、 (each becomes an alias)."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"不是有效的 JSON（{exc.msg}）") from None
        if not isinstance(value, list):
            raise ValueError("应为 JSON 数组")
        return value
    return [{"name": part, "type": "alias"} for part in _LIST_SPLIT.split(text) if part]


def _point_problem(lon: float, lat: float, ctx: Context) -> str | None:
    """Why a storage-CRS point is implausible (swapped, outside the world or the district)."""
    swapped_ok = -180 <= lat <= 180 and -90 <= lon <= 90
    swapped_inside = ctx.district_zone is not None and ctx.district_zone.contains(Point(lat, lon))
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        if swapped_ok:
            return f"经度、纬度像是写反了（经度 {lon}，纬度 {lat}）"
        return f"坐标 ({lon}, {lat}) 超出经纬度范围"
    if ctx.district_zone is not None and not ctx.district_zone.contains(Point(lon, lat)):
        if swapped_inside:
            return f"经度、纬度像是写反了（经度 {lon}，纬度 {lat}）"
        return f"位置 ({lon:.6f}, {lat:.6f}) 在本区以外"
    return None


def _geometry_problem(geom: BaseGeometry, layer: LayerSpec, ctx: Context) -> str | None:
    """Why a storage-CRS geometry cannot be stored in this layer."""
    if geom.is_empty:
        return "几何为空"
    kind = geom.geom_type
    expected = layer.geometry
    if expected == "Point" and kind != "Point":
        return f"本图层要点，文件里是 {kind}"
    if expected == "MultiPolygon" and kind not in {"Polygon", "MultiPolygon"}:
        return f"本图层要面，文件里是 {kind}"
    if expected == "MultiLineString" and kind not in {"LineString", "MultiLineString"}:
        return f"本图层要线，文件里是 {kind}"
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        return "几何里有 NaN 或无穷大的坐标（坐标系不对？）"
    if kind == "Point":
        x, y = shapely.get_coordinates(geom)[0]
        return _point_problem(float(x), float(y), ctx)
    if not geom.is_valid:
        return f"几何无效：{shapely.is_valid_reason(geom)}"
    outside = ctx.district_zone is not None and not ctx.district_zone.intersects(geom)
    if outside and layer.geometry != "MultiPolygon":
        return "几何在本区以外"
    return None


class RowBuilder:
    """Validates rows of one file for one layer and builds database records.

    With partial=True (file loads) a record holds only the fields the file has a column
    for, and names the empty cells under EMPTY, so an update leaves the rest unchanged.
    """

    def __init__(
        self,
        layer: LayerSpec,
        columns: dict[str, str],
        input_crs: crsmod.InputCRS,
        ctx: Context,
        *,
        default_kind: str | None,
        source_name: str | None,
        partial: bool = False,
        northing_first: bool = False,
    ) -> None:
        self.layer = layer
        self.columns = columns
        self.crs = input_crs
        self.ctx = ctx
        self.default_kind = default_kind
        self.source_name = source_name
        self.partial = partial
        self.northing_first = northing_first
        self._mapped = set(columns.values())
        self._read_fields = [(spec, columns.get(spec.name)) for spec in layer.fields
                             if not partial or spec.name in columns]  # fields a row fills
        self._has_township = layer.field("township_code") is not None
        read = {spec.name for spec, _ in self._read_fields}
        self._pairs = tuple(pair for pair in FIGURE_PAIRS if set(pair) <= read)  # checkable
        self._memo: dict[tuple[str, str], tuple[object, str | None]] = {}
        self._name_header = columns.get("name")
        self._kind_header = columns.get("kind")
        self._key_header = columns.get("external_id")
        self._provenance_read = not partial or any(
            f in columns for f in ("is_public", "source", "geometry_accuracy"))
        self._kinds: dict[str, tuple[str | None, str | None]] = {}

    def extra_columns(self, headers: list[str]) -> list[str]:
        """Headers no field claims: kept verbatim in the `extra` column."""
        return [h for h in headers
                if h not in self._mapped and normalise_header(h) not in READ_ONLY_HEADERS]

    def _value(self, spec: FieldSpec, text: str) -> tuple[object, str | None]:
        """(value, None) or (None, why) for a non-empty cell; immutable results memoised."""
        if spec.type == "text" and not spec.choices:
            return text, None
        if spec.type in {"text[]", "json"}:  # lists: each record gets its own
            try:
                return _convert(spec, text), None
            except ValueError as exc:
                return None, str(exc)
        found = self._memo.get((spec.name, text))
        if found is None:
            try:
                found = (_convert(spec, text), None)
            except ValueError as exc:
                found = (None, str(exc))
            self._memo[(spec.name, text)] = found
        return found

    def cell(self, row: dict[str, str], field_name: str) -> str:
        """The raw text of a field in a row ('' if the file lacks the column)."""
        header = self.columns.get(field_name)
        return row.get(header, "") if header else ""

    def has(self, field_name: str) -> bool:
        """Whether the file has a column for the field."""
        return field_name in self.columns

    def build_many(
        self, rows: list[dict[str, str]], labels: list[str],
        geometries: list[BaseGeometry | None] | None, extra: list[str],
    ) -> Iterator[tuple[dict | None, list[Problem]]]:
        """Records (or problems) for many rows, converting coordinates in batches.

        Plain decimal lon/lat inside the district are converted, checked and placed in their
        township as arrays; every other row takes the per-row path with its exact message.
        Batches of BATCH_ROWS let the first records reach a streaming load early."""
        for start in range(0, len(rows), BATCH_ROWS):
            end = start + BATCH_ROWS
            yield from self._build_batch(rows[start:end], labels[start:end],
                                         None if geometries is None else geometries[start:end],
                                         extra)

    def _build_batch(
        self, rows: list[dict[str, str]], labels: list[str],
        geometries: list[BaseGeometry | None] | None, extra: list[str],
    ) -> Iterator[tuple[dict | None, list[Problem]]]:
        """build_many for one batch: its coordinates converted in one call."""
        located = self.located_points(rows) if geometries is None else {}
        slow = [i for i in range(len(rows)) if i not in located]
        sources = [self.source_geometry(rows[i], geometries[i] if geometries else None)
                   for i in slow]
        converted = dict(zip(slow, self.to_storage(sources), strict=True))
        for i, (row, label) in enumerate(zip(rows, labels, strict=True)):
            if i in located:
                yield self.build(row, label, None, extra, located=located[i])
            else:
                yield self.build(row, label, None, extra, converted=converted[i])

    def located_points(self, rows: list[dict[str, str]]) -> dict[int, Located]:
        """Rows given as plain decimal lon/lat that convert to a point inside the district:
        index → (point, township code); the rest are left to the per-row checks."""
        if self.layer.geometry != "Point" or self.layer.area_column or "lon" not in self.columns \
                or "lat" not in self.columns:
            return {}
        lon_header, lat_header = self.columns["lon"], self.columns["lat"]
        if self.northing_first:
            lon_header, lat_header = lat_header, lon_header
        others = [self.columns[f] for f in ("wkt", "coord") if f in self.columns]
        index: list[int] = []
        xs: list[float] = []
        ys: list[float] = []
        for i, row in enumerate(rows):
            if others and any(row.get(h, "") for h in others):
                continue
            try:
                lon_value = float(row.get(lon_header, ""))
                lat_value = float(row.get(lat_header, ""))
            except ValueError:
                continue
            index.append(i)
            xs.append(lon_value)
            ys.append(lat_value)
        if not index:
            return {}
        x, y = np.array(xs), np.array(ys)
        geographic = self.crs.pyproj_crs is None or self.crs.pyproj_crs.is_geographic
        ok = np.isfinite(x) & np.isfinite(y) & ~_metric_hint_possible(x, y, geographic)
        if geographic:
            ok &= (np.abs(x) <= 180) & (np.abs(y) <= 90)
        with np.errstate(invalid="ignore"):
            lon, lat = crsmod.to_storage_xy(np.where(ok, x, 0.0), np.where(ok, y, 0.0), self.crs)
        ok &= (np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180)
               & (np.abs(lat) <= 90))
        if self.ctx.district_zone is not None:
            ok &= shapely.contains_xy(_prepared(self.ctx.district_zone), lon, lat)
        keep = np.flatnonzero(ok)
        points = np.asarray(shapely.points(lon[keep], lat[keep]), dtype=object)
        townships: list[str | None] = [None] * len(keep)
        if self._has_township:
            left = np.ones(len(keep), dtype=bool)
            for code, poly in self.ctx.townships:  # the first township that has the point
                hit = left & shapely.intersects_xy(_prepared(poly), lon[keep], lat[keep])
                for j in np.flatnonzero(hit):
                    townships[j] = code
                left &= ~hit
        return {index[k]: (points[j], townships[j]) for j, k in enumerate(keep)}

    def build(
        self, row: dict[str, str], label: str, geometry: BaseGeometry | None, extra: list[str],
        *, converted: Converted | None = None, located: Located | None = None,
    ) -> tuple[dict | None, list[Problem]]:
        """One record, or None and the row's problems (`located`: a point already checked)."""
        problems: list[Problem] = []

        def bad(message: str, field_name: str | None = None) -> None:
            header = self.columns.get(field_name) if field_name else None
            problems.append(Problem(label, message, header or field_name))

        record: dict = {}
        empty: list[str] = []
        name = row.get(self._name_header, "") if self._name_header else ""
        if not name and not self.layer.name_optional:
            bad("名称为空", "name")
        record["name"] = name or (None if self.layer.name_optional else name)
        if self.layer.has_kind:
            self._kind(row, record, bad)
        for spec, header in self._read_fields:
            text = row.get(header, "") if header else ""
            if text == "":
                if spec.required:
                    bad(f"{spec.title}为空", spec.name)
                record[spec.name] = [] if spec.type in {"text[]", "json"} else spec.default
                empty.append(spec.name)
                continue
            value, why = self._value(spec, text)
            if why is None:
                record[spec.name] = value
            else:
                bad(why, spec.name)
        self._provenance(row, record, bad, empty)
        self._cross_checks(record, bad)
        geom: BaseGeometry | None = None
        if located is not None:
            geom, area = located[0], None
        else:
            if converted is None:
                converted = self.to_storage([self.source_geometry(row, geometry)])[0]
            geom, area = self._checked(converted, bad)
        if geom is not None:
            self._place(record, geom, bad, empty, located)
            if self.layer.area_column:
                record[self.layer.area_column] = area
        if extra or not self.partial:
            record["extra"] = {h: row[h] for h in extra if row.get(h, "") != ""}
        key = row.get(self._key_header, "") if self._key_header else ""
        record["external_id"] = key or self._derived_key(record)
        if self.partial:
            record[EMPTY] = empty
        return (None if problems else record), problems

    def _kind(self, row: dict[str, str], record: dict, bad: Callable) -> None:
        """Kind from the row (or --kind), mapped onto the catalogue's names."""
        given = row.get(self._kind_header, "") if self._kind_header else ""
        found = self._kinds.get(given)
        if found is None:
            found = self._kinds[given] = self._kind_of(given)
        kind, why = found
        if why is not None:
            bad(why, "kind")
        if kind is not None:
            record["kind"] = kind

    def _kind_of(self, given: str) -> tuple[str | None, str | None]:
        """(kind, why not) for a 类型 cell ('' when empty): why is None for a good kind."""
        text = given or (self.default_kind or "")
        if not text:
            return None, "类型为空：请填写类型列，或用 --kind 指定"
        kind = self.layer.canonical_kind(unicodedata.normalize("NFKC", text).replace(" ", ""))
        kind = kind or self.layer.canonical_kind(text)
        if kind is None:
            close = difflib.get_close_matches(text, self.layer.kinds, n=1, cutoff=0.4)
            hint = f"；是不是「{close[0]}」？" if close else ""
            return None, (f"未知的类型「{text}」{hint}"
                          f"（可用类型：{'、'.join(self.layer.kinds)}）")
        if self.default_kind and given:
            wanted = self.layer.canonical_kind(self.default_kind)
            if wanted != kind:
                return kind, f"类型「{kind}」与 --kind「{self.default_kind}」不一致"
        return kind, None

    def _provenance(self, row: dict[str, str], record: dict, bad: Callable,
                    empty: list[str]) -> None:
        """is_public, source and geometry accuracy (absent columns stay absent when partial)."""
        if not self._provenance_read:  # a file without these columns: only --source
            if self.source_name:
                record["source"] = self.source_name
            return
        text = self.cell(row, "is_public")
        if text or not self.partial or self.has("is_public"):
            try:
                record["is_public"] = parse_yes_no(text) if text else True
            except ValueError as exc:
                bad(str(exc), "is_public")
            if not text:
                empty.append("is_public")
        source = self.cell(row, "source") or self.source_name
        if source:
            record["source"] = source
        elif not self.partial:
            record["source"] = "api"
        accuracy = self.cell(row, "geometry_accuracy")
        if accuracy or not self.partial or self.has("geometry_accuracy"):
            value = ACCURACY_ALIASES.get(accuracy, accuracy.lower()) if accuracy else "unknown"
            if value not in ACCURACIES:
                bad(f"位置精度「{accuracy}」不是以下之一：{'、'.join(ACCURACIES)}"
                    f"（或 {'、'.join(ACCURACY_ALIASES)}）", "geometry_accuracy")
            record["geometry_accuracy"] = value
            if not accuracy:
                empty.append("geometry_accuracy")

    def _cross_checks(self, record: dict, bad: Callable) -> None:
        """Figures that must agree with each other."""
        if self._pairs:
            for part, message in figure_conflicts(record, self.layer, self.columns):
                bad(message, part)

    def _lon_lat_text(self, row: dict[str, str]) -> tuple[str, str, str]:
        """(x text, y text, field to blame) from 经度/纬度 or a single 坐标 column."""
        if self.has("coord") and self.cell(row, "coord"):
            lon, lat = split_coordinates(self.cell(row, "coord"))
            return lon, lat, "coord"
        lon, lat = self.cell(row, "lon"), self.cell(row, "lat")
        if self.northing_first:
            lon, lat = lat, lon
        return lon, lat, "lon"

    def source_geometry(self, row: dict[str, str], geometry: BaseGeometry | None) -> Converted:
        """The row's geometry in the file's CRS (file geometry, WKT or lon/lat), or why not."""
        blame = "lon"
        if geometry is not None and self.northing_first:
            geometry = shapely.transform(geometry, lambda xy: xy[:, ::-1])
        if geometry is None:
            wkt = self.cell(row, "wkt")
            try:
                lon_text, lat_text, blame = self._lon_lat_text(row)
            except ValueError as exc:
                return None, (str(exc), "coord")
            if wkt:
                try:
                    geometry = parse_wkt(wkt)
                except ValueError as exc:
                    return None, (f"WKT 几何读不出来（{exc}）", "wkt")
            elif lon_text or lat_text:
                if not (lon_text and lat_text):
                    which, where = ("经度", "lon") if not lon_text else ("纬度", "lat")
                    return None, (f"{which}为空", where)
                try:
                    lon, lon_axis = parse_coordinate(lon_text)
                    lat, lat_axis = parse_coordinate(lat_text)
                except ValueError as exc:
                    return None, (f"经度/纬度（{lon_text}，{lat_text}）不都是数字：{exc}", blame)
                if lon_axis == "N" and lat_axis in {"E", ""}:
                    lon, lat = lat, lon
                geometry = Point(lon, lat)
            else:
                return None, ("没有位置：经度/纬度（或 WKT 列）为空", blame)
        if geometry is None or geometry.is_empty:
            return None, ("几何为空", None)
        coords = shapely.get_coordinates(geometry)
        if not np.isfinite(coords).all():
            return None, ("几何里有 NaN 或无穷大的坐标", None)
        x, y = float(coords[0][0]), float(coords[0][1])
        hint = metric_hint(x, y, self.crs)
        if hint:
            return None, (hint, blame)
        geographic = self.crs.pyproj_crs is None or self.crs.pyproj_crs.is_geographic
        if geographic and ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
            if abs(x) <= 90 and abs(y) <= 180:
                return None, (f"经度、纬度像是写反了（经度 {x}，纬度 {y}）", blame)
            return None, (f"坐标 ({x}, {y}) 超出经纬度范围；若是米制坐标请用 --crs 说明", blame)
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
            bad(*(why or ("没有几何", None)))
            return None, None
        area = None
        if self.layer.area_column and isinstance(stored, Polygon | MultiPolygon):
            area = stored if isinstance(stored, MultiPolygon) else MultiPolygon([stored])
            problem = _geometry_problem(area, replace(self.layer, geometry="MultiPolygon"),
                                        self.ctx)
            if problem:
                bad(f"场地范围：{problem}", "wkt")
                return None, None
            stored = area.point_on_surface()
        if self.layer.geometry == "MultiPolygon" and isinstance(stored, Polygon):
            stored = MultiPolygon([stored])
        if self.layer.geometry == "MultiLineString" and isinstance(stored, LineString):
            stored = MultiLineString([stored])
        problem = _geometry_problem(stored, self.layer, self.ctx)
        if problem:
            columns = ("coord", "lon", "wkt") if stored.geom_type == "Point" else ("wkt",)
            bad(problem, next((c for c in columns if self.has(c)), None))  # else: its geometry
            return None, None
        return stored, area

    def _place(self, record: dict, geom: BaseGeometry, bad: Callable, empty: list[str],
               located: Located | None = None) -> None:
        """Store the geometry; fill or check the township code; convert representative points."""
        record["geom"] = geom
        if "rep_lon" in record or "rep_lat" in record:
            rep_lon, rep_lat = record.pop("rep_lon", None), record.pop("rep_lat", None)
            record["rep_point"] = None
            if rep_lon is not None and rep_lat is not None:
                x, y = crsmod.to_storage_xy([rep_lon], [rep_lat], self.crs)
                record["rep_point"] = Point(float(x[0]), float(y[0]))
            elif "rep_lon" in empty or "rep_lat" in empty:
                empty.append("rep_point")
        township = self._has_township
        if township and self.ctx.townships:
            code = record.get("township_code")
            if code is None:
                if located is not None:
                    record["township_code"] = located[1]
                else:
                    inside = [c for c, poly in self.ctx.townships if poly.intersects(geom)]
                    record["township_code"] = inside[0] if inside else None
                if self.partial:
                    record[DERIVED] = ["township_code"]
            elif code not in self.ctx.known_codes:
                bad(f"镇街代码 {code} 不是本区的镇街", "township_code")

    def _derived_key(self, record: dict) -> str:
        """A stable key when the file has no id column: kind and (normalised) name.

        Lines (roads) add their geometry's hash: many unnamed roads share kind and name."""
        name = re.sub(r"\s+", "", unicodedata.normalize("NFKC", record.get("name") or ""))
        parts = [self.layer.id, record.get("kind") or "", name]
        if self.layer.geometry == "MultiLineString" and record.get("geom") is not None:
            parts.append(hashlib.sha1(shapely.to_wkb(record["geom"])).hexdigest()[:16])
        return "auto:" + "|".join(parts)
