"""AST nodes CQL2 1.0 has and pygeofilter 0.4 lacks: the %, div and ^ arithmetic operators."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

from pygeofilter import ast


class MoreArithmeticOp(Enum):
    """Arithmetic operators beyond pygeofilter's + - * /."""

    MOD = "%"
    INTDIV = "div"
    POW = "^"


@dataclass
class Modulo(ast.Arithmetic):
    """a % b."""

    op: ClassVar[Any] = MoreArithmeticOp.MOD


@dataclass
class IntegerDivide(ast.Arithmetic):
    """a div b (integer division)."""

    op: ClassVar[Any] = MoreArithmeticOp.INTDIV


@dataclass
class Power(ast.Arithmetic):
    """a ^ b."""

    op: ClassVar[Any] = MoreArithmeticOp.POW


ARITHMETIC: dict[str, type[ast.Arithmetic]] = {
    "+": ast.Add, "-": ast.Sub, "*": ast.Mul, "/": ast.Div,
    "%": Modulo, "div": IntegerDivide, "^": Power,
}
