"""`geo-service user …`: add the first admin, disable accounts, change roles, list them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from geo_service.errors import GeoServiceError

user_app = typer.Typer(help="User accounts and roles (planner, boundary_officer, "
                            "data_editor, admin).", no_args_is_help=True)
out = Console(soft_wrap=True)


def _engine():
    from geo_service.cli_state import state

    return state().migrated_engine()


def _read_password(from_stdin: bool) -> str:
    """The new password: the first line of stdin, or typed twice at a prompt."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise GeoServiceError("no password given")
    return password


@user_app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="login name (letters, digits, _ . @ -)")],
    role: Annotated[str, typer.Option(help="planner, boundary_officer, data_editor or admin")],
    full_name: Annotated[str | None, typer.Option(help="the person's name")] = None,
    area: Annotated[str | None, typer.Option(
        help="boundary officers: 12-digit code of their township, the district or the "
             "neighbouring county — the side of a line they may sign")] = None,
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="read the password from the first line of stdin")] = False,
) -> None:
    """Create an account (prompts for the password)."""
    from geo_service.auth import users

    password = _read_password(password_stdin)
    with _engine().begin() as conn:
        user = users.add_user(conn, username, password, role, full_name, area)
    out.print(f"user {user.username} added with role {user.role.value}"
              + (f", area {user.area_code}" if user.area_code else ""))


@user_app.command("disable")
def disable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Disable an account; its sessions end at once."""
    from geo_service.auth import users

    with _engine().begin() as conn:
        users.set_active(conn, username, False)
    out.print(f"user {username} disabled")


@user_app.command("enable")
def enable(username: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Re-enable a disabled account."""
    from geo_service.auth import users

    with _engine().begin() as conn:
        users.set_active(conn, username, True)
    out.print(f"user {username} enabled")


@user_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Argument(help="planner, boundary_officer, data_editor or admin")],
) -> None:
    """Change an account's role (its sessions end; the user logs in again)."""
    from geo_service.auth import users

    with _engine().begin() as conn:
        user = users.set_role(conn, username, role)
    out.print(f"user {user.username} now has role {user.role.value}")


@user_app.command("set-area")
def set_area(
    username: Annotated[str, typer.Argument(help="login name")],
    code: Annotated[str | None, typer.Argument(
        help="12-digit code of a township, the district or a neighbouring county")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="tie the user to no area")] = False,
) -> None:
    """Tie a boundary officer to the area whose side of a line they sign (联检签字)."""
    from geo_service.auth import users

    if (code is None) == (not clear):
        raise GeoServiceError("give an area code, or --clear (not both)")
    with _engine().begin() as conn:
        user = users.set_area(conn, username, code)
        name = users.area_name(conn, user.area_code) if user.area_code else None
    out.print(f"user {user.username} now signs for {user.area_code} {name}" if name
              else f"user {user.username} is tied to no area")


@user_app.command("set-full-name")
def set_full_name(
    username: Annotated[str, typer.Argument(help="login name")],
    full_name: Annotated[str, typer.Argument(help="the person's full name, e.g. 周建国")],
) -> None:
    """Set the full name printed on reports and signatures (e.g. 联检报告)."""
    from geo_service.auth import users

    with _engine().begin() as conn:
        user = users.set_full_name(conn, username, full_name)
    out.print(f"user {user.username} is now {user.full_name}")


@user_app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="login name")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a new password (prompts, or reads stdin); the user's sessions end."""
    from geo_service.auth import users

    password = _read_password(password_stdin)
    with _engine().begin() as conn:
        users.set_password(conn, username, password)
    out.print(f"password of {username} changed")


@user_app.command("list")
def list_(
) -> None:
    """Every account with its role and state."""
    from geo_service.auth import users

    with _engine().connect() as conn:
        accounts = users.list_users(conn)
    table = Table("user", "role", "active", "name", "area", "last login")
    for user in accounts:
        table.add_row(user.username, user.role.value, "yes" if user.is_active else "no",
                      user.full_name or "", user.area_code or "",
                      user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at
                      else "never")
    out.print(table)
