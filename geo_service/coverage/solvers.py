"""Location solvers: maximal covering (MCLP) and set covering, exact (MIP) or greedy, honestly.

Every answer is a `Solution` that says what it is: the method really used, the solver's
status, a bound on the optimum and the gap to it. An MCLP answer always has exactly `p`
sites (fewer only when fewer already reach every reachable unit); a set cover is verified to
reach every reachable unit. When a MIP stops at its time limit, the better of the solver's
incumbent and the greedy answer is returned, with the solver's bound.

MIP solvers: HiGHS (highspy, model built straight from numpy arrays) or CBC (the binary
bundled in the PuLP wheel). `bench/bench_solvers.py` measures both on the sample's models.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from geo_service.coverage.distance import Array, IntArray

Solver = Literal["highs", "cbc"]
DEFAULT_SOLVER: Solver = "highs"  # bench/bench_solvers.py: faster than CBC on every model here
GREEDY_FACTOR = 1 - 1 / math.e  # greedy ≥ (1 − 1/e) × optimum for max coverage
EPS = 1e-9


@dataclass
class Problem:
    """Sparse coverage: demand weights and (demand, candidate) pairs within reach."""

    weights: Array
    pairs_demand: IntArray
    pairs_candidate: IntArray
    n_candidates: int

    def covered_mask(self, chosen: IntArray) -> NDArray[np.bool_]:
        """Which demand units the chosen candidates reach."""
        hit = np.isin(self.pairs_candidate, chosen)
        mask = np.zeros(len(self.weights), dtype=bool)
        mask[self.pairs_demand[hit]] = True
        return mask

    def covered_weight(self, chosen: IntArray) -> float:
        """Total weight of demand reached by the chosen candidates."""
        return float(self.weights[self.covered_mask(chosen)].sum())

    def reachable(self) -> NDArray[np.bool_]:
        """Demand units that at least one candidate reaches."""
        mask = np.zeros(len(self.weights), dtype=bool)
        mask[self.pairs_demand] = True
        return mask

    def is_cover(self, chosen: IntArray) -> bool:
        """Whether the chosen candidates reach every reachable demand unit."""
        return bool((self.covered_mask(chosen) | ~self.reachable()).all())


@dataclass
class Solution:
    """Chosen candidates and an honest label: method, status, bound, gap, seconds."""

    chosen: IntArray
    value: float  # covered weight (MCLP) or number of sites (set cover)
    method: str  # "exact" | "greedy" | "solver incumbent" (time limit) …
    status: str  # "optimal" | "time limit" | "not run (no time left)" | "greedy" …
    solver: str | None = None
    bound: float | None = None  # upper bound (MCLP) / lower bound (set cover) on the optimum
    bound_kind: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    greedy_value: float | None = None  # the greedy's covered weight, for comparison

    @property
    def gap(self) -> float | None:
        """Relative distance to the bound (0 = proven optimal)."""
        if self.bound is None:
            return None
        if self.bound == 0:
            return 0.0
        return max(0.0, abs(self.bound - self.value) / abs(self.bound))

    def as_dict(self) -> dict:
        """JSON form."""
        return {"method": self.method, "status": self.status, "solver": self.solver,
                "value": self.value, "bound": self.bound, "bound_kind": self.bound_kind,
                "gap": None if self.gap is None else round(self.gap, 6),
                "seconds": round(self.seconds, 3), "sites": len(self.chosen),
                "notes": self.notes}


class Deadline:
    """A wall-clock budget shared by model building and solving."""

    def __init__(self, seconds: float) -> None:
        self.end = time.perf_counter() + seconds

    def left(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.end - time.perf_counter())


def _gains(problem: Problem, covered: NDArray[np.bool_]) -> Array:
    live = ~covered[problem.pairs_demand]
    gains: Array = np.bincount(problem.pairs_candidate[live],
                               weights=problem.weights[problem.pairs_demand[live]],
                               minlength=problem.n_candidates).astype(np.float64)
    return gains


def extend_greedy(problem: Problem, start: IntArray, p: int) -> IntArray:
    """Add, until there are p, the candidate adding the most uncovered weight (vectorised)."""
    chosen = [int(j) for j in start]
    covered = problem.covered_mask(np.asarray(chosen, dtype=np.int64))
    while len(chosen) < p:
        gain = _gains(problem, covered)
        gain[chosen] = -1.0
        best = int(np.argmax(gain))
        if gain[best] <= EPS:
            break  # nothing left to reach: more sites would add nothing
        chosen.append(best)
        covered[problem.pairs_demand[problem.pairs_candidate == best]] = True
    return np.array(chosen, dtype=np.int64)


def greedy(problem: Problem, p: int) -> IntArray:
    """Pick, p times, the candidate adding the most uncovered weight."""
    return extend_greedy(problem, np.zeros(0, dtype=np.int64), p)


def greedy_cover(problem: Problem) -> IntArray:
    """A complete cover: greedy by newly reached units, then redundant sites dropped."""
    ones = Problem(problem.reachable().astype(np.float64), problem.pairs_demand,
                   problem.pairs_candidate, problem.n_candidates)
    chosen = list(greedy(ones, problem.n_candidates))
    for j in sorted(chosen, key=lambda j: ones.covered_weight(np.array([j]))):
        rest = np.array([c for c in chosen if c != j], dtype=np.int64)
        if problem.is_cover(rest):
            chosen = list(rest)
    return np.array(chosen, dtype=np.int64)


def _useful(problem: Problem, p: int) -> int:
    """How many sites can add coverage at all (at most p)."""
    return min(p, len(np.unique(problem.pairs_candidate)))


# --- MIP models as sparse rows, shared by both solvers -------------------------------------

@dataclass
class Mip:
    """A 0-1 model: columns (objective, bounds, integrality) and rows in CSR form."""

    sense: Literal["max", "min"]
    cost: Array
    integer: NDArray[np.bool_]
    row_start: IntArray
    row_index: IntArray
    row_value: Array
    row_lower: Array
    row_upper: Array
    candidates: IntArray  # column j < len(candidates) is candidate candidates[j]


def _grouped(problem: Problem) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Demand units with pairs, and per unit the CSR slice of candidate columns."""
    cands, col = np.unique(problem.pairs_candidate, return_inverse=True)
    order = np.lexsort((col, problem.pairs_demand))
    dem, col = problem.pairs_demand[order], col[order]
    keep = np.r_[True, (dem[1:] != dem[:-1]) | (col[1:] != col[:-1])][:len(dem)]
    dem, col = dem[keep], col[keep]
    starts = np.flatnonzero(np.r_[True, dem[1:] != dem[:-1]][:len(dem)])
    return cands, dem[starts], np.r_[starts, len(dem)].astype(np.int64), col.astype(np.int64)


def mclp_mip(problem: Problem, p: int, relaxed: bool = False) -> Mip:
    """max Σ w_i y_i  s.t.  Σ x_j ≤ p,  y_i ≤ Σ_{j reaches i} x_j,  x binary, 0 ≤ y ≤ 1."""
    cands, dems, starts, cols = _grouped(problem)
    nc, nd = len(cands), len(dems)
    # row 0: Σ x ≤ p; row 1+k: y_k − Σ x_j ≤ 0 (y_k first, then its candidates' x_j)
    pos = starts[:-1] + np.arange(nd)  # where row 1+k starts after row 0
    inner = np.empty(len(cols) + nd, dtype=np.int64)
    inner_val = np.full(len(cols) + nd, -1.0)
    inner[pos] = nc + np.arange(nd)
    inner_val[pos] = 1.0
    rest = np.ones(len(inner), dtype=bool)
    rest[pos] = False
    inner[rest] = cols
    rs = np.r_[0, nc + pos].astype(np.int64)
    index = np.r_[np.arange(nc, dtype=np.int64), inner]
    value = np.r_[np.ones(nc), inner_val]
    return Mip("max", np.r_[np.zeros(nc), problem.weights[dems]],
               np.r_[np.full(nc, not relaxed), np.zeros(nd, dtype=bool)],
               rs, index, value,
               np.r_[-np.inf, np.full(nd, -np.inf)], np.r_[float(p), np.zeros(nd)], cands)


def cover_mip(problem: Problem) -> Mip:
    """min Σ x_j  s.t.  Σ_{j reaches i} x_j ≥ 1 for every reachable i,  x binary."""
    cands, dems, starts, cols = _grouped(problem)
    nd = len(dems)
    return Mip("min", np.ones(len(cands)), np.ones(len(cands), dtype=bool), starts[:-1],
               cols, np.ones(len(cols)), np.ones(nd), np.full(nd, np.inf), cands)


@dataclass
class MipResult:
    """What a MIP solver said: status, incumbent columns (or None), objective bound."""

    status: str
    x: Array | None
    bound: float | None
    solver: str


_BANNER_LOCK = threading.Lock()
_banner_shown = False


def _new_highs():
    """A HiGHS instance; its one-time C-level banner goes to /dev/null, not to stdout (JSON)."""
    global _banner_shown
    import highspy

    with _BANNER_LOCK:
        if _banner_shown:
            return highspy.Highs()
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _banner_shown = True
        return h


def solve_highs(mip: Mip, time_limit: float) -> MipResult:
    """Solve with HiGHS (highspy) within time_limit seconds of wall time."""
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(time_limit, 1e-3))
    # no "threads" option: HiGHS's scheduler is per process, and a value that differs from the
    # one it started with (e.g. PuLP's HiGHS in the same process) makes run() fail
    h.setOptionValue("mip_rel_gap", 1e-6)
    n = len(mip.cost)
    lp = highspy.HighsLp()
    lp.num_col_ = n
    lp.num_row_ = len(mip.row_lower)
    lp.col_cost_ = mip.cost
    lp.col_lower_ = np.zeros(n)
    lp.col_upper_ = np.ones(n)
    lp.row_lower_ = mip.row_lower
    lp.row_upper_ = mip.row_upper
    lp.sense_ = highspy.ObjSense.kMaximize if mip.sense == "max" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.r_[mip.row_start, len(mip.row_index)].astype(np.int32)
    lp.a_matrix_.index_ = mip.row_index.astype(np.int32)
    lp.a_matrix_.value_ = mip.row_value
    lp.a_matrix_.num_col_ = n
    lp.a_matrix_.num_row_ = len(mip.row_lower)
    if mip.integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in mip.integer]
    h.passModel(lp)
    ran = h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has_x = info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value) if has_x else None
    if status == highspy.HighsModelStatus.kOptimal:
        label = "optimal"
        bound: float | None = float(info.objective_function_value)
    elif status == highspy.HighsModelStatus.kTimeLimit:
        label = "time limit"
        bound = float(info.mip_dual_bound) if mip.integer.any() else None
        if bound is not None and not math.isfinite(bound):
            bound = None
    else:
        label = h.modelStatusToString(status) if ran != highspy.HighsStatus.kError else \
            "solver error"
        bound = None
    return MipResult(label, x, bound, f"HiGHS {h.version()}")


def solve_cbc(mip: Mip, time_limit: float) -> MipResult:
    """Solve with the CBC bundled in PuLP (status read from PuLP's solution status)."""
    import pulp

    model = pulp.LpProblem("m", pulp.LpMaximize if mip.sense == "max" else pulp.LpMinimize)
    xs = [model.add_variable(f"v{j}", 0, 1, "Binary" if i else "Continuous")
          for j, i in enumerate(mip.integer)]
    model += pulp.lpSum(float(c) * v for c, v in zip(mip.cost, xs, strict=True) if c)
    ends = np.r_[mip.row_start[1:], len(mip.row_index)]
    for k, (a, b) in enumerate(zip(mip.row_start, ends, strict=True)):
        expr = pulp.lpSum(float(v) * xs[int(j)] for j, v in zip(
            mip.row_index[a:b], mip.row_value[a:b], strict=True))
        if math.isfinite(mip.row_upper[k]):
            model += expr <= float(mip.row_upper[k])
        if math.isfinite(mip.row_lower[k]):
            model += expr >= float(mip.row_lower[k])
    with warnings.catch_warnings():  # PuLP 3.x flags its bundled CBC as deprecated for 4.0
        warnings.simplefilter("ignore", DeprecationWarning)
        model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=max(time_limit, 1e-3),
                                      gapRel=1e-6))
    sol = model.sol_status
    if model.status == pulp.LpStatusOptimal and sol == pulp.LpSolutionOptimal:
        label = "optimal"
    elif sol == pulp.LpSolutionIntegerFeasible:
        label = "time limit"
    else:
        label = pulp.LpStatus[model.status].lower()
    ok = sol in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    x = np.array([v.value() or 0.0 for v in xs]) if ok else None
    bound = float(pulp.value(model.objective) or 0.0) if label == "optimal" else None
    return MipResult(label, x, bound, "CBC (PuLP)")


def solve_mip(mip: Mip, time_limit: float, solver: Solver) -> MipResult:
    """The chosen MIP solver."""
    return solve_highs(mip, time_limit) if solver == "highs" else solve_cbc(mip, time_limit)


def _picked(mip: Mip, x: Array | None) -> IntArray:
    if x is None:
        return np.zeros(0, dtype=np.int64)
    n = len(mip.candidates)
    return np.sort(mip.candidates[np.flatnonzero(x[:n] > 0.5)]).astype(np.int64)


def lp_bound(problem: Problem, p: int, deadline: Deadline, solver: Solver = DEFAULT_SOLVER
             ) -> float | None:
    """The LP relaxation's optimum: an upper bound on any p-site coverage (None if no time)."""
    if deadline.left() <= 0 or len(problem.pairs_demand) == 0:
        return None
    mip = mclp_mip(problem, p, relaxed=True)
    res = solve_mip(mip, deadline.left(), solver)
    return res.bound if res.status == "optimal" else None


def mclp_greedy(problem: Problem, p: int, deadline: Deadline | None = None,
                solver: Solver = DEFAULT_SOLVER) -> Solution:
    """Greedy MCLP with an upper bound: the LP relaxation if time allows, else (1 − 1/e)."""
    started = time.perf_counter()
    chosen = greedy(problem, p)
    value = problem.covered_weight(chosen)
    sol = Solution(chosen, value, "greedy", "greedy", None, greedy_value=value)
    bound = lp_bound(problem, p, deadline, solver) if deadline is not None else None
    if bound is not None:
        sol.bound, sol.bound_kind, sol.solver = bound, "LP relaxation", _solver_name(solver)
    else:
        sol.bound, sol.bound_kind = value / GREEDY_FACTOR, "(1 − 1/e) guarantee"
    if problem.covered_weight(np.unique(problem.pairs_candidate)) <= value + EPS:
        sol.bound, sol.bound_kind = value, "all reachable demand covered"
    sol.seconds = time.perf_counter() - started
    _note_short(sol, p)
    return sol


def mclp_exact(problem: Problem, p: int, deadline: Deadline,
               solver: Solver = DEFAULT_SOLVER) -> Solution:
    """Exact MCLP within the deadline; on a time limit the better of incumbent and greedy."""
    started = time.perf_counter()
    g = greedy(problem, p)
    g_value = problem.covered_weight(g)
    if len(problem.pairs_demand) == 0:
        sol = Solution(g, 0.0, "exact", "optimal", None, 0.0, "nothing reachable",
                       greedy_value=0.0)
        _note_short(sol, p)
        return sol
    mip = mclp_mip(problem, _useful(problem, p))
    if deadline.left() <= 0:
        sol = Solution(g, g_value, "greedy", "not run (no time left)", _solver_name(solver),
                       g_value / GREEDY_FACTOR, "(1 − 1/e) guarantee")
        sol.notes.append("时间上限在求解前已用完，返回贪心解")
        sol.greedy_value = g_value
        sol.seconds = time.perf_counter() - started
        _note_short(sol, p)
        return sol
    res = solve_mip(mip, deadline.left(), solver)
    inc = extend_greedy(problem, _picked(mip, res.x), p)  # fills an incumbent up to p sites
    inc_value = problem.covered_weight(inc)
    if res.status == "optimal":
        chosen, value, method = inc, inc_value, "exact"
        bound: float | None = max(inc_value, res.bound or inc_value)
    else:
        better = res.x is not None and inc_value > g_value + EPS
        chosen, value = (inc, inc_value) if better else (g, g_value)
        method = "solver incumbent" if better else "greedy"
        reachable = float(problem.weights[problem.reachable()].sum())
        bound = None if res.bound is None else min(res.bound, reachable)
    sol = Solution(np.sort(chosen), value, method, res.status, res.solver, bound,
                   "solver bound" if bound is not None else None)
    if bound is None:
        sol.bound, sol.bound_kind = value / GREEDY_FACTOR if method == "greedy" else None, (
            "(1 − 1/e) guarantee" if method == "greedy" else None)
    sol.greedy_value = g_value
    sol.seconds = time.perf_counter() - started
    _note_short(sol, p)
    return sol


def set_cover_greedy(problem: Problem) -> Solution:
    """Greedy set cover (verified complete), with the trivial bound of 1 site per …"""
    started = time.perf_counter()
    chosen = greedy_cover(problem)
    sol = Solution(np.sort(chosen), float(len(chosen)), "greedy", "greedy")
    sol.seconds = time.perf_counter() - started
    return sol


def set_cover(problem: Problem, deadline: Deadline, exact: bool = True,
              solver: Solver = DEFAULT_SOLVER) -> Solution:
    """The fewest candidates reaching every reachable demand unit (always a complete cover)."""
    started = time.perf_counter()
    if not problem.reachable().any():
        return Solution(np.zeros(0, dtype=np.int64), 0.0, "exact", "optimal", None, 0.0,
                        "nothing to cover")
    g = greedy_cover(problem)
    if not exact or deadline.left() <= 0:
        sol = Solution(np.sort(g), float(len(g)), "greedy",
                       "greedy" if not exact else "not run (no time left)")
        sol.seconds = time.perf_counter() - started
        return sol
    mip = cover_mip(problem)
    res = solve_mip(mip, deadline.left(), solver)
    inc = _picked(mip, res.x)
    if res.x is not None and not problem.is_cover(inc):  # never hand out an incomplete cover
        inc = np.zeros(0, dtype=np.int64)
    bound = None if res.bound is None else float(math.ceil(res.bound - 1e-6))
    if res.status == "optimal" and len(inc):
        sol = Solution(np.sort(inc), float(len(inc)), "exact", "optimal", res.solver,
                       float(len(inc)), "solver bound")
    elif len(inc) and len(inc) < len(g):
        sol = Solution(np.sort(inc), float(len(inc)), "solver incumbent", res.status,
                       res.solver, bound, "solver bound" if bound is not None else None)
    else:
        sol = Solution(np.sort(g), float(len(g)), "greedy", res.status, res.solver, bound,
                       "solver bound" if bound is not None else None)
    assert problem.is_cover(sol.chosen)
    sol.seconds = time.perf_counter() - started
    return sol


def _solver_name(solver: Solver) -> str:
    return "HiGHS" if solver == "highs" else "CBC (PuLP)"


def _note_short(sol: Solution, p: int) -> None:
    if len(sol.chosen) < p:
        sol.notes.append(f"{len(sol.chosen)} 处已覆盖全部可达的未覆盖需求，其余 "
                         f"{p - len(sol.chosen)} 处不会再增加覆盖")
