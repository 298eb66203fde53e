"""Print an HTML page to PDF with Debian's headless Chromium (already a project dependency)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from geo_service.errors import GeoServiceError

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--no-pdf-header-footer", "--blink-settings=imagesEnabled=true"]


def chromium() -> str:
    """Path of the Chromium binary, or a clear error naming the package to install."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise GeoServiceError("printing to PDF needs Chromium: apt-get install chromium "
                              "(./manage.sh setup installs it)")
    return found


def html_to_pdf(html: str, pdf: Path, timeout_s: float = 120) -> None:
    """Write `html` (a self-contained page) as an A4 PDF to `pdf`."""
    with tempfile.TemporaryDirectory(prefix="geo-service-print-") as folder:
        page = Path(folder) / "page.html"
        page.write_text(html, encoding="utf-8")
        target = pdf.resolve()
        result = subprocess.run(
            [chromium(), *_FLAGS, f"--user-data-dir={folder}/profile",
             f"--print-to-pdf={target}", page.as_uri()],
            capture_output=True, text=True, timeout=timeout_s, check=False)
        if result.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            raise GeoServiceError(f"Chromium could not print {pdf.name}: "
                                  f"{(result.stderr or result.stdout).strip()[-500:]}")
