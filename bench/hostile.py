"""Hostile input against the whole service: schemathesis over the OpenAPI, plus a crafted list.

Runs in-process (ASGI) on a throwaway copy of the 大足 sample in the local cluster:

    .venv/bin/python bench/hostile.py [--examples 25] [--only /collections]

Checks: no 5xx from any operation (anonymous and as an admin); SQL-injection strings in
every query parameter; oversized / malformed GeoJSON, invalid and self-intersecting
polygons, coordinates outside China, NaN/Infinity, a 20 000-vertex polygon and rare CJK
names are answered with a clear 4xx or stored intact. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hypothesis
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import Engine, text

INJECTIONS = ["' OR '1'='1", "1; DROP TABLE users; --", "') OR 1=1 --",
              "%' AND pg_sleep(5)--", "\\x00", "𠮷'; SELECT * FROM audit_log; --",
              "1 UNION SELECT password_hash FROM users"]


@contextmanager
def sample_database() -> Iterator[Engine]:
    """A throwaway database with the sample and one admin + one data editor."""
    from geo_service.auth import users
    from geo_service.db.engine import make_engine
    from geo_service.sample import load_sample

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scratch import scratch_database  # bench/scratch.py

    with scratch_database("geo_hostile") as url:
        engine = make_engine(url)
        try:
            load_sample(engine)
            with engine.begin() as conn:
                users.add_user(conn, "fuzz_admin", "fuzz-password-123", "admin")
            yield engine
        finally:
            engine.dispose()


def token(client: TestClient) -> dict[str, str]:
    """Bearer header of the fuzzing admin."""
    response = client.post("/auth/token", data={"username": "fuzz_admin",
                                                 "password": "fuzz-password-123"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def fuzz(app, headers_list: list[dict[str, str]], *, examples: int,
         include: Callable[[str, str], bool] = lambda method, path: True) -> dict:
    """Schemathesis-generated requests to every operation; returns counts and any 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation is None or not include(operation.method.upper(), operation.path):
            continue
        operations += 1
        strategy = operation.as_strategy()

        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @hypothesis.given(case=strategy)
        def run(case) -> None:
            for headers in headers_list:
                response = case.call(headers=headers)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query} → "
                                    f"{response.status_code} {response.text[:200]}")

        run()
    return {"operations": operations, "statuses": dict(sorted(statuses.items())),
            "failures": failures}


def injections(client: TestClient, headers: dict[str, str]) -> list[str]:
    """SQL-injection strings in every query parameter of every GET; any 5xx is a failure."""
    failures = []
    paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        get = operations.get("get")
        if not get or ("{" in path and "collection" not in path):
            continue
        concrete = path.replace("{collection_id}", "eldercare_sites").replace(
            "{feature_id}", "1").replace("{tms}", "WebMercatorQuad")
        if "{" in concrete:
            continue
        for param in get.get("parameters", []):
            if param["in"] != "query":
                continue
            for attack in INJECTIONS:
                response = client.get(concrete, params={param["name"]: attack}, headers=headers)
                if response.status_code >= 500:
                    failures.append(f"GET {concrete}?{param['name']}={attack!r} → "
                                    f"{response.status_code}")
    return failures


def crafted_features(client: TestClient, headers: dict[str, str], engine: Engine) -> list[str]:
    """Hostile GeoJSON for the editing endpoints: each is a clear 4xx or stored intact."""
    with engine.connect() as conn:
        x, y = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) "
                                 "p FROM admin_areas WHERE level = 'district') s")).one()

    def point(lon, lat, **props):
        return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"name": "测试", "kind": "老年食堂", **props}}

    ring = [[x + .01 * math.cos(2 * math.pi * i / 20000),
             y + .01 * math.sin(2 * math.pi * i / 20000)] for i in range(20000)]
    cases: list[tuple[str, str, bytes | dict, set[int]]] = [
        ("malformed JSON", "eldercare_sites", b'{"type": "Feature", "geometry": ', {400, 422}),
        ("not an object", "eldercare_sites", b"[1, 2, 3]", {400, 422}),
        ("oversized body", "eldercare_sites", b'{"a": "' + b"x" * (11 * 2**20) + b'"}', {413}),
        ("outside China", "eldercare_sites", point(-122.4, 37.8), {422}),
        ("NaN", "eldercare_sites", json.dumps(point(x, y)).replace(str(x), "NaN").encode(),
         {400, 422}),
        ("Infinity", "eldercare_sites",
         json.dumps(point(x, y)).replace(str(y), "-Infinity").encode(), {400, 422}),
        ("self-intersecting polygon", "place_names",
         {"type": "Feature", "properties": {"name": "自相交"}, "geometry": {
             "type": "Polygon", "coordinates": [[[x, y], [x + .01, y + .01], [x + .01, y],
                                                 [x, y + .01], [x, y]]]}}, {422}),
        ("unclosed ring", "place_names",
         {"type": "Feature", "properties": {"name": "未闭合"}, "geometry": {
             "type": "Polygon", "coordinates": [[[x, y], [x + .01, y], [x, y + .01]]]}},
         {201, 422}),  # shapely closes the ring: stored closed, or refused
        ("20 000-vertex polygon", "place_names",
         {"type": "Feature", "properties": {"name": "两万点地块"},
          "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}}, {201}),
        ("rare CJK", "eldercare_sites", point(x, y, name="𠮷㐂老年食堂"), {201}),
        ("injection in name", "eldercare_sites",
         point(x, y, name="x'); DROP TABLE users; --"), {201}),
    ]
    failures = []
    for label, layer, body, expected in cases:
        url = f"/collections/{layer}/items"
        if isinstance(body, bytes):
            response = client.post(url, content=body, headers={
                **headers, "content-type": "application/geo+json"})
        else:
            response = client.post(url, json=body, headers=headers)
        ok = response.status_code in expected
        if ok and response.status_code == 201:
            fid = response.json()["id"]
            sent = body["properties"]["name"]  # type: ignore[index]
            stored = client.get(f"/collections/{layer}/items/{fid}/versions",
                                headers=headers).status_code
            with engine.connect() as conn:
                name = conn.execute(text(f"SELECT name FROM {layer} WHERE id = :i"),
                                    {"i": fid}).scalar()
            ok = name == sent and stored == 200
        print(f"  {label:28} → {response.status_code} {'ok' if ok else 'FAIL'}")
        if not ok:
            failures.append(f"{label}: {response.status_code} {response.text[:200]}")
    return failures


def main() -> int:
    """Run every hostile check; print figures; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="examples per operation")
    parser.add_argument("--only", default="", help="only paths starting with this")
    args = parser.parse_args()
    import os

    os.environ["GEO_SERVICE_RATE_LIMIT_PER_S"] = "0"
    from geo_service.api.app import create_app

    failures: list[str] = []
    with sample_database() as engine, TestClient(create_app(engine)) as client:
        admin = token(client)
        started = time.perf_counter()
        result = fuzz(client.app, [{}, admin], examples=args.examples,
                      include=lambda method, path: path.startswith(args.only))
        print(f"schemathesis: {result['operations']} operations, statuses "
              f"{result['statuses']} in {time.perf_counter() - started:.0f} s")
        failures += result["failures"]
        found = injections(client, {})
        print(f"SQL injection: {len(INJECTIONS)} strings × every query parameter → "
              f"{len(found)} server errors")
        failures += found
        print("crafted features:")
        failures += crafted_features(client, token(client), engine)  # fuzzing logs out
    for failure in failures:
        print("FAIL", failure)
    print("hostile input:", "FAILED" if failures else "all answered with 2xx/4xx")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
