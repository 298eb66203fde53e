"""The package stands on its own: a wheel installed outside the checkout migrates and serves."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from geo_service.devserver import free_port, running_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel` builds from the checkout."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(REPO)], check=True, capture_output=True, text=True)
    return next(out.glob("geo_service-*.whl"))


def _fresh_venv(where: Path, wheel: Path) -> Path:
    """A new virtualenv with the wheel installed; its dependencies come from this venv."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # the dependencies (not geo_service) are taken from the running venv, to skip downloads
    Path(purelib, "deps-from-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", str(wheel)], check=True, capture_output=True, text=True)
    return where / "bin"


def test_wheel_carries_its_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("geo_service/layers/catalogue.toml", "geo_service/web_map/index.html",
                   "geo_service/web_map/field/field.js", "geo_service/ogc/templates/base.html",
                   "geo_service/db/migrations/versions/0001_layers.sql",
                   "geo_service/layers/sample/eldercare_sites.csv"):
        assert needed in names, needed
    assert not any("node_modules" in n for n in names)


def test_installed_wheel_migrates_and_serves(wheel: Path, tmp_path: Path,
                                             database_factory) -> None:
    bin_dir = _fresh_venv(tmp_path / "venv", wheel)
    work = tmp_path / "elsewhere"  # not the checkout: state folders land here
    work.mkdir()
    url = database_factory("wheel").replace("postgresql+psycopg", "postgresql")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path),
           "GEO_SERVICE_DATABASE_URL": url,
           "GEO_SERVICE_NODE_MODULES": str(REPO / "web_map" / "node_modules")}
    where = subprocess.run([str(bin_dir / "python"), "-c",
                            "import geo_service; print(geo_service.__file__)"],
                           env=env, cwd=work, check=True, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(tmp_path / "venv")
    upgrade = subprocess.run([str(bin_dir / "geo-service"), "db", "upgrade"], env=env, cwd=work,
                             capture_output=True, text=True)
    assert upgrade.returncode == 0, upgrade.stderr
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with running_server([str(bin_dir / "geo-service"), "serve", "--port", str(port)], env,
                        f"{base}/health", log=tmp_path / "serve.log", cwd=work):
        assert httpx.get(f"{base}/collections", params={"f": "json"}).status_code == 200
        page = httpx.get(f"{base}/map")
        assert page.status_code == 200 and "关爱地图" in page.text
        assert httpx.get(f"{base}/vendor/leaflet/dist/leaflet.js").status_code == 200
        assert httpx.get(f"{base}/boundaries/field/").status_code == 200
    # an external database: no cluster folder anywhere, state would land under the cwd
    assert {p.name for p in work.iterdir()} <= {".media"}
