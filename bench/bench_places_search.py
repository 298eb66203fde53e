"""Benchmark: place-name search over 100 000 generated names in a throwaway database.

Run: .venv/bin/python bench/bench_places_search.py [--names 100000] [--repeat 200]
Prints index build time and p50/p95 latency per query type (end-to-end `search()` calls,
including the pending-queue check and result shaping).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from scratch import scratch_database  # bench/scratch.py
from sqlalchemy import Engine, text

from geo_service.db.engine import make_engine
from geo_service.gazetteer.index import refresh_search_index
from geo_service.gazetteer.pinyin import search_keys
from geo_service.gazetteer.search import SearchQuery, search

CHARS = ("龙岗棠香滩双路通桥智凤水宝顶中敖三驱兴玉石马拾万回金山古国梁雍溪珠铁高升季家坪"
         "邮亭铺巴岳濑东西南北上下大小新老白黑青红黄花林竹松柏桃李杨柳河湾坝沟坡岩洞井塘堰")
GENERICS = (("村", "232000"), ("社区", "231000"), ("山", "132100"), ("河", "121000"),
            ("湾", "240000"), ("坡", "132100"), ("桥", "250000"), ("寺", "270000"),
            ("水库", "123000"), ("湖", "122000"), ("镇", "214100"))
BBOX = (105.45, 29.40, 106.00, 29.90)


def generate(count: int, rng: random.Random) -> list[dict]:
    """Unique illustrative names with points inside the district's bounding box."""
    seen: set[str] = set()
    rows = []
    while len(rows) < count:
        specific = "".join(rng.choice(CHARS) for _ in range(rng.choice((2, 2, 3, 4))))
        generic, code = rng.choice(GENERICS)
        name = specific + generic
        if name in seen:
            continue
        seen.add(name)
        aliases = []
        if rng.random() < 0.05:
            aliases = [{"name": "".join(rng.choice(CHARS) for _ in range(3)) + "铺",
                        "type": "former", "to_year": rng.randint(1950, 2000)}]
        lon = rng.uniform(BBOX[0], BBOX[2])
        lat = rng.uniform(BBOX[1], BBOX[3])
        rows.append({"external_id": f"B-{len(rows)}", "name": name, "category_code": code,
                     "aliases": aliases, "wkt": f"SRID=4490;POINT({lon} {lat})"})
    return rows


def timed(fn, repeat: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `fn(i)` over `repeat` calls."""
    samples = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    """Build the throwaway database, load, index and time the query types."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the database (prints its URL)")
    args = parser.parse_args()
    with scratch_database("geo_bench_places", keep=args.keep) as url:
        engine = make_engine(url)
        try:
            run(engine, args)
        finally:
            engine.dispose()


def run(engine: Engine, args: argparse.Namespace) -> None:
    """Load the names, index them and time every query class."""
    rng = random.Random(20261123)
    rows = generate(args.names, rng)
    start = time.perf_counter()
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 5000):
            conn.execute(text(
                "INSERT INTO place_names (external_id, name, category_code, aliases, geom, "
                "source, geometry_accuracy) VALUES (:external_id, :name, :category_code, "
                "CAST(:aliases AS jsonb), ST_GeomFromEWKT(:wkt), 'bench', 'illustrative')"),
                [{**r, "aliases": json.dumps(r["aliases"])}
                 for r in rows[chunk:chunk + 5000]])
    inserted = time.perf_counter() - start
    start = time.perf_counter()
    with engine.begin() as conn:
        refresh_search_index(conn)
        conn.execute(text("ANALYZE place_search"))
        terms = conn.execute(text("SELECT count(*) FROM place_search")).scalar()
    indexed = time.perf_counter() - start
    print(f"{len(rows)} names inserted in {inserted:.1f} s; {terms} search terms indexed "
          f"in {indexed:.1f} s ({len(rows) / indexed:.0f} names/s)")
    sample = [r for r in rows[:: max(1, len(rows) // 500)]]
    formers = [r["aliases"][0]["name"] for r in rows if r["aliases"]][:500]
    pick = lambda i: sample[i % len(sample)]["name"]  # noqa: E731
    cases = {
        "exact Chinese (宝顶山)": lambda i: pick(i),
        "2-character prefix (宝顶)": lambda i: pick(i)[:2],
        "full pinyin (baodingshan)": lambda i: search_keys(pick(i))["full"],
        "initials (bds)": lambda i: search_keys(pick(i))["initials"],
        "initials prefix (bd)": lambda i: search_keys(pick(i))["initials"][:2],
        "former name (邮亭铺)": lambda i: formers[i % len(formers)],
        "fuzzy Chinese, one char wrong": lambda i: "宝" + pick(i)[1:],
        "pinyin with a typo": lambda i: search_keys(pick(i))["full"][:-1] + "x",
    }
    print(f"{'query type':34} {'p50 ms':>8} {'p95 ms':>8}")
    for label, make_q in cases.items():
        p50, p95 = timed(lambda i, make_q=make_q: search(engine, SearchQuery(make_q(i))),
                         args.repeat)
        print(f"{label:34} {p50:8.1f} {p95:8.1f}")
    p50, p95 = timed(lambda i: search(engine, SearchQuery(
        pick(i)[:2], near=(105.72, 29.62), radius_m=5000)), args.repeat)
    print(f"{'prefix + 5 km radius':34} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
