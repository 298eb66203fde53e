"""Coordinate conversions: GCJ-02 and BD-09 inverses, EPSG parsing, metric and geodesic work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from geo_service import crs

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def _points(n: int, seed: int, box=(104.9, 29.2, 106.3, 30.1)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(box[0], box[2], n), rng.uniform(box[1], box[3], n)


@pytest.mark.parametrize("box", [(104.9, 29.2, 106.3, 30.1), (74.0, 18.5, 134.0, 53.0)])
def test_gcj02_inverse_is_within_half_a_metre(box):
    lon, lat = _points(5000, 1, box)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = crs.gcj02_to_wgs84(glon, glat)
    error = crs.geodesic_distance_m(lon, lat, back_lon, back_lat)
    assert error.max() < 0.5
    assert error.max() < 0.001  # the iteration converges far below the requirement


def test_gcj02_offset_is_hundreds_of_metres_in_dazu():
    lon, lat = _points(100, 2)
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    offset = crs.geodesic_distance_m(lon, lat, glon, glat)
    assert offset.min() > 200 and offset.max() < 800


def test_one_step_inverse_would_not_be_good_enough():
    """The naive inverse (subtract the offset at the GCJ position) misses by more than ours."""
    lon, lat = _points(2000, 3, (73.5, 18.0, 135.0, 53.5))
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    dlon, dlat = crs.wgs84_to_gcj02(glon, glat)
    naive_lon, naive_lat = glon - (dlon - glon), glat - (dlat - glat)
    naive_error = crs.geodesic_distance_m(lon, lat, naive_lon, naive_lat).max()
    ours = crs.geodesic_distance_m(lon, lat, *crs.gcj02_to_wgs84(glon, glat)).max()
    assert naive_error > 0.5 > ours


def test_bd09_round_trips():
    lon, lat = _points(5000, 4)
    blon, blat = crs.wgs84_to_bd09(lon, lat)
    assert crs.geodesic_distance_m(lon, lat, blon, blat).min() > 300
    back = crs.bd09_to_wgs84(blon, blat)
    assert crs.geodesic_distance_m(lon, lat, *back).max() < 0.001
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert crs.geodesic_distance_m(glon, glat, *crs.bd09_to_gcj02(blon, blat)).max() < 0.001


def test_outside_china_gcj02_is_identity():
    lon, lat = np.array([2.35, -74.0]), np.array([48.85, 40.7])
    glon, glat = crs.wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon, lon) and np.array_equal(glat, lat)


@pytest.mark.parametrize(("text", "name"), [
    ("EPSG:4326", "EPSG:4326"), ("4490", "EPSG:4490"), ("gcj02", "gcj02"), ("GCJ-02", "gcj02"),
    ("bd09", "bd09"), ("http://www.opengis.net/def/crs/EPSG/0/4544", "EPSG:4544"),
    (None, "EPSG:4490"),
])
def test_parse_crs(text, name):
    assert crs.parse_crs(text).name == name


def test_parse_crs_rejects_unknown():
    with pytest.raises(crs.UnknownCRSError, match="unknown CRS 'EPSG:99999'"):
        crs.parse_crs("EPSG:99999")


def test_projected_input_is_converted_to_storage():
    gk = crs.parse_crs("EPSG:4544")
    lon, lat = crs.to_storage_xy([500000.0], [3_300_000.0], gk)
    assert lon[0] == pytest.approx(105.0, abs=1e-9)
    assert 29.7 < lat[0] < 29.9
    x, y = crs.from_storage_xy(lon, lat, gk)
    assert x[0] == pytest.approx(500000.0, abs=1e-4) and y[0] == pytest.approx(3_300_000, abs=1e-4)


def test_metric_projection_is_gauss_kruger_105():
    point = crs.to_metric(Point(105.0, 30.0))
    assert point.x == pytest.approx(500_000.0, abs=1e-6)
    metres = crs.to_metric(shapely.LineString([(105.7, 29.7), (105.71, 29.7)])).length
    geodesic = crs.geodesic_distance_m(105.7, 29.7, 105.71, 29.7)
    assert metres == pytest.approx(float(geodesic), rel=2e-4)


def test_district_outline_area_is_1436_km2():
    features = json.loads((SHARED / "dazu_and_neighbours_gcj02.geojson").read_text())["features"]
    dazu = shape(next(f for f in features if f["properties"]["adcode"] == "500111")["geometry"])
    outline = crs.geometry_to_storage(dazu, crs.GCJ02)
    area_km2 = crs.geodesic_area_m2(outline) / 1e6
    assert area_km2 == pytest.approx(1436, rel=0.01)
    planar_km2 = crs.to_metric(outline).area / 1e6
    assert planar_km2 == pytest.approx(1436, rel=0.01)
