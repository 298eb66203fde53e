"""Benchmark: time-to-interactive of the care map on a slow phone and on a desktop.

Creates a throwaway database on the configured PostGIS (the local cluster by default), loads
the 大足 sample (plus --extra public facilities at random points inside the district, none by
default), serves it with `geo-service serve` on a free port, and measures in headless Chromium
(Debian's /usr/bin/chromium) the time from navigation to the page's ready flag (markers added
and clustered, legend and background drawn), and the bytes transferred.

Profiles: "slow phone" is 390x844 with Chrome DevTools Protocol throttling — 4x CPU slowdown
(Emulation.setCPUThrottlingRate), 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up
(Network.emulateNetworkConditions), cold cache — in normal and 长辈模式; "desktop" is 1366x768
on loopback. Goal: < 1.5 s on the slow phone. Prints the figures.

    .venv/bin/python bench/bench_care_map.py [--extra 0] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from scratch import scratch_database  # bench/scratch.py
from sqlalchemy import text

from geo_service.db.engine import make_engine
from geo_service.devserver import running_service
from geo_service.sample import load_sample

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# (layer, kind, share of the extra rows)
EXTRA = (("eldercare_sites", "村级互助养老点", 0.4), ("eldercare_sites", "养老机构", 0.1),
         ("eldercare_sites", "老年食堂", 0.2), ("child_sites", "儿童之家", 0.2),
         ("funeral_sites", "治丧服务点", 0.1))


def _add_extra(engine, count: int) -> None:
    """`count` extra public facilities at random points inside the district outline."""
    start = 0
    with engine.begin() as conn:
        for layer, kind, share in EXTRA:
            n = round(count * share)
            conn.execute(text(f"""
                INSERT INTO {layer} (external_id, name, kind, source, geometry_accuracy, geom)
                SELECT 'BENCH-' || (:start + p.path[1]), '基准设施' || (:start + p.path[1]),
                       :kind, 'benchmark (random points)', 'illustrative', p.geom
                FROM admin_areas a, ST_Dump(ST_GeneratePoints(a.geom, :n, :seed)) p
                WHERE a.level = 'district'"""), {"start": start, "kind": kind, "n": n,
                                                  "seed": 7 + start})
            start += n


SLOW_PHONE = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
              "uploadThroughput": 750_000 / 8}
TRANSFERRED_JS = """() => [performance.getEntriesByType('navigation')[0],
  ...performance.getEntriesByType('resource')].reduce((n, e) => n + (e.transferSize || 0), 0)"""


def _measure(base: str, runs: int, size: tuple[int, int], *, throttled: bool,
             elder: bool = False) -> list[tuple[float, int]]:
    """(seconds to interactive, bytes transferred) of each cold-cache run."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                          is_mobile=size[0] < 900, has_touch=size[0] < 900)
            if elder:
                context.add_init_script("localStorage.setItem('careMap.elder', '1')")
            page = context.new_page()
            if throttled:
                cdp = context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
                cdp.send("Network.emulateNetworkConditions", SLOW_PHONE)
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
            page.goto(base + "/map", wait_until="commit")
            page.wait_for_function("window.careMap && window.careMap.ready", timeout=120_000)
            ready, data = page.evaluate(
                "['care-map-ready', 'care-map-data'].map("
                "n => performance.getEntriesByName(n)[0].startTime)")
            page.wait_for_load_state("load")
            transferred = page.evaluate(TRANSFERRED_JS)
            print(f"  run: data at {data / 1000:.2f} s, interactive at {ready / 1000:.2f} s, "
                  f"{transferred / 1024:.0f} KiB transferred")
            assert page.locator(".leaflet-marker-icon").count() > 0
            results.append((ready / 1000, transferred))
            context.close()
        browser.close()
    return results


def main() -> None:
    """Build the database, serve it, measure, clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with scratch_database("geo_bench_care_map") as url:
        engine = make_engine(url)
        load_sample(engine)
        _add_extra(engine, args.extra)
        with engine.connect() as conn:
            total = sum(conn.execute(text(f"SELECT count(*) FROM {t} WHERE is_public")).scalar()
                        for t in ("eldercare_sites", "child_sites", "funeral_sites"))
        engine.dispose()
        with running_service(url) as base:
            started = time.perf_counter()
            size = len(httpx.get(base + "/map/api/facilities", timeout=60).content)
            api = time.perf_counter() - started
            print(f"public facilities: {total} (sample + {args.extra} extra)")
            print(f"/map/api/facilities: {size / 1024:.0f} KiB in {api * 1000:.0f} ms")
            views = (("slow phone 390x844 (4x CPU, 150 ms RTT, 1.6 Mbit/s)", (390, 844), True,
                      False),
                     ("slow phone 390x844, 长辈模式", (390, 844), True, True),
                     ("desktop 1366x768 (loopback)", (1366, 768), False, False))
            for label, viewport, throttled, elder in views:
                runs = _measure(base, args.runs, viewport, throttled=throttled, elder=elder)
                times = [t for t, _ in runs]
                median = statistics.median(times)
                sent = statistics.median(b for _, b in runs)
                print(f"time to interactive, {label}: median {median:.2f} s, "
                      f"best {min(times):.2f} s, worst {max(times):.2f} s "
                      f"over {len(runs)} runs, {sent / 1024:.0f} KiB transferred "
                      f"(goal < 1.5 s: {'met' if median < 1.5 else 'NOT met'})")


if __name__ == "__main__":
    main()
