"""Who may see what: roles, the caller (principal), and the public/non-public rules.

Every read path (OGC API items, tiles, downloads, search, the care map) filters through
here, so the anonymous view never gets non-public rows or fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Table, case, literal
from sqlalchemy.sql.elements import ColumnElement

from geo_service.catalog import LayerSpec


class Role(StrEnum):
    """Roles, from least to most privileged (admin may do everything)."""

    public = "public"
    planner = "planner"
    boundary_officer = "boundary_officer"
    data_editor = "data_editor"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """The caller of a request: a user with a role, or the anonymous public."""

    username: str | None
    role: Role

    @property
    def is_anonymous(self) -> bool:
        """True for the public (not logged in)."""
        return self.username is None or self.role is Role.public

    @property
    def sees_private(self) -> bool:
        """Logged-in staff see non-public rows and fields."""
        return not self.is_anonymous

    def has(self, *roles: Role) -> bool:
        """True if the caller holds one of `roles` (admin holds every role)."""
        return self.role is Role.admin or self.role in roles


ANONYMOUS = Principal(None, Role.public)


def row_filter(table: Table, principal: Principal) -> ColumnElement[bool] | None:
    """The WHERE clause that hides non-public rows from the caller (None = see all)."""
    if principal.sees_private or "is_public" not in table.c:
        return None
    return table.c.is_public.is_(True)


def hidden_fields(layer: LayerSpec, principal: Principal) -> frozenset[str]:
    """Fields of the layer the caller must not see (contact persons etc. for the public)."""
    if principal.sees_private:
        return frozenset()
    return frozenset(layer.private_fields)


# A source value that is a loaded file's name (older loads stored it): never shown publicly.
FILE_NAME_PATTERN = (r"\.(csv|txt|tsv|xlsx|xlsm|xls|json|geojson|gpkg|shp|zip|fgb|kml|kmz|dbf|"
                     r"gdb|sqlite)\s*$")
_FILE_NAME = re.compile(FILE_NAME_PATTERN, re.IGNORECASE)


def looks_like_file_name(text: str) -> bool:
    """True for 'sites_2026.xlsx', 'C:\\data\\a.csv' and the like."""
    return bool(_FILE_NAME.search(text.strip()))


def public_source(text: str | None, layer: LayerSpec) -> str:
    """The source as the public sees it: a human name, the catalogue's for a file name."""
    if not text or looks_like_file_name(text):
        return layer.default_source
    return text


def source_column(table: Table, layer: LayerSpec, principal: Principal) -> ColumnElement:
    """SQL for the source field the caller sees (staff: as stored; public: never a file)."""
    if principal.sees_private:
        return table.c.source
    return case((table.c.source.regexp_match(FILE_NAME_PATTERN, "i"),
                 literal(layer.default_source)), else_=table.c.source)
