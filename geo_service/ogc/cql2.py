"""CQL2 (text and JSON) → SQLAlchemy WHERE clauses with bound parameters.

Parsing is pygeofilter's; compiling is ours, so that every literal is a bound parameter,
only queryable properties of the caller's view are reachable, types are checked, and
geometries in the filter CRS are brought to storage coordinates by geo_service.crs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import shapely
from lark.exceptions import LarkError
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from sqlalchemy import (
    ARRAY,
    Boolean,
    Float,
    Integer,
    Text,
    and_,
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
from geo_service.ogc.cql2_text import parse_text
from geo_service.ogc.crs_negotiation import CRS84, OgcCRS, geometry_in_storage

# Local time of the bureau: a bare date means that whole day in China Standard Time.
CST = timezone(timedelta(hours=8))
GEOMETRY_NAMES = ("geometry", "geom")
_NUMERIC = {"int", "float"}
_TEXT = {"text", "code"}


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


def filter_lang(lang: str | None) -> str:
    """The filter-lang value (cql2-text by default); 400 for any other language."""
    value = (lang or "cql2-text").lower()
    if value not in ("cql2-text", "cql2-json"):
        raise CQL2Error(f"filter-lang: {lang!r} is not supported; use cql2-text or cql2-json")
    return value


def parse(expression: str, lang: str | None) -> ast.Node:
    """Parse a CQL2 text or JSON filter; 400 with the parser's reason when it is malformed."""
    lang = filter_lang(lang)
    try:
        if lang == "cql2-json":
            return parse_json(json.loads(expression))
        return parse_text(expression)
    except json.JSONDecodeError as exc:
        raise CQL2Error(f"filter: not valid JSON ({exc.msg} at character {exc.pos})") from None
    except LarkError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CQL2Error(f"filter: cannot parse CQL2 text: {first}") from None
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise CQL2Error(f"filter: cannot parse {lang}: {exc}") from None


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
            return and_(self.predicate(node.lhs), self.predicate(node.rhs))
        if isinstance(node, ast.Or):
            return or_(self.predicate(node.lhs), self.predicate(node.rhs))
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
            ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b,
                   "*": lambda a, b: a * b, "/": lambda a, b: a / func.nullif(b, 0)}
            return Typed(ops[node.op.value](lhs.sql, rhs.sql), "float")
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
        if geom.is_empty:
            raise CQL2Error("filter: empty geometry")
        if not all(-_INF < v < _INF for v in shapely.get_coordinates(geom).flat):
            raise CQL2Error("filter: a geometry coordinate is not a finite number (such as "
                            "1e400 or NaN); give coordinates in degrees or metres")
        stored = geometry_in_storage(geom, self.crs)
        return func.ST_GeomFromText(literal(stored.wkt, Text), STORAGE_SRID)

    @staticmethod
    def _need(typed: Typed, allowed: set[str], op: str) -> None:
        if typed.type is not None and typed.type not in allowed:
            raise CQL2Error(f"filter: {op} does not apply to a {typed.type} value")


_INF = float("inf")


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
            if not isinstance(value, bool):
                raise ValueError
            return literal(value, Boolean)
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
