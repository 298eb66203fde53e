"""User accounts in PostGIS: add, disable, change role, list, and check a login."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select

from geo_service.access import Role
from geo_service.auth.passwords import hash_password, verify_password
from geo_service.db.models import admin_areas, neighbour_areas, officer_areas, sessions, users
from geo_service.errors import GeoServiceError, NotFoundError

USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
STAFF_ROLES = tuple(r for r in Role if r is not Role.public)


class UserError(GeoServiceError):
    """A bad user name, role, or a name that is taken."""

    status_code = 422


@dataclass(frozen=True)
class User:
    """A user account (without its password hash)."""

    id: int
    username: str
    role: Role
    full_name: str | None
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None
    area_code: str | None = None

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {"username": self.username, "role": self.role.value, "full_name": self.full_name,
                "is_active": self.is_active, "created_at": self.created_at.isoformat(),
                "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
                "area_code": self.area_code}


def parse_role(text: str) -> Role:
    """A staff role by name; the public role is for anonymous callers only."""
    try:
        role = Role(text)
    except ValueError:
        role = None
    if role is None or role is Role.public:
        names = ", ".join(r.value for r in STAFF_ROLES)
        raise UserError(f"unknown role {text!r}; roles are: {names}")
    return role


def _user(row) -> User:
    return User(row.id, row.username, Role(row.role), row.full_name, row.is_active,
                row.created_at, row.last_login_at, row.area_code)


def _select():
    """Users with their area (outer join: most users have none)."""
    return select(*_COLUMNS).select_from(users.outerjoin(
        officer_areas, officer_areas.c.username == users.c.username))


_COLUMNS = (users.c.id, users.c.username, users.c.role, users.c.full_name, users.c.is_active,
            users.c.created_at, users.c.last_login_at, officer_areas.c.area_code)


def area_name(conn: Connection, code: str) -> str | None:
    """The name of a district, township or neighbouring county by its code (None: unknown)."""
    found = conn.execute(select(admin_areas.c.name).where(
        admin_areas.c.code == code, admin_areas.c.level != "village")).scalar()
    return found or conn.execute(select(neighbour_areas.c.name)
                                 .where(neighbour_areas.c.code == code)).scalar()


def parse_area(conn: Connection, code: str) -> str:
    """A known area code an officer can belong to (township, the district or a neighbour)."""
    code = code.strip()
    if area_name(conn, code) is None:
        raise UserError(f"unknown area code {code!r}: give the 12-digit code of a township "
                        "(e.g. 500111001000 龙岗街道), of the district (500111000000) or of a "
                        "neighbouring county (e.g. 512021000000 安岳县)")
    return code


def add_user(
    conn: Connection, username: str, password: str, role: str, full_name: str | None = None,
    area_code: str | None = None,
) -> User:
    """Create an account; the name must be new (area: the side of a line the officer signs)."""
    if not USERNAME.fullmatch(username):
        raise UserError(f"user name {username!r}: use 2–64 letters, digits or _ . @ -")
    chosen = parse_role(role)
    area = None if area_code is None else parse_area(conn, area_code)
    if conn.execute(select(users.c.id).where(func.lower(users.c.username) == username.lower())
                    ).first():
        raise UserError(f"user {username!r} exists already")
    row = conn.execute(users.insert().values(
        username=username, password_hash=hash_password(password, username), role=chosen.value,
        full_name=full_name).returning(users.c.username)).one()
    if area is not None:
        conn.execute(officer_areas.insert().values(username=row.username, area_code=area))
    return get_user(conn, row.username)


def get_user(conn: Connection, username: str) -> User:
    """The account called `username` (case-insensitive)."""
    row = conn.execute(_select().where(func.lower(users.c.username) == username.lower())
                       ).first()
    if row is None:
        raise NotFoundError(f"no user {username!r}")
    return _user(row)


def list_users(conn: Connection) -> list[User]:
    """Every account, by name."""
    return [_user(r) for r in conn.execute(_select().order_by(users.c.username))]


def set_role(conn: Connection, username: str, role: str) -> User:
    """Change a user's role; their open sessions end (they log in again with the new role)."""
    user = get_user(conn, username)
    chosen = parse_role(role)
    conn.execute(users.update().where(users.c.id == user.id).values(role=chosen.value))
    revoke_all(conn, user.id)
    return get_user(conn, username)


def set_area(conn: Connection, username: str, area_code: str | None) -> User:
    """Tie a user to an area (None: to none); sign-off is then allowed for that side only."""
    user = get_user(conn, username)
    conn.execute(officer_areas.delete().where(officer_areas.c.username == user.username))
    if area_code is not None:
        conn.execute(officer_areas.insert().values(username=user.username,
                                                   area_code=parse_area(conn, area_code)))
    return get_user(conn, username)


def set_full_name(conn: Connection, username: str, full_name: str) -> User:
    """Set a user's full name (shown on reports and signatures instead of the login)."""
    name = " ".join(full_name.split())
    if not 1 <= len(name) <= 100:
        raise UserError("full name: give 1–100 characters")
    user = get_user(conn, username)
    conn.execute(users.update().where(users.c.id == user.id).values(full_name=name))
    return get_user(conn, username)


def area_of(conn: Connection, username: str) -> str | None:
    """The area code a user signs for, if any."""
    return conn.execute(select(officer_areas.c.area_code).select_from(officer_areas.join(
        users, users.c.username == officer_areas.c.username)).where(
        func.lower(users.c.username) == username.lower())).scalar()


def set_active(conn: Connection, username: str, active: bool) -> User:
    """Disable (or re-enable) an account; disabling ends its sessions at once."""
    user = get_user(conn, username)
    conn.execute(users.update().where(users.c.id == user.id).values(is_active=active))
    if not active:
        revoke_all(conn, user.id)
    return get_user(conn, username)


def set_password(conn: Connection, username: str, password: str) -> None:
    """Replace a user's password and end their sessions."""
    user = get_user(conn, username)
    conn.execute(users.update().where(users.c.id == user.id)
                 .values(password_hash=hash_password(password, user.username)))
    revoke_all(conn, user.id)


def revoke_all(conn: Connection, user_id: int) -> None:
    """End every open session of a user."""
    conn.execute(sessions.update().where(sessions.c.user_id == user_id,
                                         sessions.c.revoked_at.is_(None))
                 .values(revoked_at=func.now()))


def check_login(conn: Connection, username: str, password: str) -> User | None:
    """The active user with this name and password, else None (same work either way)."""
    row = conn.execute(
        _select().add_columns(users.c.password_hash)
        .where(func.lower(users.c.username) == username.lower())
    ).first()
    ok = verify_password(row.password_hash if row else None, password)
    if not ok or row is None or not row.is_active:
        return None
    conn.execute(users.update().where(users.c.id == row.id).values(last_login_at=func.now()))
    return _user(row)
