"""Site suggestion: maximal covering (MCLP, exact ILP or greedy with its LP gap) and set covering.

Demand = the units left uncovered by the current sites (after what-ifs), weighted by the
request's demand field. Candidates = unit demand points (village committees) or a square grid
inside the district. A candidate covers a unit within the new kind's radius.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import shapely

from geo_service import crs
from geo_service.coverage.data import Study, layer_kinds, locate_sites
from geo_service.coverage.distance import Array, DistanceModel, IntArray
from geo_service.coverage.engine import radius_pairs
from geo_service.coverage.radii import OVERRIDE, RadiusRule, rules_for
from geo_service.coverage.request import CoverageRequest, SuggestRequest, WhatIfSite
from geo_service.coverage.service import ILLUSTRATIVE_NOTE, CoverageResult, run_coverage
from geo_service.coverage.solvers import (
    Deadline,
    Problem,
    Solution,
    mclp_exact,
    mclp_greedy,
    set_cover,
)
from geo_service.errors import GeoServiceError
from geo_service.network import coverage as net_cov

__all__ = ["candidates", "suggest", "suggestion_result"]

EXACT_MAX_PAIRS = 2_000_000  # `auto`: exact MIP up to this many (unit, candidate) pairs
MCLP_SHARE_OF_BUDGET = 0.6  # with a set cover too, the MCLP gets this share of the time left


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
    pts = np.asarray(shapely.points(gx.ravel(), gy.ravel()))
    shapely.prepare(district)  # 225 000 point-in-polygon tests on the 100 m grid: ~10× faster
    pts = pts[shapely.contains(district, pts)]
    if len(pts) > 200_000:
        raise GeoServiceError(f"grid_spacing_m {s} gives {len(pts)} candidates: use a larger one")
    ll = crs.from_metric(pts)
    frame = pd.DataFrame({"lon": shapely.get_x(ll), "lat": shapely.get_y(ll)})
    return locate_sites(study, frame.assign(township_code=None)).assign(name=None)


def _new_kind(req: SuggestRequest, kinds: list[str]) -> tuple[str, dict]:
    rules = rules_for(req.layer, kinds, req.radius_m, req.kind_radii)
    kind = req.new_kind and layer_kinds(req.layer, [req.new_kind])[0]
    if kind is None:
        kind = next((k for k, r in rules.items() if r.rule == "radius"), None)
        if kind is None and req.new_radius_m is None:
            raise GeoServiceError(f"no radius-based kind among the kinds analysed "
                                  f"({'、'.join(kinds)}): give new_kind and new_radius_m")
        kind = kind or kinds[0]
    if kind not in rules:
        raise GeoServiceError(f"new_kind {kind!r} is not among the kinds analysed "
                              f"({', '.join(kinds)})")
    if rules[kind].rule != "radius" and req.new_radius_m is None:
        raise GeoServiceError(f"{kind} serves by {rules[kind].rule} membership, not a radius: "
                              "give new_radius_m to place new sites")
    return kind, rules


def default_kinds(req: SuggestRequest) -> SuggestRequest:
    """An empty `kinds` means: the existing sites of the new kind (or of the first radius kind)."""
    if req.kinds:
        return req
    kind = req.new_kind
    if kind is None:
        all_kinds = layer_kinds(req.layer, [])
        rules = rules_for(req.layer, all_kinds, req.radius_m,
                          {k: v for k, v in req.kind_radii.items() if k in all_kinds})
        kind = next((k for k, r in rules.items() if r.rule == "radius"), all_kinds[0])
    return req.model_copy(update={"kinds": layer_kinds(req.layer, [kind])})


def _problem(study: Study, req: SuggestRequest, unc: pd.DataFrame, cands: pd.DataFrame,
             rule: RadiusRule, model: DistanceModel) -> tuple[Problem, Array, Array]:
    """Pairs (uncovered unit, candidate) within reach under the request's radius rule."""
    n = len(cands)
    urban_m, rural_m = float(rule.urban_m or np.nan), float(rule.rural_m or np.nan)
    if req.new_radius_m is not None:
        urban_r = rural_r = np.full(n, req.new_radius_m)
    elif req.radius_by == "site":
        urban_r = rural_r = np.where(cands.urban.to_numpy(bool), urban_m, rural_m)
    else:
        urban_r, rural_r = np.full(n, urban_m), np.full(n, rural_m)
    uxy = np.column_stack(model.project(unc.lon.to_numpy(), unc.lat.to_numpy()))
    cxy = np.column_stack(model.project(cands.lon.to_numpy(), cands.lat.to_numpy()))
    d, c, _ = radius_pairs(uxy, unc.urban.to_numpy(bool), cxy,  # seconds along roads
                           net_cov.candidate_radii(model, req, urban_r.astype(float)),
                           net_cov.candidate_radii(model, req, rural_r.astype(float)), model)
    weights = unc[req.weight_field].to_numpy(np.float64)
    return Problem(weights, d, c, n), urban_r, rural_r


def _method(req: SuggestRequest, pairs: int) -> tuple[str, str]:
    if req.method != "auto":
        return req.method, f"requested: {req.method}"
    if pairs <= EXACT_MAX_PAIRS:
        return "exact", (f"auto: {pairs} pairs ≤ {EXACT_MAX_PAIRS} → exact within "
                         f"{req.time_limit_s:g} s, else the better of incumbent and greedy")
    return "greedy", f"auto: {pairs} pairs > {EXACT_MAX_PAIRS} → greedy with its gap"


def _mclp_json(sol: Solution) -> dict:
    out = {"method": sol.method, "status": sol.status, "solver": sol.solver,
           "covered_weight": sol.value, "upper_bound": sol.bound, "bound": sol.bound_kind,
           "gap": None if sol.gap is None else round(sol.gap, 6),
           "seconds": round(sol.seconds, 3), "sites": len(sol.chosen), "notes": sol.notes}
    if sol.greedy_value is not None:
        out["greedy_covered_weight"] = sol.greedy_value
    return out


def suggest(study: Study, req: SuggestRequest, model: DistanceModel | None = None) -> dict:
    """MCLP (exact or greedy, with bound and gap) and set covering over the uncovered demand.

    `time_limit_s` bounds the wall time from here on: coverage, candidates, model building
    and solving (a solver that would start with no time left is not run: greedy instead)."""
    started = time.perf_counter()
    deadline = Deadline(req.time_limit_s)
    req = default_kinds(req)
    model = model if model is not None else net_cov.pick_model(study, req)
    base = run_coverage(study, _coverage_request(req, gaps=False), model)
    kind, rules = _new_kind(req, base.kinds)
    cands = candidates(study, req)
    rule = rules[kind]
    unc = base.units[~base.units.covered].reset_index(drop=True)
    problem, urban_r, rural_r = _problem(study, req, unc, cands, rule, model)
    method, why = _method(req, len(problem.pairs_demand))
    p = req.count
    share = MCLP_SHARE_OF_BUDGET if req.set_cover else 1.0
    mclp_deadline = Deadline(deadline.left() * share)
    solve = mclp_exact if method == "exact" else mclp_greedy
    sol = solve(problem, p, mclp_deadline, req.solver)
    out: dict = {"new_kind": kind, "count": p, "kinds": base.kinds,
                 "candidates": req.candidates,
                 "candidate_count": len(cands), "pairs": len(problem.pairs_demand),
                 "uncovered_units": len(unc), "uncovered_weight": float(problem.weights.sum()),
                 "weight": req.weight_field, "radius_by": req.radius_by,
                 "method_requested": req.method, "method_choice": why,
                 "time_limit_s": req.time_limit_s,
                 "radius_rule": rule.as_dict() if req.new_radius_m is None
                 else {"rule": "radius", "urban_m": req.new_radius_m,
                       "rural_m": req.new_radius_m, "source": OVERRIDE},
                 "before": base.district, "mclp": _mclp_json(sol),
                 "distance": req.distance, "minutes": req.minutes}
    if study.illustrative:  # the suggested places rest on illustrative positions and figures
        out.update(illustrative=True, note=ILLUSTRATIVE_NOTE)
    if len(unc) == 0:
        out["mclp"]["notes"] = ["当前设施已覆盖全部村(社区)，无需新增"]
    out["sites"] = _site_rows(cands, sol.chosen, urban_r, rural_r, problem, unc, "建议站点")
    added = _whatif_sites(out["sites"], kind, req)
    after = run_coverage(study, _coverage_request(req, gaps=False,
                                                  add_sites=[*req.add_sites, *added]), model)
    out["after"] = after.district
    if req.set_cover:
        sc = set_cover(problem, deadline, exact=method == "exact", solver=req.solver)
        reach = problem.reachable()
        out["set_cover"] = {
            "method": sc.method, "status": sc.status, "solver": sc.solver,
            "sites_needed": len(sc.chosen), "lower_bound": sc.bound, "bound": sc.bound_kind,
            "gap": None if sc.gap is None else round(sc.gap, 6),
            "complete": problem.is_cover(sc.chosen),
            "reachable_units": int(reach.sum()), "unreachable_units": int((~reach).sum()),
            "seconds": round(sc.seconds, 3),
            "sites": _site_rows(cands, sc.chosen, urban_r, rural_r, problem, unc, "全覆盖站点")}
    out["seconds"] = round(time.perf_counter() - started, 3)
    return out


def _coverage_request(req: SuggestRequest, **update: object) -> CoverageRequest:
    fields = req.model_dump(include=set(CoverageRequest.model_fields))
    return CoverageRequest(**{**fields, **update})


def _whatif_sites(rows: list[dict], kind: str, req: SuggestRequest) -> list[WhatIfSite]:
    """Suggested sites as what-if sites; under the residents' rule they keep the kind's radii.

    Along roads with --minutes, the request's minutes decide their radius too."""
    own = req.new_radius_m is not None or req.radius_by == "site"
    return [WhatIfSite(lon=s["lon"], lat=s["lat"], kind=kind, name=s["name"],
                       radius_m=net_cov.whatif_radius_m(req, s["radius_m"]) if own else None)
            for s in rows]


def suggestion_result(study: Study, req: SuggestRequest, chosen: dict,
                      model: DistanceModel | None = None) -> CoverageResult:
    """The coverage result with the suggested sites added (for reports)."""
    req = default_kinds(req)
    model = model if model is not None else net_cov.pick_model(study, req)
    added = _whatif_sites(chosen["sites"], chosen["new_kind"], req)
    return run_coverage(study, _coverage_request(req, add_sites=[*req.add_sites, *added]), model)


def _site_rows(cands: pd.DataFrame, chosen: IntArray, urban_r: Array, rural_r: Array,
               problem: Problem, unc: pd.DataFrame, label: str) -> list[dict]:
    """Sites in order of what each adds; `added_weight` counts each unit once (sums to total)."""
    mine = np.isin(problem.pairs_candidate, chosen)
    pd_, pc_ = problem.pairs_demand[mine], problem.pairs_candidate[mine]
    reach = {int(j): np.unique(pd_[pc_ == j]) for j in chosen}
    order: list[int] = []
    covered = np.zeros(len(problem.weights), dtype=bool)
    left = [int(j) for j in chosen]
    while left:  # most added weight first, so the added weights sum without double counting
        gains = [problem.weights[reach[j][~covered[reach[j]]]].sum() for j in left]
        j = left.pop(int(np.argmax(gains)))
        order.append(j)
        covered[reach[j]] = True
    rows = []
    covered[:] = False
    codes = unc.code.to_numpy()
    for rank, j in enumerate(order, 1):
        reached = reach[j]
        new = reached[~covered[reached]]
        covered[reached] = True
        where = cands.name[j] if isinstance(cands.name[j], str) else "网格点"
        rows.append({"rank": rank, "lon": round(float(cands.lon[j]), 7),
                     "lat": round(float(cands.lat[j]), 7),
                     "radius_m": float(urban_r[j]) if urban_r[j] == rural_r[j] else None,
                     "urban_radius_m": float(urban_r[j]), "rural_radius_m": float(rural_r[j]),
                     "name": f"{label}{rank}({where})",
                     "unit_code": cands.unit_code[j], "township_code": cands.township_code[j],
                     "covers": [str(c) for c in codes[reached]],
                     "covered_weight": float(problem.weights[reached].sum()),
                     "added_weight": float(problem.weights[new].sum())})
    return rows
