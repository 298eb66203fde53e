"""Search place names (and facilities) the way people type them: Chinese, pinyin, initials.

Ranking (lower first), then importance, then the shorter name, then distance:

====  =====================================================================
rank  match
====  =====================================================================
0     the standard name exactly (宝顶山)
1     the standard name starts with the query (宝顶)
2     full pinyin or initials of the name exactly (baodingshan, bds)
3     full pinyin or initials of the name start with the query (baod, bd)
4     an alias or former name exactly (Chinese or pinyin)
5     an alias or former name starts with the query
6     initials or pinyin from a syllable inside the name (fshly → 龙岗福寿护理院)
7     fuzzy: trigram similarity or substring (names, addresses, pinyin typos, homophones)
====  =====================================================================

Importance breaks ties inside a rank: names on the historic place-name protection list,
then the district, townships and natural features (mountains, rivers, lakes), then
villages and other places, then facilities. A town, village or facility is usually named
after the mountain, river or old place whose name it borrows (宝顶镇 after 宝顶山), so a bare
specific name (宝顶, bds) means the eponym first.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, text

from geo_service.access import ANONYMOUS, Principal
from geo_service.errors import GeoServiceError
from geo_service.gazetteer.index import (
    FACILITY_TABLES,
    SEARCH_REFRESH_LIMIT,
    refresh_search_index,
)
from geo_service.gazetteer.pinyin import search_keys, to_simplified, toneless

EXACT, PREFIX, PINYIN_EXACT, PINYIN_PREFIX, ALIAS_EXACT, ALIAS_PREFIX, INSIDE, FUZZY = range(8)
TYPES = ("place", "facility")
MAX_LIMIT = 100
MAX_RADIUS_M = 200_000
# pg_trgm similarity a fuzzy hit needs: Chinese one character wrong (宝家杨寺 ~ 东家杨寺 is 0.43)
# needs the default 0.3; a pinyin key with one letter wrong, missing or swapped scores 0.45 or
# more, and the tighter bound keeps the trigram index's candidate set small (see README).
CHINESE_SIMILARITY = 0.3
PINYIN_SIMILARITY = 0.45
# Per-transaction settings and the pending-queue check in one round trip. Custom plans keep
# LIKE 'prefix%' on the btree; small look-ups need no parallel workers.
_PREPARE_SQL = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('max_parallel_workers_per_gather', '0', true),"
    " set_config('pg_trgm.similarity_threshold', :similarity, true),"
    " EXISTS (SELECT 1 FROM place_search_pending) AS pending")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]")
_HAN_ONLY_RE = re.compile(f"(?:{_HAN_RE.pattern})+")
_PINYIN_JUNK = re.compile(r"[\s'’`\-·.]+")
_TONE_NUMBERS = re.compile(r"^(?:[a-z]+[0-5]?)+$")
# what people type for a kind of facility → the catalogue kinds it means
CATEGORY_WORDS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = (
    (frozenset({"老年食堂", "食堂", "助餐点", "老年饭堂", "长者食堂"}), ("老年食堂",)),
    (frozenset({"养老院", "养老机构", "护理院", "老年公寓", "福利院"}),
     ("养老机构", "特困人员供养服务机构(敬老院)", "失能特困人员集中照护中心")),
    (frozenset({"敬老院", "特困供养", "供养服务机构"}),
     ("特困人员供养服务机构(敬老院)", "失能特困人员集中照护中心")),
    (frozenset({"养老服务站", "养老站", "互助养老点", "日间照料", "日间照料中心", "养老服务中心"}),
     ("镇街养老服务中心", "社区养老服务站", "村级互助养老点")),
    (frozenset({"儿童之家", "儿童服务", "儿童福利"}), ("儿童之家", "儿童福利机构")),
    (frozenset({"殡仪馆"}), ("殡仪馆",)),
    (frozenset({"公墓", "墓地"}), ("城市公益性公墓", "农村公益性公墓(集中安葬点)", "经营性公墓")),
)


@dataclass(frozen=True)
class SearchQuery:
    """What to search for and the filters (positions in CGCS2000 lon/lat)."""

    q: str
    types: tuple[str, ...] = ("place",)
    categories: tuple[str, ...] = ()
    township: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    near: tuple[float, float] | None = None
    radius_m: float | None = None
    limit: int = 10


@dataclass(frozen=True)
class Normalised:
    """The query as matched: simplified Chinese text and/or a pinyin key."""

    text: str
    pinyin: str | None
    fuzzy_pinyin: bool = field(default=False)


def normalise(q: str) -> Normalised:
    """Simplify traditional characters; make a pinyin key of Latin input (tones dropped)."""
    raw = unicodedata.normalize("NFKC", q).strip()
    if not raw:
        raise GeoServiceError("q: the search text is empty")
    if len(raw) > 100:
        raise GeoServiceError("q: the search text is longer than 100 characters")
    if _HAN_RE.search(raw):
        return Normalised(to_simplified(raw), None)
    key = _PINYIN_JUNK.sub("", toneless(raw).lower().replace("ü", "v").replace("u:", "v"))
    if key and _TONE_NUMBERS.fullmatch(key) and not key.isdigit():
        key = re.sub(r"[0-5]", "", key)
    if not re.fullmatch(r"[a-z0-9]+", key or "-"):
        return Normalised(raw, None)
    return Normalised(raw, key, fuzzy_pinyin=len(key) >= 4)


def _like_prefix(value: str) -> str:
    """A LIKE pattern for 'starts with value' (wildcards in value escaped)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _homophone_key(han: str) -> str | None:
    """Toneless pinyin of Chinese input of two or more characters (None otherwise)."""
    if len(_HAN_RE.findall(han)) < 2:
        return None
    full = search_keys(han)["full"]
    return full if re.fullmatch(r"[a-z0-9]{4,}", full) else None


_HIT_COLUMNS = ("id, source_table, source_id, name, term, term_type, from_year, to_year, "
                "pinyin_full, pinyin_initials, category, category_code, importance, "
                "township_code, is_public, geom")


def _union(parts: list[str]) -> str:
    """The look-ups ('SELECT id, rank …') as one UNION ALL of whole index rows and their rank.

    The rows come straight from the look-ups' own index scans: joining thousands of hits
    (a short pinyin prefix such as sh) back to place_search by id cost a scan of the table.
    """
    return "\nUNION ALL\n".join(
        part.replace("SELECT id, ", f"SELECT {_HIT_COLUMNS}, ", 1) for part in parts)


def _hits_sql(norm: Normalised, *, fuzzy: bool) -> tuple[str, dict]:
    """UNION ALL of index look-ups, each yielding index rows and a rank: strict or fuzzy ones."""
    alias = "CASE WHEN term_type IN ('alias', 'former') THEN {alias} ELSE {name} END"
    params: dict = {"t": norm.text, "t_prefix": _like_prefix(norm.text)}
    if fuzzy:
        parts = []
        if norm.pinyin is None:
            # One or two Chinese characters are at most 3 trigrams: a name alike enough at 0.3
            # starts with or contains them, which the prefix and grams look-ups already find.
            if len(norm.text) > 2 or not _HAN_ONLY_RE.fullmatch(norm.text):
                parts.append(f"SELECT id, {FUZZY} FROM place_search WHERE term % :t")
            if len(norm.text) <= 2:  # substring: the grams index, else pg_trgm
                parts.append(f"SELECT id, {FUZZY} FROM place_search "
                             "WHERE grams @> ARRAY[CAST(:t AS text)]")
            else:
                parts.append(f"SELECT id, {FUZZY} FROM place_search WHERE term LIKE :t_any "
                             "ESCAPE '\\'")
                params["t_any"] = "%" + _like_prefix(norm.text)
            sound = _homophone_key(norm.text)
            if sound:  # a wrong homophone anywhere: 宝鼎 → 宝顶山, 福寿户理院 → …福寿护理院
                parts.append(f"SELECT id, {FUZZY} FROM place_search "
                             "WHERE pinyin_full LIKE :sound_any ESCAPE '\\'")
                params["sound_any"] = "%" + _like_prefix(sound)
        else:
            params["k"] = norm.pinyin
            if norm.fuzzy_pinyin:
                parts.append(f"SELECT id, {FUZZY} FROM place_search WHERE pinyin_full % :k")
            if len(norm.pinyin) >= 3:  # initials or pinyin from a syllable inside the name
                params["k_any"] = "%" + _like_prefix(norm.pinyin)
                parts.append(f"SELECT id, {INSIDE} FROM place_search WHERE pinyin_initials "
                             "LIKE :k_any ESCAPE '\\'")
                if len(norm.pinyin) >= 4:
                    parts.append(f"SELECT id, {INSIDE} FROM place_search WHERE pinyin_full "
                                 "LIKE :k_any ESCAPE '\\'")
        return _union(parts), params
    kinds = category_kinds(norm.text)
    parts = []
    if kinds:  # "老年食堂", "养老院": every facility of that kind (nearest first with a point)
        params["word_kinds"] = list(kinds)
        parts.append(f"SELECT id, {PREFIX} FROM place_search WHERE term_type = 'name' AND "
                     "source_table <> 'place_names' AND category = ANY(:word_kinds)")
    parts += [
        f"SELECT id, CASE WHEN term_type = 'address' THEN {FUZZY} WHEN term = :t THEN "
        + alias.format(alias=ALIAS_EXACT, name=EXACT) + " ELSE "
        + alias.format(alias=ALIAS_PREFIX, name=PREFIX)
        + " END AS match_rank FROM place_search WHERE term LIKE :t_prefix ESCAPE '\\'",
    ]
    if norm.pinyin:
        params |= {"k": norm.pinyin, "k_prefix": _like_prefix(norm.pinyin)}
        parts += [
            "SELECT id, " + alias.format(alias=ALIAS_EXACT, name=PINYIN_EXACT)
            + " FROM place_search WHERE pinyin_full = :k OR pinyin_initials = :k",
            "SELECT id, " + alias.format(alias=ALIAS_PREFIX, name=PINYIN_PREFIX)
            + " FROM place_search WHERE pinyin_full LIKE :k_prefix ESCAPE '\\'"
            " OR pinyin_initials LIKE :k_prefix ESCAPE '\\'",
        ]
    return _union(parts), params


def category_kinds(word: str) -> tuple[str, ...]:
    """Facility kinds a category word means (养老院 → 养老机构, 敬老院 …); () if none."""
    return next((kinds for words, kinds in CATEGORY_WORDS if word.strip() in words), ())


def resolve_township(conn: Connection, township: str) -> str:
    """A township's 12-digit code from its code (9 or 12 digits) or its name."""
    value = unicodedata.normalize("NFKC", township).strip()
    if re.fullmatch(r"\d{9}|\d{12}", value):
        code = value.ljust(12, "0")
        found = conn.execute(text(
            "SELECT code FROM admin_areas WHERE code = :c AND level = 'township'"), {"c": code}
        ).scalar()
    else:
        found = conn.execute(text(
            "SELECT code FROM admin_areas WHERE name = :n AND level = 'township'"),
            {"n": to_simplified(value)},
        ).scalar()
    if found is None:
        raise GeoServiceError(f"township: {township!r} is not a township (code or name) "
                              "of this district")
    return found


def _check_categories(conn: Connection, categories: tuple[str, ...], tables: list[str]) -> None:
    """Every asked-for category must exist (a typo is a 400, not an empty answer)."""
    known = conn.execute(text(
        "SELECT DISTINCT category, category_code FROM place_search "
        "WHERE source_table = ANY(:tables)"), {"tables": tables}).all()
    names = sorted({r.category for r in known if r.category})
    unknown = [c for c in categories
               if c not in names and c not in {r.category_code for r in known}]
    if unknown:
        raise GeoServiceError(f"category: no place has category {', '.join(map(repr, unknown))}"
                              f"; categories are: {', '.join(names)}")


def search_filters(conn: Connection, query: SearchQuery, principal: Principal) -> tuple[str, dict]:
    """WHERE clauses over place_search s, from the query's filters (values bound)."""
    clauses: list[str] = []
    params: dict = {}
    if not principal.sees_private:
        clauses.append("s.is_public")
    tables = (["place_names"] if "place" in query.types else []) + (
        list(FACILITY_TABLES) if "facility" in query.types else [])
    clauses.append("s.source_table = ANY(:tables)")
    params["tables"] = tables
    if query.categories:
        _check_categories(conn, query.categories, tables)
        clauses.append("(s.category = ANY(:cats) OR s.category_code = ANY(:cats))")
        params["cats"] = list(query.categories)
    if query.township:
        clauses.append("s.township_code = :township")
        params["township"] = resolve_township(conn, query.township)
    if query.bbox:
        clauses.append("ST_Intersects(s.geom, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490))")
        params |= dict(zip(("x0", "y0", "x1", "y1"), query.bbox, strict=True))
    if query.near and query.radius_m is not None:
        clauses.append("ST_DWithin(s.geom::geography, "
                       "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography, :radius)")
        params["radius"] = query.radius_m
    return " AND ".join(clauses), params


def _validate(query: SearchQuery) -> None:
    unknown = [t for t in query.types if t not in TYPES]
    if unknown or not query.types:
        raise GeoServiceError(f"types: {', '.join(unknown) or '(none)'} — use place and/or "
                              "facility")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise GeoServiceError(f"limit: {query.limit} is not between 1 and {MAX_LIMIT}")
    if query.bbox:
        x0, y0, x1, y1 = query.bbox
        if not (-180 <= x0 < x1 <= 180 and -90 <= y0 < y1 <= 90):
            raise GeoServiceError("bbox: give min lon, min lat, max lon, max lat "
                                  f"(CRS84) with min < max; got {list(query.bbox)}")
    if query.radius_m is not None:
        if query.near is None:
            raise GeoServiceError("radius: needs a point (lon and lat)")
        if not 0 < query.radius_m <= MAX_RADIUS_M:
            raise GeoServiceError(f"radius: {query.radius_m} m is not between 0 and "
                                  f"{MAX_RADIUS_M} m")
    if query.near:
        lon, lat = query.near
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise GeoServiceError(f"lon/lat: ({lon}, {lat}) is not a longitude/latitude")


_SEARCH_SQL = """
WITH hits (id, source_table, source_id, name, term, term_type, from_year, to_year,
           pinyin_full, pinyin_initials, category, category_code, importance, township_code,
           is_public, geom, match_rank) AS (
{hits}
), best AS (
    SELECT DISTINCT ON (s.source_table, s.source_id)
           s.id, s.source_table, s.source_id, s.name, s.term, s.term_type, s.from_year,
           s.to_year, s.pinyin_full, s.pinyin_initials, s.category, s.category_code,
           s.importance, s.township_code, s.geom, s.match_rank
    FROM hits s
    WHERE {where}
    ORDER BY s.source_table, s.source_id, s.match_rank, s.term_type <> 'name', char_length(s.term)
), ranked AS (
    SELECT b.*, {distance} AS distance_m, {similarity} AS similarity
    FROM best b
), top AS (
    SELECT * FROM ranked
    ORDER BY match_rank, importance, distance_m NULLS LAST, similarity DESC, char_length(name),
             name, id
    LIMIT :limit
)
SELECT b.*,
       ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat,
       {geojson} AS geometry,
       t.name AS township, p.external_id AS place_external_id, p.pinyin, p.historic_list,
       p.geometry_accuracy AS place_accuracy,
       coalesce(e.external_id, f.external_id, c.external_id) AS facility_external_id,
       coalesce(e.address, f.address, c.address) AS address,
       coalesce(e.geometry_accuracy, f.geometry_accuracy, c.geometry_accuracy)
           AS facility_accuracy
FROM top b
LEFT JOIN admin_areas t ON t.code = b.township_code AND t.level = 'township'
LEFT JOIN place_names p ON b.source_table = 'place_names' AND p.id = b.source_id
LEFT JOIN eldercare_sites e ON b.source_table = 'eldercare_sites' AND e.id = b.source_id
LEFT JOIN funeral_sites f ON b.source_table = 'funeral_sites' AND f.id = b.source_id
LEFT JOIN child_sites c ON b.source_table = 'child_sites' AND c.id = b.source_id
ORDER BY b.match_rank, b.importance, b.distance_m NULLS LAST, b.similarity DESC,
         char_length(b.name), b.name, b.id
"""


def _similarity_sql(norm: Normalised) -> str:
    """How alike the matched term is to the query (orders fuzzy hits)."""
    if norm.pinyin:
        return "similarity(coalesce(b.pinyin_full, b.term), :k)"
    return "similarity(b.term, :t)"


def _how(rank: int, row, norm: Normalised) -> str:
    """How the query matched the term: exact, prefix, pinyin, initials or fuzzy."""
    if rank == FUZZY:
        return "fuzzy"
    if rank == INSIDE:
        return "inside"
    if norm.pinyin and row.pinyin_full is not None and rank in {PINYIN_EXACT, PINYIN_PREFIX,
                                                                  ALIAS_EXACT, ALIAS_PREFIX}:
        exact = rank in {PINYIN_EXACT, ALIAS_EXACT}
        if row.term != norm.text:
            on_initials = (row.pinyin_initials == norm.pinyin if exact
                           else row.pinyin_initials.startswith(norm.pinyin)
                           and not row.pinyin_full.startswith(norm.pinyin))
            return ("initials" if on_initials else "pinyin") + ("" if exact else "-prefix")
    return "exact" if rank in {EXACT, ALIAS_EXACT, PINYIN_EXACT} else "prefix"


def _result(row, norm: Normalised) -> dict:
    """One search hit as a JSON-ready dict."""
    is_place = row.source_table == "place_names"
    how = _how(row.match_rank, row, norm)
    matched: dict = {"name": row.term, "type": row.term_type, "how": how}
    if row.term_type == "former":
        matched["years"] = {"from": row.from_year, "to": row.to_year}
    result = {
        "type": "place" if is_place else "facility",
        "layer": row.source_table,
        "id": row.source_id,
        "external_id": row.place_external_id if is_place else row.facility_external_id,
        "name": row.name,
        "category": row.category,
        "category_code": row.category_code,
        "township_code": row.township_code,
        "township": row.township,
        "lon": round(row.lon, 7),
        "lat": round(row.lat, 7),
        "geometry_accuracy": row.place_accuracy if is_place else row.facility_accuracy,
        "matched": matched,
        "rank": row.match_rank,
    }
    if is_place:
        result["pinyin"] = row.pinyin
        result["historic"] = row.historic_list is not None
    else:
        result["address"] = row.address
    if row.term_type == "former":
        until = f"（至{row.to_year}年）" if row.to_year else ""
        result["note"] = f"{row.term}是{row.name}的曾用名{until}"
    elif row.term_type == "alias":
        result["note"] = f"{row.term}是{row.name}的别名"
    if row.distance_m is not None:
        result["distance_m"] = round(row.distance_m, 1)
    result["_geometry"] = row.geometry
    return result


def search_statement(norm: Normalised, query: SearchQuery, where: str, filter_params: dict,
                     *, fuzzy: bool) -> tuple[str, dict] | None:
    """The SQL and bound parameters of one ranked look-up (None if nothing to look up)."""
    hits, params = _hits_sql(norm, fuzzy=fuzzy)
    if not hits:
        return None
    params |= filter_params | {"limit": query.limit}
    distance = "NULL::float8"
    if query.near:
        params |= {"lon": query.near[0], "lat": query.near[1]}
        distance = ("ST_Distance(b.geom::geography, "
                    "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography)")
    sql = _SEARCH_SQL.format(hits=hits, where=where, distance=distance,
                             geojson="ST_AsGeoJSON(b.geom, 7)::json",
                             similarity=_similarity_sql(norm))
    return sql, params


def _run(conn: Connection, norm: Normalised, query: SearchQuery, where: str,
         filter_params: dict, *, fuzzy: bool) -> list:
    """One ranked look-up (strict or fuzzy) with the filters applied."""
    statement = search_statement(norm, query, where, filter_params, fuzzy=fuzzy)
    if statement is None:
        return []
    return list(conn.execute(text(statement[0]), statement[1]).all())


def prepare(conn: Connection, norm: Normalised) -> None:
    """Set the transaction's planner and similarity settings; index a few queued records.

    A load's thousands are indexed by the load itself after it commits, not by a search."""
    similarity = PINYIN_SIMILARITY if norm.pinyin else CHINESE_SIMILARITY
    if conn.execute(_PREPARE_SQL, {"similarity": str(similarity)}).one().pending:
        refresh_search_index(conn, limit=SEARCH_REFRESH_LIMIT)


def search(engine: Engine, query: SearchQuery, principal: Principal = ANONYMOUS) -> dict:
    """Ranked matches for a query, with the caller's visibility applied."""
    _validate(query)
    norm = normalise(query.q)
    with engine.begin() as conn:
        prepare(conn, norm)
        where, filter_params = search_filters(conn, query, principal)
        rows = _run(conn, norm, query, where, filter_params, fuzzy=False)
        # Fuzzy Chinese tops up the strict matches; fuzzy pinyin is for typos (no strict hit).
        if len(rows) < query.limit and (norm.pinyin is None or not rows):
            seen = {(r.source_table, r.source_id) for r in rows}
            more = _run(conn, norm, query, where, filter_params, fuzzy=True)
            rows += [r for r in more if (r.source_table, r.source_id) not in seen]
            rows = rows[:query.limit]
    results = [_result(row, norm) for row in rows]
    illustrative = sum(1 for r in results if r["geometry_accuracy"] == "illustrative")
    return {
        "query": query.q,
        "normalised": {"text": norm.text, "pinyin": norm.pinyin},
        "count": len(results),
        "results": results,
        "illustrative_count": illustrative,
        "note": ("illustrative_count 条结果的位置为示意(非实测)" if illustrative else None),
        "category_kinds": list(category_kinds(norm.text)),  # a category word's kinds, or []
    }


def as_geojson(found: dict) -> dict:
    """A search answer as a GeoJSON FeatureCollection (CRS84 lon/lat)."""
    features = []
    for result in found["results"]:
        props = {k: v for k, v in result.items() if k != "_geometry"}
        features.append({"type": "Feature", "id": f"{result['layer']}.{result['id']}",
                         "geometry": result["_geometry"], "properties": props})
    meta = {k: v for k, v in found.items() if k != "results"}
    return {"type": "FeatureCollection", "features": features, **meta}


def strip_geometry(found: dict) -> dict:
    """A search answer without the full geometries (the JSON form has lon/lat)."""
    return {**found, "results": [{k: v for k, v in r.items() if k != "_geometry"}
                                 for r in found["results"]]}
