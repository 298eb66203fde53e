"""Files shipped inside the package (importlib.resources): catalogue, sample, pages, templates."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def package_path(*parts: str) -> Path:
    """A file or folder shipped in the geo_service package (wheel or checkout alike)."""
    return Path(str(files("geo_service").joinpath(*parts)))
