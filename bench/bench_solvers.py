"""HiGHS (highspy) vs CBC (PuLP's bundled binary) on the sample's MCLP and set-cover models.

Builds each suggestion problem once from the 大足 sample (units or grid candidates, residents'
or site radius rule), then times model building + solving with each solver and checks both
reach the same optimum. Needs a database holding the sample (GEO_SERVICE_DATABASE_URL).

Run: `PYTHONPATH=$PWD .venv/bin/python bench/bench_solvers.py [--quick]`
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from geo_service.coverage.data import load_study
from geo_service.coverage.distance import DEFAULT_MODEL
from geo_service.coverage.request import SuggestRequest
from geo_service.coverage.service import run_coverage
from geo_service.coverage.solvers import Deadline, cover_mip, mclp_mip, solve_mip
from geo_service.coverage.suggest import (
    _coverage_request,
    _new_kind,
    _problem,
    candidates,
    default_kinds,
)
from geo_service.db.engine import open_engine
from geo_service.settings import Settings

CASES: list[tuple[str, dict[str, Any]]] = [
    ("units, p=3", {"count": 3}),
    ("units, p=8", {"count": 8}),
    ("grid 1000 m, p=7", {"count": 7, "candidates": "grid", "grid_spacing_m": 1000}),
    ("grid 200 m, p=7", {"count": 7, "candidates": "grid", "grid_spacing_m": 200}),
    ("grid 200 m, p=15", {"count": 15, "candidates": "grid", "grid_spacing_m": 200}),
    ("grid 200 m, p=7, site rule", {"count": 7, "candidates": "grid", "grid_spacing_m": 200,
                                    "radius_by": "site"}),
]


def main() -> None:
    """Print one row per (case, model, solver): pairs, seconds, objective."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="only the first three cases")
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args()
    settings = Settings()
    study = load_study(open_engine(settings.database), settings.data.district_code)
    print("| case | pairs | model | HiGHS s | CBC s | HiGHS objective | CBC objective |")
    print("|---|---|---|---|---|---|---|")
    for label, body in CASES[:3] if args.quick else CASES:
        req = default_kinds(SuggestRequest(kinds=["养老机构"], **body))
        base = run_coverage(study, _coverage_request(req, gaps=False))
        kind, rules = _new_kind(req, base.kinds)
        unc = base.units[~base.units.covered].reset_index(drop=True)
        problem, _, _ = _problem(study, req, unc, candidates(study, req), rules[kind],
                                 DEFAULT_MODEL)
        for name, build in (("MCLP", lambda p=problem, n=req.count: mclp_mip(p, n)),
                            ("set cover", lambda p=problem: cover_mip(p))):
            row = {}
            for solver in ("highs", "cbc"):
                started = time.perf_counter()
                res = solve_mip(build(), Deadline(args.time_limit).left(), solver)
                row[solver] = (time.perf_counter() - started, res.status, res.bound)
            print(f"| {label} | {len(problem.pairs_demand)} | {name} | "
                  f"{row['highs'][0]:.2f} ({row['highs'][1]}) | "
                  f"{row['cbc'][0]:.2f} ({row['cbc'][1]}) | "
                  f"{row['highs'][2]:.0f} | {row['cbc'][2]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
