"""The vendored front-end packages in web_map/node_modules (Leaflet and its plugins)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.settings import REPO_ROOT

# Packages the service may serve under /vendor/<package>/...; nothing else in node_modules.
SERVED_PACKAGES: tuple[str, ...] = ("leaflet", "leaflet.markercluster", "swagger-ui-dist")


class WebMapSettings(BaseSettings):
    """Where the web map's files (its page and its npm packages) live."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    web_map_dir: Path = Field(default=REPO_ROOT / "web_map",
                              description="web_map/ folder: the care map page and node_modules")


class VendorMissingError(GeoServiceError):
    """web_map/node_modules lacks a package (npm ci was not run)."""

    status_code = 500


@lru_cache
def web_map_dir() -> Path:
    """The web_map/ folder."""
    return WebMapSettings().web_map_dir


def node_modules() -> Path:
    """web_map/node_modules."""
    return web_map_dir() / "node_modules"


def package_dir(package: str) -> Path:
    """The installed folder of an npm package, or a clear error saying how to install it."""
    folder = node_modules() / package
    if not (folder / "package.json").is_file():
        raise VendorMissingError(
            f"npm package {package!r} is not installed in {node_modules()}: run "
            f"'npm ci --prefix web_map' (or ./manage.sh setup)")
    return folder


@lru_cache
def package_meta(package: str) -> dict:
    """The package.json of an installed npm package."""
    return json.loads((package_dir(package) / "package.json").read_text(encoding="utf-8"))


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package; never outside it (no '..' escapes)."""
    root = package_dir(package).resolve()
    target = (root / relative.lstrip("/")).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        raise NotFoundError(f"no file {relative!r} in npm package {package!r}")
    return target


def served_file(package: str, relative: str) -> Path:
    """A file of an allow-listed package, for /vendor/<package>/<path>."""
    if package not in SERVED_PACKAGES:
        raise NotFoundError(
            f"package {package!r} is not served; served: {', '.join(SERVED_PACKAGES)}")
    return package_file(package, relative)


def licence_line(package: str) -> str:
    """'name version (licence)' of an installed package, for inlined-asset headers."""
    meta = package_meta(package)
    return f"{package} {meta.get('version', '?')} ({meta.get('license', 'see its LICENSE')})"
