"""The vendored front-end packages in web_map/node_modules (Leaflet and its plugins).

Where node_modules is comes from `WebSettings.node_modules`; the composition roots
(`create_app`, the CLI callback) hand it over once with `use()`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.resources import package_path

# Packages the service may serve under /vendor/<package>/...; nothing else in node_modules.
SERVED_PACKAGES: tuple[str, ...] = ("leaflet", "leaflet.markercluster", "swagger-ui-dist")
_node_modules: list[Path] = [package_path("web_map", "node_modules")]  # the checkout's


class VendorMissingError(GeoServiceError):
    """web_map/node_modules lacks a package (npm ci was not run)."""

    status_code = 500


def use(node_modules_dir: Path) -> None:
    """Serve and inline npm packages from `node_modules_dir` (set by the composition root)."""
    _node_modules[0] = node_modules_dir
    package_meta.cache_clear()


def node_modules() -> Path:
    """The node_modules folder in use."""
    return _node_modules[0]


def package_dir(package: str) -> Path:
    """The installed folder of an npm package, or a clear error saying how to install it."""
    folder = node_modules() / package
    if not (folder / "package.json").is_file():
        raise VendorMissingError(
            f"npm package {package!r} is not installed in {node_modules()}: run "
            f"'npm ci --prefix web_map' (or ./manage.sh setup), or set "
            f"GEO_SERVICE_NODE_MODULES to a node_modules folder that has it")
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
