"""Only the two sides of a line write to its records: their officers, and admins."""

from __future__ import annotations

from sqlalchemy import Connection, select

from geo_service.access import Principal, Role
from geo_service.auth.users import area_of
from geo_service.boundaries.errors import NotYourSideError
from geo_service.db.models import boundary_lines
from geo_service.errors import NotFoundError


def require_party(conn: Connection, principal: Principal, line_id: int, what: str) -> None:
    """403 unless the caller is an admin or an officer of side a or side b of the line."""
    if principal.role is Role.admin:
        return
    line = conn.execute(select(boundary_lines).where(boundary_lines.c.id == line_id)).first()
    if line is None:
        raise NotFoundError(f"boundary line {line_id} not found")
    me = principal.username or "anonymous"
    mine = area_of(conn, me)
    if mine in (line.side_a_code, line.side_b_code):
        return
    yours = f"you ({me}) are registered for {mine}" if mine else f"you ({me}) have no area"
    raise NotYourSideError(
        f"{what}: only officers of the two sides of line {line.id} — {line.side_a_name} "
        f"({line.side_a_code}) and {line.side_b_name} ({line.side_b_code}) — or an admin may "
        f"change it; {yours}")
