"""Spreadsheet-safe cells: every CSV and XLSX writer passes its values through `safe_cell`.

A text value that starts like a formula (= + - @, tab or carriage return) is written with a
leading apostrophe (OWASP CSV-injection guidance), so Excel, WPS and LibreOffice show it as
text instead of running it; numbers, dates and empty cells are left as they are.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """The value as a spreadsheet cell: formula-like text gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: list[object]) -> list[object]:
    """A row of spreadsheet-safe cells."""
    return [safe_cell(v) for v in values]


def read_cell(text: str) -> str:
    """A cell as read back from a file: the apostrophe `safe_cell` added is taken off."""
    if text[:1] == "'" and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text
