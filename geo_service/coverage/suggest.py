"""Site suggestion: maximal covering (MCLP, exact ILP or greedy with its LP gap) and set covering.

Demand = the units left uncovered by the current sites (after what-ifs), weighted by the
request's demand field. Candidates = unit demand points (village committees) or a square grid
inside the district. A candidate covers a unit within the new kind's radius.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp
import shapely

from geo_service import crs
from geo_service.coverage.data import Study, locate_sites
from geo_service.coverage.distance import Array, DistanceModel, IntArray
from geo_service.coverage.radii import rules_for
from geo_service.coverage.request import CoverageRequest, SuggestRequest, WhatIfSite
from geo_service.coverage.service import ILLUSTRATIVE_NOTE, CoverageResult, run_coverage
from geo_service.errors import GeoServiceError
from geo_service.network import coverage as net_cov

EXACT_MAX_PAIRS = 2_000_000
EXACT_MAX_CANDIDATES = 20_000
GREEDY_FACTOR = 1 - 1 / math.e  # greedy ≥ (1 − 1/e) × optimum for max coverage


@dataclass
class Problem:
    """Sparse coverage: demand weights and (demand, candidate) pairs within reach."""

    weights: Array
    pairs_demand: IntArray
    pairs_candidate: IntArray
    n_candidates: int

    def covered_weight(self, chosen: IntArray) -> float:
        """Total weight of demand reached by the chosen candidates."""
        hit = np.isin(self.pairs_candidate, chosen)
        return float(self.weights[np.unique(self.pairs_demand[hit])].sum())


def greedy(problem: Problem, p: int) -> IntArray:
    """Pick, p times, the candidate adding the most uncovered weight (vectorised per step)."""
    covered = np.zeros(len(problem.weights), dtype=bool)
    chosen: list[int] = []
    for _ in range(p):
        live = ~covered[problem.pairs_demand]
        gain = np.bincount(problem.pairs_candidate[live],
                           weights=problem.weights[problem.pairs_demand[live]],
                           minlength=problem.n_candidates)
        gain[chosen] = -1.0
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        chosen.append(best)
        covered[problem.pairs_demand[problem.pairs_candidate == best]] = True
    return np.array(chosen, dtype=np.int64)


def _mclp_model(problem: Problem, p: int, relaxed: bool) -> tuple[pulp.LpProblem, dict]:
    cat = "Continuous" if relaxed else "Binary"
    cands = np.unique(problem.pairs_candidate)
    dems = np.unique(problem.pairs_demand)
    model = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = {int(j): model.add_variable(f"x{j}", 0, 1, cat) for j in cands}
    y = {int(i): model.add_variable(f"y{i}", 0, 1, cat) for i in dems}
    model += pulp.lpSum(float(problem.weights[i]) * v for i, v in y.items())
    model += pulp.lpSum(x.values()) <= p
    order = np.argsort(problem.pairs_demand, kind="stable")
    d, c = problem.pairs_demand[order], problem.pairs_candidate[order]
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(d)], strict=True):
        model += y[int(d[a])] <= pulp.lpSum(x[int(j)] for j in c[a:b])
    return model, x


def _solve(model: pulp.LpProblem, time_limit: float) -> str:
    """Solve with the CBC binary bundled in the pulp wheel (works offline)."""
    with warnings.catch_warnings():  # PuLP 3.x flags its bundled CBC as deprecated for 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit)
        model.solve(solver)
    return pulp.LpStatus[model.status]


def mclp_exact(problem: Problem, p: int, time_limit: float = 60) -> tuple[IntArray, str]:
    """The optimal p candidates (PuLP + CBC) and the solver status."""
    model, x = _mclp_model(problem, p, relaxed=False)
    status = _solve(model, time_limit)
    chosen = [j for j, v in x.items() if (v.value() or 0) > 0.5]
    return np.array(sorted(chosen), dtype=np.int64), status


def lp_bound(problem: Problem, p: int, time_limit: float = 60) -> float | None:
    """The LP relaxation's optimum: an upper bound on any p-site coverage."""
    model, _ = _mclp_model(problem, p, relaxed=True)
    if _solve(model, time_limit) != "Optimal":
        return None
    return float(pulp.value(model.objective) or 0.0)


def set_cover(problem: Problem, time_limit: float = 60, exact: bool = True
              ) -> tuple[IntArray, str]:
    """The fewest candidates reaching every demand unit that any candidate reaches."""
    dems = np.unique(problem.pairs_demand)
    if len(dems) == 0:
        return np.zeros(0, dtype=np.int64), "Optimal"
    if not exact:
        ones = Problem(np.where(np.isin(np.arange(len(problem.weights)), dems), 1.0, 0.0),
                       problem.pairs_demand, problem.pairs_candidate, problem.n_candidates)
        return greedy(ones, problem.n_candidates), "greedy"
    model = pulp.LpProblem("set_cover", pulp.LpMinimize)
    x = {int(j): model.add_variable(f"x{j}", 0, 1, "Binary")
         for j in np.unique(problem.pairs_candidate)}
    model += pulp.lpSum(x.values())
    order = np.argsort(problem.pairs_demand, kind="stable")
    d, c = problem.pairs_demand[order], problem.pairs_candidate[order]
    starts = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(d)], strict=True):
        model += pulp.lpSum(x[int(j)] for j in c[a:b]) >= 1
    status = _solve(model, time_limit)
    return np.array(sorted(j for j, v in x.items() if (v.value() or 0) > 0.5)), status


def candidates(study: Study, req: SuggestRequest) -> pd.DataFrame:
    """Candidate points: unit demand points, or a grid inside the district (with urban flag)."""
    if req.candidates == "units":
        u = study.units
        return pd.DataFrame({"lon": u.lon, "lat": u.lat, "unit_code": u.code,
                             "name": u.name, "township_code": u.township_code,
                             "urban": u.urban}).reset_index(drop=True)
    district = crs.to_metric(study.district_geom)
    x0, y0, x1, y1 = district.bounds
    s = req.grid_spacing_m
    gx, gy = np.meshgrid(np.arange(x0 + s / 2, x1, s), np.arange(y0 + s / 2, y1, s))
    pts = shapely.points(gx.ravel(), gy.ravel())
    pts = pts[shapely.contains(district, pts)]
    if len(pts) > 200_000:
        raise GeoServiceError(f"grid_spacing_m {s} gives {len(pts)} candidates: use a larger one")
    ll = crs.from_metric(pts)
    frame = pd.DataFrame({"lon": shapely.get_x(ll), "lat": shapely.get_y(ll)})
    return locate_sites(study, frame.assign(township_code=None)).assign(name=None)


def _new_kind(req: SuggestRequest, kinds: list[str]) -> tuple[str, dict]:
    rules = rules_for(req.layer, kinds, req.radius_m, req.kind_radii)
    kind = req.new_kind
    if kind is None:
        kind = next((k for k, r in rules.items() if r.rule == "radius"), None)
        if kind is None and req.new_radius_m is None:
            raise GeoServiceError("no radius-based kind analysed: give new_kind and new_radius_m")
        kind = kind or kinds[0]
    if kind not in rules:
        raise GeoServiceError(f"new_kind {kind!r} is not among the kinds analysed "
                              f"({', '.join(kinds)})")
    if rules[kind].rule != "radius" and req.new_radius_m is None:
        raise GeoServiceError(f"{kind} serves by {rules[kind].rule} membership, not a radius: "
                              "give new_radius_m to place new sites")
    return kind, rules


def suggest(study: Study, req: SuggestRequest, model: DistanceModel | None = None) -> dict:
    """MCLP (exact or greedy + LP gap) and set covering over the uncovered demand."""
    model = model if model is not None else net_cov.pick_model(study, req)
    base = run_coverage(study, CoverageRequest(**req.model_dump(
        include=set(CoverageRequest.model_fields))).model_copy(update={"gaps": False}), model)
    kind, rules = _new_kind(req, base.kinds)
    cands = candidates(study, req)
    rule = rules[kind]
    radius = (np.full(len(cands), req.new_radius_m) if req.new_radius_m is not None
              else np.where(cands.urban.to_numpy(bool), rule.urban_m, rule.rural_m))
    unc = base.units[~base.units.covered].reset_index(drop=True)
    weights = unc[req.weight_field].to_numpy(np.float64)
    uxy = np.column_stack(model.project(unc.lon.to_numpy(), unc.lat.to_numpy()))
    cxy = np.column_stack(model.project(cands.lon.to_numpy(), cands.lat.to_numpy()))
    d, c, _ = model.within(uxy, cxy, net_cov.candidate_radii(model, req, radius))
    problem = Problem(weights, d, c, len(cands))
    method = req.method
    if method == "auto":
        small = len(d) <= EXACT_MAX_PAIRS and len(cands) <= EXACT_MAX_CANDIDATES
        method = "exact" if small else "greedy"
    p = req.count
    started = time.perf_counter()
    g_chosen = greedy(problem, p)
    g_value = problem.covered_weight(g_chosen)
    greedy_s = time.perf_counter() - started
    out: dict = {"new_kind": kind, "count": p, "candidates": req.candidates,
                 "candidate_count": len(cands), "uncovered_units": len(unc),
                 "uncovered_weight": float(weights.sum()), "weight": req.weight_field,
                 "radius_rule": rule.as_dict() if req.new_radius_m is None
                 else {"rule": "radius", "urban_m": req.new_radius_m,
                       "rural_m": req.new_radius_m, "source": "per-request override"},
                 "before": base.district, "distance": req.distance, "minutes": req.minutes}
    if study.illustrative:  # the suggested places rest on illustrative positions and figures
        out.update(illustrative=True, note=ILLUSTRATIVE_NOTE)
    if method == "exact":
        started = time.perf_counter()
        chosen, status = mclp_exact(problem, p, req.time_limit_s)
        value = problem.covered_weight(chosen)
        out["mclp"] = {"method": "exact (PuLP + CBC)", "status": status,
                       "seconds": round(time.perf_counter() - started, 3),
                       "covered_weight": value, "greedy_covered_weight": g_value}
    else:
        chosen, value = g_chosen, g_value
        bound = lp_bound(problem, p, req.time_limit_s) if len(d) <= 5 * EXACT_MAX_PAIRS else None
        bound_kind = "LP relaxation"
        if bound is None:
            bound, bound_kind = g_value / GREEDY_FACTOR, "(1 - 1/e) guarantee"
        out["mclp"] = {"method": "greedy", "seconds": round(greedy_s, 3),
                       "covered_weight": value, "upper_bound": round(bound, 3),
                       "bound": bound_kind,
                       "gap": round((bound - value) / bound, 6) if bound else 0.0}
    out["sites"] = _site_rows(cands, chosen, radius, problem, unc)
    added = [WhatIfSite(lon=float(cands.lon[j]), lat=float(cands.lat[j]), kind=kind,
                        radius_m=net_cov.whatif_radius_m(req, float(radius[j]))) for j in chosen]
    after = run_coverage(study, CoverageRequest(**{
        **req.model_dump(include=set(CoverageRequest.model_fields)),
        "add_sites": [*req.add_sites, *added], "gaps": False}), model)
    out["after"] = after.district
    if req.set_cover:
        started = time.perf_counter()
        exact = method == "exact"
        sc, status = set_cover(problem, req.time_limit_s, exact=exact)
        out["set_cover"] = {"method": "exact (PuLP + CBC)" if exact else "greedy",
                            "status": status, "sites_needed": len(sc),
                            "seconds": round(time.perf_counter() - started, 3),
                            "sites": _site_rows(cands, sc, radius, problem, unc)}
    return out


def suggestion_result(study: Study, req: SuggestRequest, chosen: dict,
                      model: DistanceModel | None = None) -> CoverageResult:
    """The coverage result with the suggested sites added (for reports)."""
    added = [WhatIfSite(lon=s["lon"], lat=s["lat"], kind=chosen["new_kind"],
                        radius_m=net_cov.whatif_radius_m(req, s["radius_m"]), name=s["name"])
             for s in chosen["sites"]]
    return run_coverage(study, CoverageRequest(**{
        **req.model_dump(include=set(CoverageRequest.model_fields)),
        "add_sites": [*req.add_sites, *added]}), model)


def _site_rows(cands: pd.DataFrame, chosen: IntArray, radius: Array, problem: Problem,
               unc: pd.DataFrame) -> list[dict]:
    rows = []
    for rank, j in enumerate(chosen, 1):
        reached = np.unique(problem.pairs_demand[problem.pairs_candidate == j])
        where = cands.name[j] if isinstance(cands.name[j], str) else "grid point"
        rows.append({"rank": rank, "lon": round(float(cands.lon[j]), 7),
                     "lat": round(float(cands.lat[j]), 7), "radius_m": float(radius[j]),
                     "name": f"建议站点{rank} ({where})",
                     "unit_code": cands.unit_code[j], "township_code": cands.township_code[j],
                     "covers": [str(c) for c in unc.code.to_numpy()[reached]],
                     "covered_weight": float(problem.weights[reached].sum())})
    return rows
