"""`geo-service backup FILE` and `geo-service restore FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

backup_app = typer.Typer()
out = Console(soft_wrap=True)


def _media_dir() -> Path:
    from geo_service.cli_state import state

    return state().settings.data.media_dir


def _engine():
    from geo_service.cli_state import state

    return state().engine()


@backup_app.command("backup")
def backup_command(
    file: Annotated[Path, typer.Argument(help="the backup to write (a .tar file)")],
) -> None:
    """Back up the database (pg_dump) and the uploaded photos into one tar file."""
    from geo_service.ops.backup import backup

    report = backup(_engine(), _media_dir(), file)
    out.print(f"backup written: {report.summary()}")


@backup_app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="a backup written by geo-service backup")],
) -> None:
    """Restore a backup into a fresh, empty database (and the photos into the media folder)."""
    from geo_service.ops.backup import restore

    report = restore(_engine(), _media_dir(), file)
    out.print(f"restored: {report.summary()}")
