"""The straight-line model's cKDTree nearest/within against brute force and shapely's STRtree
(the engine's previous computation) on random arrays in EPSG:4544 metres."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service.coverage.distance import PlanarDistance
from geo_service.coverage.engine import assign

MODEL = PlanarDistance()


def _arrays(seed: int, n: int = 700, m: int = 90) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Units and sites round 大足 in EPSG:4544 metres, some sites at the same point, radii
    with NaN (membership rule) and 0; a few units exactly on a site's circle."""
    rng = np.random.default_rng(seed)
    x0, y0 = 570_000.0, 3_290_000.0
    units = np.column_stack([x0 + rng.uniform(0, 40_000, n), y0 + rng.uniform(0, 40_000, n)])
    sites = np.column_stack([x0 + rng.uniform(0, 40_000, m), y0 + rng.uniform(0, 40_000, m)])
    sites[[7, 30, 61]] = sites[[40, 2, 11]]  # co-located sites
    radii = rng.choice([300.0, 1000.0, 2000.0, 5000.0], m)
    radii[rng.random(m) < 0.2] = np.nan
    radii[3] = 0.0
    on_circle = np.flatnonzero(np.isfinite(radii) & (radii > 0))[:5]
    units[:5] = sites[on_circle] + np.column_stack([radii[on_circle] * 0.6,
                                                    radii[on_circle] * 0.8])
    return units, sites, radii


def _brute(units: np.ndarray, sites: np.ndarray) -> np.ndarray:
    return np.hypot(units[:, None, 0] - sites[None, :, 0], units[:, None, 1] - sites[None, :, 1])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_nearest_equals_brute_force_and_the_strtree(seed: int) -> None:
    units, sites, _ = _arrays(seed)
    idx, dist = MODEL.nearest(units, sites)
    d = _brute(units, sites)
    assert np.array_equal(idx, d.argmin(axis=1))  # co-located sites: the lowest index
    assert np.array_equal(dist, d.min(axis=1))
    tree = shapely.STRtree(shapely.points(sites))
    (u, s), geos = tree.query_nearest(shapely.points(units), return_distance=True,
                                      all_matches=False)
    assert np.array_equal(u, np.arange(len(units)))
    assert np.array_equal(sites[s], sites[idx])  # the same site (or one at the same point)
    assert np.allclose(geos, dist, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_within_equals_brute_force_and_the_strtree(seed: int) -> None:
    units, sites, radii = _arrays(seed)
    u, s, dist = MODEL.within(units, sites, radii)
    d = _brute(units, sites)
    ok = d <= np.where(np.isfinite(radii) & (radii > 0), radii, -1.0)[None, :]
    want_u, want_s = np.nonzero(ok)
    order = np.lexsort((want_u, want_s))  # by site, then unit
    assert np.array_equal(s, want_s[order]) and np.array_equal(u, want_u[order])
    assert np.array_equal(dist, d[u, s])
    assert {(i, j) for i, j in zip(u, s, strict=True)} >= {(i, j) for i, j in zip(
        range(5), np.flatnonzero(np.isfinite(radii) & (radii > 0))[:5], strict=True)}
    keep = np.flatnonzero(np.isfinite(radii) & (radii > 0))
    tree = shapely.STRtree(shapely.points(units))
    gs, gu = tree.query(shapely.points(sites[keep]), predicate="dwithin",
                        distance=radii[keep])
    geos = {(int(a), int(keep[b])) for a, b in zip(gu, gs, strict=True)
            if d[a, keep[b]] <= radii[keep[b]]}
    assert geos == {(int(a), int(b)) for a, b in zip(u, s, strict=True)}


def test_assign_equals_brute_force_with_empty_inputs() -> None:
    units, sites, radii = _arrays(9)
    rule = np.where(np.isfinite(radii), "radius", "township").astype(object)
    towns = np.array(["T1", "T2"], dtype=object)
    a = assign(units, towns[np.arange(len(units)) % 2], sites, towns[np.arange(len(sites)) % 2],
               radii, rule, MODEL)
    d = _brute(units, sites)
    within = (d <= np.where((rule == "radius") & (radii > 0), radii, -1.0)[None, :]).sum(axis=1)
    assert np.array_equal(a.sites_within, within)
    assert np.array_equal(a.nearest, d.argmin(axis=1))
    none_idx, none_d = MODEL.nearest(units, sites[:0])
    assert (none_idx == -1).all() and np.isinf(none_d).all()
    eu, es, ed = MODEL.within(units[:0], sites, radii)
    assert len(eu) == len(es) == len(ed) == 0
