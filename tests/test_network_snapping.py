"""The k-d tree snapping index against shapely's STRtree (GEOS distances) as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from geo_service.network.snapping import EdgeIndex


def polylines(rng: np.random.Generator, n: int, spread: float) -> np.ndarray:
    """n random polylines of 2–6 vertices, segment lengths of tens to hundreds of metres."""
    lines = []
    for start in rng.uniform(0, spread, (n, 2)):
        steps = rng.normal(0, rng.choice([5.0, 40.0, 300.0]), (int(rng.integers(1, 6)), 2))
        lines.append(shapely.LineString(np.vstack([start, start + np.cumsum(steps, axis=0)])))
    return np.array(lines, dtype=object)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nearest_edge_distance_and_position_equal_strtree(seed: int) -> None:
    rng = np.random.default_rng(seed)
    geoms = polylines(rng, 3000, 4000.0)
    xy = np.vstack([rng.uniform(-500, 4500, (4000, 2)),  # anywhere, also far off the roads
                    shapely.get_coordinates(geoms)[:500]])  # exactly on vertices
    edge, dist, along = EdgeIndex(geoms).nearest(xy)
    points = shapely.points(xy)
    (p, _), d = shapely.STRtree(geoms).query_nearest(points, return_distance=True,
                                                     all_matches=False)
    assert np.array_equal(p, np.arange(len(xy)))
    np.testing.assert_allclose(dist, d, atol=1e-9)
    np.testing.assert_allclose(shapely.distance(geoms[edge], points), d, atol=1e-9)
    np.testing.assert_allclose(along, shapely.line_locate_point(geoms[edge], points), atol=1e-6)


def test_ties_go_to_the_lowest_edge_and_empty_inputs() -> None:
    geoms = np.array([shapely.LineString([(0, 1), (10, 1)]),
                      shapely.LineString([(0, -1), (10, -1)])], dtype=object)
    edge, dist, along = EdgeIndex(geoms).nearest(np.array([[5.0, 0.0], [5.0, -0.5]]))
    assert edge.tolist() == [0, 1] and dist.tolist() == [1.0, 0.5] and along.tolist() == [5, 5]
    none, far, _ = EdgeIndex(np.array([], dtype=object)).nearest(np.array([[0.0, 0.0]]))
    assert none.tolist() == [-1] and np.isinf(far).all()


def test_a_crowded_spot_beyond_the_candidate_rounds_is_still_exact() -> None:
    rng = np.random.default_rng(7)
    # one long road (sets a long piece length) and 300 short stubs around the origin
    stubs = [shapely.LineString([c, c + rng.normal(0, 2, 2)])
             for c in rng.normal(0, 20, (300, 2))]
    geoms = np.array([shapely.LineString([(-5000, 900), (5000, 900)])] * 400 + stubs,
                     dtype=object)
    xy = rng.normal(0, 30, (200, 2))
    _, dist, _ = EdgeIndex(geoms).nearest(xy)
    _, d = shapely.STRtree(geoms).query_nearest(shapely.points(xy), return_distance=True,
                                                all_matches=False)
    np.testing.assert_allclose(dist, d, atol=1e-9)
