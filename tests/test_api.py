"""The HTTP service: health and the layer listing on the sample."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from geo_service.api.app import create_app
from geo_service.db.engine import make_engine


def test_health_reports_database(sample_url):
    with TestClient(create_app(make_engine(sample_url))) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok" and response.json()["postgis"].startswith("3")


def test_health_is_503_when_the_database_is_down():
    engine = make_engine("postgresql+psycopg://nobody:x@127.0.0.1:9/none")
    with TestClient(create_app(engine)) as client:
        response = client.get("/health")
    assert response.status_code == 503 and response.json()["status"] == "degraded"


def test_layer_listing_counts_only_public_rows(sample_url, sample_engine):
    with TestClient(create_app(make_engine(sample_url))) as client:
        listing = client.get("/layers").json()
    layers = {entry["id"]: entry for entry in listing["layers"]}
    assert set(layers) == {"eldercare_sites", "funeral_sites", "child_sites", "admin_areas",
                           "place_names", "roads"}
    assert layers["roads"]["geometry"] == "MultiLineString" and layers["roads"]["count"] > 0
    assert layers["eldercare_sites"]["title"] == "养老服务设施"
    with sample_engine.connect() as conn:
        public, total = conn.execute(text(
            "SELECT count(*) FILTER (WHERE is_public), count(*) FROM child_sites")).one()
        canteens = conn.execute(text(
            "SELECT count(*) FROM eldercare_sites WHERE kind = '老年食堂' AND is_public")).scalar()
    assert public < total
    assert layers["child_sites"]["count"] == public
    kinds = {k["kind"]: k["count"] for k in layers["eldercare_sites"]["kinds"]}
    assert kinds["老年食堂"] == canteens == 25
    assert layers["eldercare_sites"]["illustrative_count"] == layers["eldercare_sites"]["count"]
    assert "示意" in listing["note"]


def test_the_real_server_starts_and_answers(live_server):
    import httpx

    layers = httpx.get(f"{live_server}/layers", timeout=10).json()["layers"]
    assert {entry["id"] for entry in layers} >= {"eldercare_sites", "admin_areas"}
