"""The planners' notebook runs end to end on the sample and its HTML report shows the map."""

from __future__ import annotations

import html
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "coverage_dazu.ipynb"


def test_notebook_runs_and_writes_the_report(sample_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GEO_SERVICE_DATABASE_URL",
                       sample_url.replace("postgresql+psycopg", "postgresql"))
    monkeypatch.setenv("COVERAGE_REPORT_DIR", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    page = (tmp_path / "coverage_dazu.html").read_text(encoding="utf-8")
    doc = html.unescape(page)
    assert "L.map(" in doc and "circle_marker" in doc  # the Leaflet map with its units
    assert not re.search(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//",
                         doc, re.I)
    assert (tmp_path / "coverage_dazu.xlsx").stat().st_size > 5000
