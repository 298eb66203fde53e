"""Every bench script still runs end to end (tiny sizes), so a README figure can be re-run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

RUNS = {
    "loader": (["bench_loader.py", "--rows", "40"], ["first load : loader", "reload     : loader"]),
    "places": (["bench_places_search.py", "--names", "400", "--repeat", "3"],
               ["pinyin with a typo", "prefix + 5 km radius"]),
    "network": (["bench_network.py", "--edges", "3000", "--demand", "300", "--sites", "30"],
                ["ratio pandana/geo_service"]),
    "network-grid": (["bench_network.py", "--network", "grid", "--grid", "20", "--demand", "100",
                      "--sites", "10", "--skip-pandana"], ["geo_service: build"]),
    "coverage": (["bench_coverage.py", "--units", "3000", "--sites", "200", "--no-dask",
                  "--repeat", "1"], ["cKDTree"]),
    "ogc-httpx": (["bench_ogc_vs_tipg.py", "--no-tipg", "--client", "httpx", "--requests", "16",
                   "--concurrency", "2"], ["tiles warm/cold (ours)"]),
    "ogc-wrk": (["bench_ogc_vs_tipg.py", "--no-tipg", "--client", "wrk", "--seconds", "1",
                 "--concurrency", "2"], ["tiles warm/cold (ours)", "villages 100/page"]),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bench_script_runs(name: str, db_url: str) -> None:
    args, expected = RUNS[name]
    env = dict(os.environ, GEO_SERVICE_DATABASE_URL=db_url)
    done = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], env=env,
                          capture_output=True, text=True, timeout=600, cwd=BENCH.parent)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    for line in expected:
        assert line in done.stdout, done.stdout[-2000:]
