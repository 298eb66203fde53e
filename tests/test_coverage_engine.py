"""The coverage engine against an independent brute force (every unit × every site)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from pyproj import Transformer

from geo_service.coverage.distance import PlanarDistance
from geo_service.coverage.engine import assign, decay_weights, two_step

GK = Transformer.from_crs("EPSG:4490", "EPSG:4544", always_xy=True)


def brute(ulon, ulat, slon, slat):
    """Full distance matrix on the GK plane, projected here with pyproj directly."""
    ux, uy = GK.transform(ulon, ulat)
    sx, sy = GK.transform(slon, slat)
    return np.sqrt((np.asarray(ux)[:, None] - np.asarray(sx)[None, :]) ** 2
                   + (np.asarray(uy)[:, None] - np.asarray(sy)[None, :]) ** 2)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_data_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 1500, 400
    ulon, ulat = rng.uniform(105.3, 106.1, n), rng.uniform(29.3, 29.9, n)
    slon, slat = rng.uniform(105.3, 106.1, k), rng.uniform(29.3, 29.9, k)
    towns_u = rng.integers(0, 30, n).astype(str).astype(object)
    towns_s = rng.integers(0, 60, k).astype(str).astype(object)
    rule = rng.choice(np.array(["radius"] * 8 + ["township"], dtype=object), k)
    radius = np.where(rule == "radius", rng.uniform(200, 3000, k), np.nan)
    model = PlanarDistance()
    uxy = np.column_stack(model.project(ulon, ulat))
    sxy = np.column_stack(model.project(slon, slat))
    a = assign(uxy, towns_u, sxy, towns_s, radius, rule, model)

    d = brute(ulon, ulat, slon, slat)
    np.testing.assert_allclose(a.distance, d.min(axis=1), atol=0.01, rtol=0)
    assert np.allclose(d[np.arange(n), a.nearest], d.min(axis=1), atol=0.01)
    within = (d <= np.where(rule == "radius", radius, -1)[None, :])
    served_towns = {t for t, r in zip(towns_s, rule, strict=True) if r == "township"}
    expected = within.any(axis=1) | np.array([t in served_towns for t in towns_u])
    assert (a.covered == expected).all()
    assert (a.sites_within == within.sum(axis=1)).all()
    assert 0 < expected.mean() < 1  # the data exercise both outcomes


def test_district_rule_covers_everyone_and_no_sites_cover_no_one() -> None:
    model = PlanarDistance()
    uxy = np.column_stack(model.project(np.array([105.5, 105.9]), np.array([29.5, 29.8])))
    sxy = np.column_stack(model.project(np.array([105.7]), np.array([29.6])))
    towns = np.array(["a", "b"], dtype=object)
    a = assign(uxy, towns, sxy, np.array(["x"], dtype=object), np.array([np.nan]),
               np.array(["district"], dtype=object), model)
    assert a.covered.all() and list(a.covered_by) == ["district", "district"]
    none = assign(uxy, towns, np.zeros((0, 2)), np.zeros(0, dtype=object), np.zeros(0),
                  np.zeros(0, dtype=object), model)
    assert not none.covered.any() and np.isinf(none.distance).all()
    assert (none.nearest == -1).all()


@pytest.mark.parametrize("decay", ["none", "linear", "gaussian"])
def test_two_step_matches_dense_computation(decay: str) -> None:
    rng = np.random.default_rng(9)
    n, k, d0 = 300, 40, 8000.0
    ulon, ulat = rng.uniform(105.3, 106.1, n), rng.uniform(29.3, 29.9, n)
    slon, slat = rng.uniform(105.3, 106.1, k), rng.uniform(29.3, 29.9, k)
    pop = rng.integers(100, 2000, n).astype(float)
    beds = rng.integers(0, 300, k).astype(float)
    model = PlanarDistance()
    access, _ = two_step(np.column_stack(model.project(ulon, ulat)), pop,
                         np.column_stack(model.project(slon, slat)), beds, d0, decay, model)
    d = brute(ulon, ulat, slon, slat)
    inside = d <= d0
    if decay == "none":
        w = inside * 1.0
    elif decay == "linear":
        w = inside * (1 - d / d0)
    else:
        w = inside * (np.exp(-0.5 * (d / d0) ** 2) - np.exp(-0.5)) / (1 - np.exp(-0.5))
    reach = (w * pop[:, None]).sum(axis=0)
    ratio = np.where(reach > 0, beds / np.where(reach > 0, reach, 1), 0)
    expected = (w * ratio[None, :]).sum(axis=1) * 1000
    np.testing.assert_allclose(access, expected, rtol=1e-9, atol=1e-9)
    assert decay_weights(np.array([0.0]), d0, decay)[0] == pytest.approx(1.0)


def test_dask_path_equals_in_process() -> None:
    from distributed import Client, LocalCluster

    from geo_service.coverage.partitioned import assign_partitioned

    rng = np.random.default_rng(5)
    n, k = 4000, 600
    model = PlanarDistance()
    uxy = np.column_stack(model.project(rng.uniform(104, 108, n), rng.uniform(28, 31, n)))
    sxy = np.column_stack(model.project(rng.uniform(104, 108, k), rng.uniform(28, 31, k)))
    tu = rng.integers(0, 50, n).astype(str).astype(object)
    ts = rng.integers(0, 200, k).astype(str).astype(object)
    rule = rng.choice(np.array(["radius", "radius", "township"], dtype=object), k)
    radius = np.where(rule == "radius", rng.choice([500.0, 2000.0, 8000.0], k), np.nan)
    a = assign(uxy, tu, sxy, ts, radius, rule, model)
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        b = assign_partitioned(uxy, tu, sxy, ts, radius, rule, npartitions=6, model=model)
    assert time.perf_counter() - started < 60
    assert np.array_equal(a.nearest, b.nearest)
    assert np.array_equal(a.distance, b.distance)
    assert np.array_equal(a.covered, b.covered)
    assert list(a.covered_by) == list(b.covered_by)
    assert np.array_equal(a.sites_within, b.sites_within)
