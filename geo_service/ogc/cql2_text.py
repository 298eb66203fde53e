"""CQL2 text parser: pygeofilter's grammar and transformer, extended where it falls short of
the CQL2 standard (OGC 21-065).

pygeofilter 0.4's text grammar writes temporal operators infix only, has no array operators
and no BBOX literal, and cuts a string at its first quote. The grammar below is pygeofilter's
own file with a few Lark `%override`/`%extend` lines appended, so every other construct parses
exactly as pygeofilter parses it:

- strings with `''` escapes (`'O''Brien'`);
- function-call temporal operators, `T_AFTER(updated_at, TIMESTAMP('2026-01-01T00:00:00Z'))`
  (the infix form keeps working);
- array operators, `A_CONTAINS(services, ('助餐', '助浴'))`;
- the BBOX literal, `S_INTERSECTS(geometry, BBOX(105.6, 29.6, 105.85, 29.8))`;
- INTERVAL with dates and open ends, `INTERVAL('2026-01-01', '..')`;
- a boolean literal or property as a condition (`TRUE`, `FALSE OR …`), unary minus on any
  numeric expression (`-beds < -100`);
- ILIKE (what GDAL's OAPIF driver writes for a case-insensitive LIKE);
- NOT before any condition, bracketed or not (`NOT (a OR b)`, `NOT NOT a`, `NOT ((a))`);
- the arithmetic operators `%`, `div` and `^` (power, binding tighter than `*`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pygeofilter.parsers.cql2_text.parser as pygeofilter_text
from lark import Lark, v_args
from lark import logger as lark_logger
from pygeofilter import ast, values
from pygeofilter.cql2 import ARRAY_PREDICATES_MAP, TEMPORAL_PREDICATES_MAP

from geo_service.ogc.cql2_ast import IntegerDivide, Modulo, Power

_GRAMMAR = Path(pygeofilter_text.__file__).with_name("grammar.lark")
_EXTENSIONS = r"""
%override ?condition_1: predicate
                      | "NOT"i condition_1 -> not_
                      | "(" condition ")"
                      | expression -> boolean_condition
%override ?product: power
                  | product "*" power -> mul
                  | product "/" power -> div
                  | product "%" power -> mod
                  | product "DIV"i power -> intdiv
?power: atom
      | atom "^" power -> pow
%override SINGLE_QUOTED: /'(?:[^']|'')*'/
%extend predicate: expression "ILIKE"i expression -> ilike
                 | expression "NOT"i "ILIKE"i expression -> not_ilike
                 | _binary_temporal_predicate_func _pair -> temporal_call
                 | _array_func "(" expression "," array ")" -> array_call
_pair: "(" expression "," expression ")"
!_array_func: "A_EQUALS"i | "A_CONTAINS"i | "A_CONTAINEDBY"i | "A_OVERLAPS"i
array: "(" [expression ("," expression)*] ")"
%extend atom: "BBOX"i _box -> bbox_literal
_box: "(" full_number "," full_number "," full_number "," full_number ")"
%override interval: "INTERVAL"i "(" _bound "," _bound ")"
_bound: "'" DATETIME "'" | "'" DATE "'" | OPEN_END
OPEN_END: "'..'"
"""


@v_args(inline=True)
class _Transformer(pygeofilter_text.CQLTransformer):
    """pygeofilter's transformer plus the constructs of the extension lines."""

    def SINGLE_QUOTED(self, token: str) -> str:
        return token[1:-1].replace("''", "'")

    def OPEN_END(self, token: str) -> None:
        return None

    def temporal_call(self, op: str, lhs: Any, rhs: Any) -> ast.Node:
        return TEMPORAL_PREDICATES_MAP[op.lower()](lhs, rhs)

    def array_call(self, op: str, lhs: Any, rhs: list) -> ast.Node:
        return ARRAY_PREDICATES_MAP[op.lower()](lhs, rhs)

    def array(self, *items: Any) -> list:
        return list(items)

    def bbox_literal(self, minx: float, miny: float, maxx: float, maxy: float) -> values.Envelope:
        # Positional, as pygeofilter's CQL2 JSON parser builds it from {"bbox": [...]}.
        return values.Envelope(minx, miny, maxx, maxy)

    def interval(self, start: Any, end: Any) -> values.Interval:
        return values.Interval(start, end)

    def boolean_condition(self, value: Any) -> Any:
        # a boolean literal or property standing as a condition; the compiler checks the type
        return value

    def neg(self, value: Any) -> Any:
        # pygeofilter negates numbers only; -beds is (-1) * beds
        return -value if isinstance(value, int | float) else ast.Mul(-1, value)

    def wkt__multipoint_2(self, *coordinates: Any) -> dict:
        # pygeofilter's own version prints its argument to stdout
        return {"type": "MultiPoint", "coordinates": list(coordinates)}

    def wkt__geometry_with_srid(self, srid: Any, geometry: dict) -> dict:
        return {**geometry, "srid": int(srid)}

    def mod(self, lhs: Any, rhs: Any) -> ast.Node:
        return Modulo(lhs, rhs)

    def intdiv(self, lhs: Any, rhs: Any) -> ast.Node:
        return IntegerDivide(lhs, rhs)

    def pow(self, lhs: Any, rhs: Any) -> ast.Node:
        return Power(lhs, rhs)


def _parser() -> Lark:
    # One shift/reduce conflict is meant: in "(x)" the ")" closes the expression (shift)
    # rather than ending a condition x; either reading means the same. pygeofilter sets
    # Lark's logger to DEBUG, which would print that note at every start-up.
    lark_logger.setLevel(logging.WARNING)
    return Lark(_GRAMMAR.read_text(encoding="utf-8") + _EXTENSIONS, parser="lalr",
                maybe_placeholders=False, transformer=_Transformer(),
                source_path=str(_GRAMMAR), import_paths=[str(_GRAMMAR.parent.parent)])


# Built at import, so that a grammar that does not fit the installed pygeofilter fails loudly
# at start-up rather than turning every filter into a 400.
_PARSER = _parser()


def parse_text(text: str) -> ast.Node:
    """A CQL2 text expression → pygeofilter AST (Lark errors propagate)."""
    return _PARSER.parse(text)
