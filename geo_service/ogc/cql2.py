"""CQL2 (text and JSON) → SQLAlchemy WHERE clauses with bound parameters.

Text is parsed by pygeofilter's grammar (extended in cql2_text), JSON by cql2_json; both give
pygeofilter's AST. Compiling is ours, so that every literal is a bound parameter, only
queryable properties of the caller's view are reachable, types are checked, and geometries
in the filter CRS are brought to storage coordinates by geo_service.crs. A filter larger or
deeper than MAX_NODES / MAX_DEPTH is a 400 naming the limit (nothing recurses unbounded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import shapely
from lark.exceptions import LarkError
from pygeofilter import ast, values
from sqlalchemy import (
    ARRAY,
    Boolean,
    Float,
    Integer,
    Numeric,
    Text,
    and_,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.sql.elements import ColumnElement

from geo_service.crs import STORAGE_SRID
from geo_service.errors import GeoServiceError
from geo_service.ogc.collections import Property
from geo_service.ogc.cql2_ast import IntegerDivide, Modulo, Power
from geo_service.ogc.cql2_json import JSONFilterError, walk
from geo_service.ogc.cql2_text import parse_text
from geo_service.ogc.crs_negotiation import CRS84, OgcCRS, geometry_in_storage

# Local time of the bureau: a bare date means that whole day in China Standard Time.
CST = timezone(timedelta(hours=8))
GEOMETRY_NAMES = ("geometry", "geom")
_NUMERIC = {"int", "float"}
_TEXT = {"text", "code"}
# Size limits of one filter: characters of its text, nesting levels (a chain of ANDs or of
# ORs is one level), and operators + properties + values.
MAX_CHARS = 100_000
MAX_DEPTH = 40
MAX_NODES = 5_000


class CQL2Error(GeoServiceError):
    """A filter that cannot be parsed or does not fit the collection's queryables."""

    status_code = 400


@dataclass(frozen=True)
class Typed:
    """A compiled expression and its type (catalogue type, 'geometry', or None = literal)."""

    sql: Any
    type: str | None
    literal: Any = None
    is_literal: bool = False


# filter-lang values: the CQL2 ones, and cql-text, the name GDAL's OAPIF driver recognises
# (it writes plain comparisons, AND/OR/NOT, LIKE/ILIKE and IS NULL: a subset of CQL2 text).
FILTER_LANGS = {"cql2-text": "cql2-text", "cql2-json": "cql2-json", "cql-text": "cql2-text"}


def filter_lang(lang: str | None) -> str:
    """The filter-lang value (cql2-text by default); 400 for any other language."""
    value = FILTER_LANGS.get((lang or "cql2-text").lower())
    if value is None:
        raise CQL2Error(f"filter-lang: {lang!r} is not supported; use "
                        f"{', '.join(FILTER_LANGS)}")
    return value


def parse(expression: str, lang: str | None) -> ast.Node:
    """Parse a CQL2 text or JSON filter; 400 with the reason when malformed or too large."""
    lang = filter_lang(lang)
    if len(expression) > MAX_CHARS:
        raise CQL2Error(f"filter: {len(expression)} characters; the limit is {MAX_CHARS}")
    try:
        if lang == "cql2-json":
            document = json.loads(expression)
            _check_json_depth(document)
            node = walk(document)
        else:
            node = parse_text(expression)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise CQL2Error(f"filter: not valid JSON ({exc.msg} at character {exc.pos})") from None
    except LarkError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CQL2Error(f"filter: cannot parse CQL2 text: {first}") from None
    except (JSONFilterError, ValueError, KeyError, TypeError, AttributeError,
            IndexError) as exc:
        raise CQL2Error(f"filter: cannot parse {lang}: {exc}") from None
    check_size(node)
    return node


def _too_deep() -> CQL2Error:
    return CQL2Error(f"filter: nested more than {MAX_DEPTH} levels deep (the limit; a chain "
                     "of ANDs or of ORs counts as one level)")


def _check_json_depth(document: Any) -> None:
    """400 when JSON nests deeper than a filter within MAX_DEPTH can (checked without recursion)."""
    limit = 2 * MAX_DEPTH + 8  # {"op", "args": [...]} is two levels; coordinates add four
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise _too_deep()
        children = value.values() if isinstance(value, dict) else (
            value if isinstance(value, list) else ())
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, dict | list))


def _children(node: Any) -> list[Any]:
    if isinstance(node, list):
        return node
    if not isinstance(node, ast.Node):
        return []
    children = list(node.get_sub_nodes())
    if isinstance(node, ast.Like):
        children.append(node.pattern)
    return children


def check_size(root: Any) -> None:
    """400 naming the limit when a parsed filter exceeds MAX_DEPTH or MAX_NODES (iterative)."""
    stack = [(root, 1)]
    nodes = 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise CQL2Error(f"filter: more than {MAX_NODES} operators, properties and values "
                            "(the limit); split the request or use bbox / property=value")
        if depth > MAX_DEPTH:
            raise _too_deep()
        chain = isinstance(node, ast.And | ast.Or)
        stack.extend((child, depth if chain and type(child) is type(node) else depth + 1)
                     for child in _children(node))


def _chain(node: ast.Combination) -> list[Any]:
    """The operands of a chain of one boolean operator, in order (without recursion)."""
    operands: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if type(current) is type(node):
            stack.extend([current.rhs, current.lhs])
        else:
            operands.append(current)
    return operands


class Compiler:
    """Compiles one parsed filter against the caller's queryable properties."""

    def __init__(self, properties: dict[str, Property], geometry: Any,
                 filter_crs: OgcCRS = CRS84) -> None:
        self.properties = properties
        self.geometry = geometry
        self.crs = filter_crs

    # -- predicates -------------------------------------------------------------------
    def predicate(self, node: Any) -> ColumnElement[bool]:
        """A node that must be a condition → SQL boolean."""
        if isinstance(node, ast.Not):
            return not_(self.predicate(node.sub_node))
        if isinstance(node, ast.And):
            return and_(*(self.predicate(n) for n in _chain(node)))
        if isinstance(node, ast.Or):
            return or_(*(self.predicate(n) for n in _chain(node)))
        if isinstance(node, ast.Comparison):
            return self._comparison(node)
        if isinstance(node, ast.Between):
            lhs = self.expr(node.lhs)
            low, high = self._operand(node.low, lhs), self._operand(node.high, lhs)
            self._need(lhs, _NUMERIC | {"datetime", "date"} | _TEXT, "BETWEEN")
            clause = lhs.sql.between(low.sql, high.sql)
            return not_(clause) if node.not_ else clause
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.In):
            lhs = self.expr(node.lhs)
            options = [self._operand(o, lhs).sql for o in node.sub_nodes]
            clause = lhs.sql.in_(options)
            return not_(clause) if node.not_ else clause
        if isinstance(node, ast.IsNull):
            lhs = self.expr(node.lhs)
            return lhs.sql.is_not(None) if node.not_ else lhs.sql.is_(None)
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        if isinstance(node, ast.SpatialDistancePredicate):
            return self._distance(node)
        if isinstance(node, ast.BBox):
            box = shapely.box(node.minx, node.miny, node.maxx, node.maxy)
            return func.ST_Intersects(self._geometry_side(node.lhs), self._geom_literal(box))
        if isinstance(node, ast.ArrayPredicate):
            return self._array(node)
        if isinstance(node, ast.Include):
            return false() if node.not_ else true()
        if isinstance(node, bool):
            return literal(node, Boolean)
        if isinstance(node, ast.Attribute):
            prop = self.expr(node)
            if prop.type == "bool":
                return prop.sql
        raise CQL2Error(f"filter: {_describe(node)} is not a condition")

    def _comparison(self, node: ast.Comparison) -> ColumnElement[bool]:
        lhs = self.expr(node.lhs)
        rhs = self._operand(node.rhs, lhs)
        if lhs.is_literal and not rhs.is_literal:
            lhs = self._operand(node.lhs, rhs)
        for side in (lhs, rhs):
            if side.type in ("geometry", "text[]", "json"):
                raise CQL2Error(f"filter: {node.op.value} cannot compare a {side.type} value; "
                                "use S_* (spatial) or A_* (array) operators")
        if node.op.value in ("<", "<=", ">", ">=") and "bool" in (lhs.type, rhs.type):
            raise CQL2Error(f"filter: {node.op.value} is not defined for booleans")
        ops = {"=": lambda a, b: a == b, "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
        return ops[node.op.value](lhs.sql, rhs.sql)

    def _like(self, node: ast.Like) -> ColumnElement[bool]:
        lhs = self.expr(node.lhs)
        self._need(lhs, _TEXT, "LIKE")
        pattern = self.expr(node.pattern)
        if pattern.type not in (None, "text") or not (
                isinstance(pattern.literal, str) or not pattern.is_literal):
            raise CQL2Error("filter: the pattern of LIKE must be a string")
        pattern_sql = literal(pattern.literal, Text) if pattern.is_literal else pattern.sql
        clause = (lhs.sql.ilike(pattern_sql) if node.nocase
                  else lhs.sql.like(pattern_sql))
        return not_(clause) if node.not_ else clause

    def _temporal(self, node: ast.TemporalPredicate) -> ColumnElement[bool]:
        lhs = self.expr(node.lhs)
        self._need(lhs, {"datetime", "date"}, node.op.value)
        start, end = _interval(node.rhs)
        col = lhs.sql
        op = node.op.value
        s = literal(start, TIMESTAMP(timezone=True)) if start else None
        e = literal(end, TIMESTAMP(timezone=True)) if end else None
        inside = and_(*([col >= s] if s is not None else []), *([col < e] if e is not None
                                                               else []))
        if op == "AFTER":
            return col >= e if e is not None else false()
        if op == "BEFORE":
            return col < s if s is not None else false()
        if op in ("TOVERLAPS", "DURING", "TEQUALS"):  # T_INTERSECTS parses as TOVERLAPS
            return inside
        if op == "DISJOINT":
            return not_(inside)
        raise CQL2Error(f"filter: temporal operator T_{op} is not supported on instants; "
                        "use T_AFTER, T_BEFORE, T_DURING, T_EQUALS, T_INTERSECTS or T_DISJOINT")

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> ColumnElement[bool]:
        lhs, rhs = self._geometry_side(node.lhs), self._geometry_side(node.rhs)
        name = {"INTERSECTS": "ST_Intersects", "DISJOINT": "ST_Disjoint",
                "CONTAINS": "ST_Contains", "WITHIN": "ST_Within", "TOUCHES": "ST_Touches",
                "CROSSES": "ST_Crosses", "OVERLAPS": "ST_Overlaps", "EQUALS": "ST_Equals"}
        return getattr(func, name[node.op.name])(lhs, rhs)

    def _distance(self, node: ast.SpatialDistancePredicate) -> ColumnElement[bool]:
        lhs, rhs = self._geometry_side(node.lhs), self._geometry_side(node.rhs)
        factor = {"meters": 1.0, "m": 1.0, "kilometers": 1000.0, "km": 1000.0}.get(
            str(node.units or "meters").lower())
        if factor is None:
            raise CQL2Error(f"filter: distance unit {node.units!r}; use meters or kilometers")
        metres = literal(float(node.distance) * factor, Float)
        within = func.ST_DWithin(func.geography(lhs), func.geography(rhs), metres)
        return within if node.op.value == "DWITHIN" else not_(within)

    def _array(self, node: ast.ArrayPredicate) -> ColumnElement[bool]:
        lhs = self.expr(node.lhs)
        self._need(lhs, {"text[]"}, node.op.value)
        items = node.rhs if isinstance(node.rhs, list | tuple) else [node.rhs]
        if not all(isinstance(i, str) for i in items):
            raise CQL2Error(f"filter: {node.op.value} needs an array of strings")
        arr = literal(list(items), ARRAY(Text))
        operator = {"AEQUALS": "=", "ACONTAINS": "@>", "ACONTAINEDBY": "<@",
                    "AOVERLAPS": "&&"}[node.op.value]
        return lhs.sql.op(operator, is_comparison=True)(arr)

    # -- expressions ------------------------------------------------------------------
    def expr(self, node: Any) -> Typed:
        """A value expression: property, literal, arithmetic or function."""
        if isinstance(node, ast.Attribute):
            if node.name in GEOMETRY_NAMES:
                return Typed(self.geometry, "geometry")
            prop = self.properties.get(node.name)
            if prop is None:
                raise CQL2Error(
                    f"filter: unknown property {node.name!r}; queryable properties are: "
                    f"{', '.join([*self.properties, 'geometry'])}")
            return Typed(prop.column, prop.type)
        if isinstance(node, ast.Arithmetic):
            lhs, rhs = self.expr(node.lhs), self.expr(node.rhs)
            for side in (lhs, rhs):
                self._need(side, _NUMERIC, node.op.value)
            return Typed(_arithmetic(node, _number(lhs), _number(rhs)), "float")
        if isinstance(node, ast.Function):
            if node.name.lower() not in ("lower", "upper") or len(node.arguments) != 1:
                raise CQL2Error(f"filter: function {node.name!r} is not supported "
                                "(CASEI/lower and upper are)")
            arg = self.expr(node.arguments[0])
            self._need(arg, _TEXT, node.name)
            fn = func.lower if node.name.lower() == "lower" else func.upper
            value = bind_literal(arg.literal, "text") if arg.is_literal else arg.sql
            return Typed(fn(value), "text")
        if isinstance(node, values.Geometry | values.Envelope):
            return Typed(self._geometry_side(node), "geometry")
        if isinstance(node, bool | int | float | str | datetime | date):
            return Typed(None, None, node, True)
        raise CQL2Error(f"filter: {_describe(node)} is not supported here")

    def _operand(self, node: Any, other: Typed) -> Typed:
        """An operand, with a literal coerced to the type of the other side."""
        typed = self.expr(node)
        if not typed.is_literal:
            return typed
        return Typed(bind_literal(typed.literal, other.type), other.type, typed.literal, True)

    def _geometry_side(self, node: Any) -> Any:
        if isinstance(node, ast.Attribute):
            typed = self.expr(node)
            if typed.type != "geometry":
                raise CQL2Error(f"filter: property {node.name!r} is not a geometry; "
                                "spatial operators take the property 'geometry'")
            return typed.sql
        if isinstance(node, values.Geometry):
            if isinstance(node.geometry, dict) and "srid" in node.geometry:
                raise CQL2Error(f"filter: SRID={node.geometry['srid']} in a geometry is not "
                                "supported; name the geometry's CRS with filter-crs")
            try:
                geom = shapely.geometry.shape(node.geometry)
            except (ValueError, TypeError, AttributeError, shapely.errors.ShapelyError) as exc:
                raise CQL2Error(f"filter: invalid geometry: {exc}") from None
            return self._geom_literal(geom)
        if isinstance(node, values.Envelope):
            # pygeofilter fills Envelope positionally from [minx, miny, maxx, maxy] (CQL2 JSON
            # {"bbox": [...]} and our BBOX(...) text literal), whatever the field names say.
            return self._geom_literal(shapely.box(node.x1, node.x2, node.y1, node.y2))
        raise CQL2Error(f"filter: {_describe(node)} is not a geometry")

    def _geom_literal(self, geom: shapely.Geometry) -> Any:
        if shapely.is_empty(geom):
            raise CQL2Error("filter: empty geometry")
        if not all(-_INF < v < _INF for v in shapely.get_coordinates(geom).flat):
            raise CQL2Error("filter: a geometry coordinate is not a finite number (such as "
                            "1e400 or NaN); give coordinates in degrees or metres")
        stored = geometry_in_storage(geom, self.crs)
        wkt = shapely.to_wkt(stored, rounding_precision=-1)  # every digit
        return func.ST_GeomFromText(literal(wkt, Text), STORAGE_SRID)

    @staticmethod
    def _need(typed: Typed, allowed: set[str], op: str) -> None:
        if typed.type is not None and typed.type not in allowed:
            raise CQL2Error(f"filter: {op} does not apply to a {typed.type} value")


_INF = float("inf")


def _number(typed: Typed) -> Any:
    """A numeric operand of arithmetic as SQL (a literal becomes a bound float)."""
    return bind_literal(typed.literal, "float") if typed.is_literal else typed.sql


def _arithmetic(node: ast.Arithmetic, a: Any, b: Any) -> Any:
    """+ - * / % div ^ in SQL; dividing by zero gives NULL (no row), not an error."""
    if isinstance(node, Modulo | IntegerDivide):
        fn = func.mod if isinstance(node, Modulo) else func.div
        return cast(fn(cast(a, Numeric), func.nullif(cast(b, Numeric), 0)), Float)
    if isinstance(node, Power):
        return func.power(cast(a, Float), cast(b, Float))
    ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
           "/": lambda: cast(a, Float) / func.nullif(cast(b, Float), 0)}
    return ops[node.op.value]()


def _describe(node: Any) -> str:
    return f"{type(node).__name__} {node!r}"[:120]


def bind_literal(value: Any, type_: str | None) -> Any:
    """A literal as a bound parameter of the given catalogue type; 400 when it cannot be."""
    try:
        if type_ == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return literal(int(value), Integer)
        if type_ == "float":
            if isinstance(value, bool):
                raise ValueError
            return literal(float(value), Float)
        if type_ == "bool":
            if not isinstance(value, bool) and value not in (0, 1):
                raise ValueError
            return literal(bool(value), Boolean)  # 0/1: GDAL writes booleans as integers
        if type_ in ("datetime", "date"):
            return literal(_instant(value), TIMESTAMP(timezone=True))
        if type_ in _TEXT:
            if not isinstance(value, str):
                raise ValueError
            return literal(value, Text)
    except (ValueError, TypeError):
        raise CQL2Error(f"filter: {value!r} is not a {type_} value") from None
    return literal(value)


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CST)
    if isinstance(value, date):
        return datetime.combine(value, time(), CST)
    if isinstance(value, str):
        return _instant(parse_instant(value))
    raise ValueError(value)


def _interval(value: Any) -> tuple[datetime | None, datetime | None]:
    """A temporal literal → half-open [start, end) (an instant is [t, t + 1 µs))."""
    if isinstance(value, values.Interval):
        start = None if value.start in (None, "..") else _interval(value.start)[0]
        end = None if value.end in (None, "..") else _interval(value.end)[1]
        return start, end
    if isinstance(value, datetime):
        instant = _instant(value)
        return instant, instant + timedelta(microseconds=1)
    if isinstance(value, date):
        start = _instant(value)
        return start, start + timedelta(days=1)
    raise CQL2Error(f"filter: {_describe(value)} is not a timestamp, date or interval")


def parse_instant(text: str) -> datetime | date:
    """RFC 3339 date-time or date text → datetime/date; ValueError if neither."""
    text = text.strip()
    if len(text) == 11 and text.endswith("T"):  # GDAL's OAPIF driver writes a date so
        text = text[:-1]
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def datetime_clause(text: str, column: Any) -> ColumnElement[bool]:
    """The `datetime` parameter (instant, or interval a/b with '..' open ends) → SQL."""
    try:
        if "/" in text:
            a, b = text.split("/", 1)
            start = None if a in ("", "..") else _interval(parse_instant(a))[0]
            end = None if b in ("", "..") else _interval(parse_instant(b))[1]
        else:
            start, end = _interval(parse_instant(text))
    except ValueError:
        raise CQL2Error(f"datetime: {text!r} is not an RFC 3339 date-time, date or "
                        "interval (start/end, '..' for open)") from None
    if start is not None and end is not None and start >= end:
        raise CQL2Error(f"datetime: interval {text!r} ends before it starts")
    clauses = []
    if start is not None:
        clauses.append(column >= literal(start, TIMESTAMP(timezone=True)))
    if end is not None:
        clauses.append(column < literal(end, TIMESTAMP(timezone=True)))
    return and_(*clauses) if clauses else true()


def compile_filter(expression: str, lang: str | None, properties: dict[str, Property],
                   geometry: Any, filter_crs: OgcCRS = CRS84) -> ColumnElement[bool]:
    """Parse and compile a filter for the caller's properties (400 on any problem)."""
    return Compiler(properties, geometry, filter_crs).predicate(parse(expression, lang))
