"""CQL2 JSON (OGC 21-065, JSON encoding) → pygeofilter AST, the same AST the text parser builds.

pygeofilter 0.4's JSON parser knows only the draft `between` ([x, [low, high]]), takes a LIKE
pattern verbatim, and recurses without a bound. This walker follows the 1.0 schema (and
still accepts the draft `between`); callers check the nesting depth first (cql2.check_size).
"""

from __future__ import annotations

from typing import Any

from pygeofilter import ast, values
from pygeofilter.cql2 import (
    ARRAY_PREDICATES_MAP,
    COMPARISON_MAP,
    SPATIAL_PREDICATES_MAP,
    TEMPORAL_PREDICATES_MAP,
)
from pygeofilter.util import parse_date, parse_datetime

from geo_service.ogc.cql2_ast import ARITHMETIC


class JSONFilterError(ValueError):
    """A CQL2 JSON node that does not follow the schema; the message says which."""


def _arity(op: str, args: list[Any], *counts: int) -> None:
    if len(args) not in counts:
        wanted = " or ".join(str(c) for c in counts)
        raise JSONFilterError(f"op {op!r} takes {wanted} arguments, got {len(args)}")


def _instant(text: Any, kind: str) -> Any:
    if not isinstance(text, str):
        raise JSONFilterError(f"{kind}: {text!r} is not a string")
    if text == "..":
        return None
    return parse_date(text) if kind == "date" or len(text) == 10 else parse_datetime(text)


def _operation(op: str, args: list[Any]) -> Any:
    name = op.lower()
    if name in ("and", "or"):
        if len(args) < 2:
            raise JSONFilterError(f"op {op!r} takes at least 2 arguments, got {len(args)}")
        return (ast.And if name == "and" else ast.Or).from_items(*(walk(a) for a in args))
    if name == "not":
        _arity(op, args, 1)
        return ast.Not(walk(args[0]))
    if name == "isnull":
        _arity(op, args, 1)
        return ast.IsNull(walk(args[0]), False)
    if name == "between":
        _arity(op, args, 2, 3)
        low_high = args[1:] if len(args) == 3 else args[1]
        if not isinstance(low_high, list) or len(low_high) != 2:
            raise JSONFilterError("op 'between' takes a value, a lower and an upper bound")
        return ast.Between(walk(args[0]), walk(low_high[0]), walk(low_high[1]), False)
    if name == "like":
        _arity(op, args, 2)
        return ast.Like(walk(args[0]), walk(args[1]), False, "%", "_", "\\", False)
    if name == "in":
        _arity(op, args, 2)
        if not isinstance(args[1], list):
            raise JSONFilterError("op 'in' takes a value and an array of values")
        return ast.In(walk(args[0]), [walk(a) for a in args[1]], False)
    if name == "casei":
        _arity(op, args, 1)
        return ast.Function("lower", [walk(args[0])])
    for table in (COMPARISON_MAP, SPATIAL_PREDICATES_MAP, TEMPORAL_PREDICATES_MAP,
                  ARRAY_PREDICATES_MAP, ARITHMETIC):
        if name in table and name != "like":
            _arity(op, args, 2)
            return table[name](walk(args[0]), walk(args[1]))
    return ast.Function(op, [walk(a) for a in args])  # the compiler names unsupported ones


def walk(node: Any) -> Any:
    """One CQL2 JSON value → AST node or literal (JSONFilterError when malformed)."""
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if isinstance(node, list):
        return [walk(n) for n in node]
    if not isinstance(node, dict):
        raise JSONFilterError(f"unexpected value {node!r}")
    if "op" in node:
        args = node.get("args", [])
        if not isinstance(node["op"], str) or not isinstance(args, list):
            raise JSONFilterError(f"{{'op': {node['op']!r}}} needs a name and an args array")
        return _operation(node["op"], args)
    if "property" in node:
        return ast.Attribute(str(node["property"]))
    if "type" in node and ("coordinates" in node or "geometries" in node):
        return values.Geometry(node)
    if "bbox" in node:
        box = node["bbox"]
        if not isinstance(box, list) or len(box) not in (4, 6) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in box):
            raise JSONFilterError(f"bbox: {box!r} is not 4 or 6 numbers")
        if len(box) == 6:
            box = [box[0], box[1], box[3], box[4]]
        return values.Envelope(*box)
    if "timestamp" in node:
        return _instant(node["timestamp"], "timestamp")
    if "date" in node:
        return _instant(node["date"], "date")
    if "interval" in node:
        bounds = node["interval"]
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise JSONFilterError(f"interval: {bounds!r} is not [start, end]")
        return values.Interval(*(_instant(b, "interval") for b in bounds))
    raise JSONFilterError(f"unexpected object with keys {sorted(node)[:5]}")
