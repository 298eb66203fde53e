"""MCLP and set-cover solvers against brute force on random small instances (both MIP solvers)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from geo_service.coverage.solvers import (
    Deadline,
    Problem,
    greedy,
    mclp_exact,
    mclp_greedy,
    set_cover,
)

SEEDS = range(40)


def random_problem(seed: int) -> tuple[Problem, int]:
    """Up to 14 demand units and 9 candidates, sparse reach, integer weights; and a p."""
    rng = np.random.default_rng(seed)
    nd, nc = int(rng.integers(3, 15)), int(rng.integers(2, 10))
    reach = rng.random((nd, nc)) < rng.uniform(0.1, 0.5)
    d, c = np.nonzero(reach)
    weights = rng.integers(0, 100, nd).astype(np.float64)
    return Problem(weights, d.astype(np.int64), c.astype(np.int64), nc), int(rng.integers(1, 5))


def brute_mclp(problem: Problem, p: int) -> float:
    """The best coverage of any p candidates (every combination)."""
    k = min(p, problem.n_candidates)
    return max(problem.covered_weight(np.array(s, dtype=np.int64))
               for s in itertools.combinations(range(problem.n_candidates), k))


def brute_cover(problem: Problem) -> int:
    """The fewest candidates reaching every reachable unit (every combination)."""
    for k in range(problem.n_candidates + 1):
        for s in itertools.combinations(range(problem.n_candidates), k):
            if problem.is_cover(np.array(s, dtype=np.int64)):
                return k
    raise AssertionError("the full set is always a cover")


def useful_sites(problem: Problem, p: int) -> int:
    """Sites a solution must have: p, unless fewer already reach all reachable demand."""
    best = brute_mclp(problem, p)
    for k in range(min(p, problem.n_candidates) + 1):
        if brute_mclp(problem, k) >= best - 1e-9 and best >= problem.covered_weight(
                np.arange(problem.n_candidates)) - 1e-9:
            return k
    return min(p, problem.n_candidates)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize("seed", SEEDS)
def test_exact_equals_brute_force_and_beats_greedy(seed: int, solver: str) -> None:
    problem, p = random_problem(seed)
    best = brute_mclp(problem, p)
    exact = mclp_exact(problem, p, Deadline(30), solver)  # type: ignore[arg-type]
    assert exact.status == "optimal" and exact.method == "exact"
    assert exact.value == pytest.approx(best)
    assert problem.covered_weight(exact.chosen) == pytest.approx(exact.value)
    assert exact.gap == pytest.approx(0.0, abs=1e-6)
    assert len(set(exact.chosen.tolist())) == len(exact.chosen)
    assert useful_sites(problem, p) <= len(exact.chosen) <= p
    g = greedy(problem, p)
    assert problem.covered_weight(g) <= best + 1e-9
    assert exact.greedy_value == pytest.approx(problem.covered_weight(g))


@pytest.mark.parametrize("seed", SEEDS)
def test_set_cover_is_minimal_and_complete(seed: int) -> None:
    problem, _ = random_problem(seed)
    minimum = brute_cover(problem)
    for solver in ("highs", "cbc"):
        sc = set_cover(problem, Deadline(30), exact=True, solver=solver)  # type: ignore[arg-type]
        assert problem.is_cover(sc.chosen) and len(sc.chosen) == minimum
        assert sc.status == "optimal"
    g = set_cover(problem, Deadline(30), exact=False)
    assert problem.is_cover(g.chosen) and len(g.chosen) >= minimum
    assert g.method == "greedy" or not problem.reachable().any()


@pytest.mark.parametrize("seed", SEEDS)
def test_greedy_bound_holds(seed: int) -> None:
    problem, p = random_problem(seed)
    best = brute_mclp(problem, p)
    sol = mclp_greedy(problem, p, Deadline(30))
    assert sol.value <= best + 1e-9 <= sol.bound + 2e-9  # type: ignore[operator]
    assert sol.bound_kind in ("LP relaxation", "all reachable demand covered")


def larger_problem(seed: int, nd: int = 3000, nc: int = 2500) -> Problem:
    """A random geometric instance big enough that a tiny time limit stops the MIP early."""
    rng = np.random.default_rng(seed)
    ux, uy = rng.uniform(0, 50_000, (2, nd))
    cx, cy = rng.uniform(0, 50_000, (2, nc))
    d2 = (ux[:, None] - cx[None, :]) ** 2 + (uy[:, None] - cy[None, :]) ** 2
    d, c = np.nonzero(d2 <= 2500.0 ** 2)
    return Problem(rng.integers(1, 500, nd).astype(np.float64), d.astype(np.int64),
                   c.astype(np.int64), nc)


@pytest.mark.parametrize("limit", [0.0, 0.01, 0.05, 0.3])
def test_time_limited_exact_is_at_least_greedy_with_exactly_p_sites(limit: float) -> None:
    problem = larger_problem(7)
    p = 25
    g_value = problem.covered_weight(greedy(problem, p))
    for solver in ("highs", "cbc"):
        sol = mclp_exact(problem, p, Deadline(limit), solver)  # type: ignore[arg-type]
        assert len(sol.chosen) == p == len(set(sol.chosen.tolist()))
        assert sol.value >= g_value - 1e-9
        assert problem.covered_weight(sol.chosen) == pytest.approx(sol.value)
        assert sol.method in ("exact", "solver incumbent", "greedy")
        if sol.method != "exact":
            assert sol.status != "optimal" and sol.bound is not None and sol.bound >= sol.value
        sc = set_cover(problem, Deadline(limit), exact=True, solver=solver)  # type: ignore[arg-type]
        assert problem.is_cover(sc.chosen)
        if sc.bound is not None:
            assert sc.bound <= len(sc.chosen)


def test_time_limit_bounds_wall_time() -> None:
    import time

    problem = larger_problem(11, nd=6000, nc=5000)
    started = time.perf_counter()
    sol = mclp_exact(problem, 40, Deadline(0.5))
    assert time.perf_counter() - started < 0.5 + 1.5  # building + solving + greedy fill-up
    assert len(sol.chosen) == 40


def _spopt_objectives(cost: np.ndarray, weights: np.ndarray, p: int) -> tuple[float, int]:
    """spopt's MCLP covered weight and LSCP site count, both solved with HiGHS via PuLP."""
    import warnings

    import pulp
    from spopt.locate import LSCP, MCLP

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mclp = MCLP.from_cost_matrix(cost, weights, service_radius=1.0, p_facilities=p)
        mclp.solve(pulp.HiGHS(msg=False))
        assert mclp.problem.status == pulp.LpStatusOptimal
        lscp = LSCP.from_cost_matrix(cost, service_radius=1.0)
        lscp.solve(pulp.HiGHS(msg=False))
        assert lscp.problem.status == pulp.LpStatusOptimal
    return float(pulp.value(mclp.problem.objective)), round(pulp.value(lscp.problem.objective))


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_exact_matches_spopt_on_geometric_instances(seed: int) -> None:
    """PySAL spopt (dense MCLP / LSCP models) as the outside oracle, radius per demand unit."""
    rng = np.random.default_rng(seed)
    nd, nc, p = 220, 160, 6
    ux, uy = rng.uniform(0, 20_000, (2, nd))
    cx, cy = rng.uniform(0, 20_000, (2, nc))
    dist = np.hypot(ux[:, None] - cx[None, :], uy[:, None] - cy[None, :])
    radius = np.where(rng.random(nd) < 0.4, 1000.0, 3000.0)  # urban vs rural residents
    scaled = dist / radius[:, None]  # spopt takes one radius: scale each unit's distances
    keep = (scaled <= 1.0).any(axis=1)  # LSCP needs every demand unit reachable
    scaled = scaled[keep]
    weights = rng.integers(1, 900, int(keep.sum())).astype(np.float64)
    d, c = np.nonzero(scaled <= 1.0)
    problem = Problem(weights, d.astype(np.int64), c.astype(np.int64), nc)
    cost = scaled
    spopt_mclp, spopt_lscp = _spopt_objectives(cost, weights, p)
    ours = mclp_exact(problem, p, Deadline(60))
    assert ours.status == "optimal" and ours.value == pytest.approx(spopt_mclp)
    sc = set_cover(problem, Deadline(60))
    assert sc.status == "optimal" and len(sc.chosen) == spopt_lscp and problem.is_cover(sc.chosen)


@pytest.mark.parametrize("seed", range(10))
def test_an_incumbent_short_of_p_is_filled_up_without_losing_coverage(seed: int) -> None:
    """A time-limited incumbent may hold fewer than p sites: it is filled up greedily."""
    from geo_service.coverage.solvers import extend_greedy

    problem = larger_problem(seed, nd=400, nc=300)
    start = greedy(problem, 2)[::-1][:1]  # a one-site "incumbent"
    filled = extend_greedy(problem, start, 8)
    assert len(filled) == 8 == len(set(filled.tolist())) and filled[0] == start[0]
    assert problem.covered_weight(filled) >= problem.covered_weight(start)
    assert problem.covered_weight(filled) <= brute_free_bound(problem, 8)


def brute_free_bound(problem: Problem, p: int) -> float:
    """A trivial upper bound: the p largest single-site coverages, summed."""
    alone = np.bincount(problem.pairs_candidate, weights=problem.weights[problem.pairs_demand],
                        minlength=problem.n_candidates)
    return float(np.sort(alone)[::-1][:p].sum())
