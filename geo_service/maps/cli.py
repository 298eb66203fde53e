"""`geo-service export-map`: the care map as one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from geo_service.maps.categories import CATEGORIES

maps_app = typer.Typer()


@maps_app.command("export-map")
def export_map(
    out: Annotated[Path, typer.Argument(help="HTML file to write, e.g. care-map.html")],
    kinds: Annotated[list[str], typer.Option(
        "--kinds", help="categories to show (repeat or comma-separate; default: all): "
                        + ", ".join(f"{c.id}/{c.title}" for c in CATEGORIES))] = [],  # noqa: B006
) -> None:
    """Write the public care map as a single HTML file that works with no internet."""
    from rich.console import Console

    from geo_service.cli_state import state
    from geo_service.maps.care_export import export_care_map
    from geo_service.maps.categories import parse_categories

    chosen = parse_categories(kinds)
    path = export_care_map(state().engine(), out, chosen, state().settings.data.district_code)
    size = path.stat().st_size / 1024
    Console().print(f"wrote {path} ({size:.0f} KiB; {', '.join(c.title for c in chosen)})")
