"""Who may see what: roles, the caller (principal), and the public/non-public rules.

Every read path (OGC API items, tiles, downloads, search, the care map) filters through
here, so the anonymous view never gets non-public rows or fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Table
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
