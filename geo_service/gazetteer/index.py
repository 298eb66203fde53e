"""The search index (place_search): names, aliases, former names and addresses with pinyin keys.

Triggers (migration 0003) delete a record's index rows whenever it changes and queue it in
place_search_pending; :func:`refresh_search_index` re-derives the queued records. The
loader calls it at the end of every load, and every search calls it first, so the index
never lags behind the layers.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, Table, delete, select, text

from geo_service.db.models import LAYER_TABLES, place_search
from geo_service.gazetteer.pinyin import search_keys

FACILITY_TABLES: tuple[str, ...] = ("eldercare_sites", "funeral_sites", "child_sites")
INDEXED_TABLES: tuple[str, ...] = ("place_names", *FACILITY_TABLES)

# Importance tiers (lower ranks first among equally good matches); see README "Place names".
HISTORIC, MAJOR, MINOR, FACILITY = 0, 1, 2, 3
_BATCH = 5000


def place_importance(category_code: str | None, historic_list: str | None) -> int:
    """Listed historic names, then district/township and natural features, then the rest."""
    if historic_list:
        return HISTORIC
    code = category_code or ""
    if code.startswith("21") or code.startswith("1"):  # 行政区域; 自然地理实体 (山, 河流, 湖泊…)
        return MAJOR
    return MINOR


def township_of(admin_code: str | None) -> str | None:
    """The township (乡镇级) code containing a 12-digit statistical code, if it is that deep."""
    if not admin_code or len(admin_code) != 12 or admin_code[6:9] == "000":
        return None
    return admin_code[:9] + "000"


def clean_term(term: str) -> str:
    """A name as indexed: NFKC-normalised and trimmed."""
    return unicodedata.normalize("NFKC", term).strip()


def grams(term: str) -> list[str]:
    """Every 1- and 2-character substring of a term (indexed substring search for short input)."""
    return sorted({term[i:i + n] for n in (1, 2) for i in range(len(term) - n + 1)})


def _keyed(term: str) -> tuple[str | None, str | None]:
    """(pinyin_full, initials) of a term, or (None, None) when it has no Chinese."""
    keys = search_keys(term)
    if not keys["full"] or keys["full"] == term.lower():
        return None, None
    return keys["full"], keys["initials"]


def _term_rows(name: str, aliases: Iterable[object]) -> list[dict]:
    """Index rows (term, type, years, keys) for a name and its aliases/former names."""
    rows: list[dict] = []
    seen: set[tuple[str, str]] = set()

    def add(term: str, term_type: str, from_year: object = None, to_year: object = None) -> None:
        term = clean_term(term)
        if not term or (term, term_type) in seen:
            return
        seen.add((term, term_type))
        full, initials = _keyed(term)
        rows.append({"term": term, "term_type": term_type, "grams": grams(term),
                     "pinyin_full": full,
                     "pinyin_initials": initials, "from_year": _year(from_year),
                     "to_year": _year(to_year)})

    add(name, "name")
    for alias in aliases:
        if isinstance(alias, str):
            add(alias, "alias")
        elif isinstance(alias, dict) and isinstance(alias.get("name"), str):
            kind = "former" if alias.get("type") in {"former", "曾用名"} else "alias"
            add(alias["name"], kind, alias.get("from_year"), alias.get("to_year"))
    return rows


def _year(value: object) -> int | None:
    """A year from an alias entry (int or digit string), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _place_rows(conn: Connection, ids: list[int]) -> list[dict]:
    table = LAYER_TABLES["place_names"]
    result = conn.execute(
        select(table.c.id, table.c.name, table.c.aliases, table.c.category,
               table.c.category_code, table.c.admin_code, table.c.historic_list,
               table.c.is_public, table.c.geom).where(table.c.id.in_(ids))
    )
    rows = []
    for row in result:
        common = {"source_table": "place_names", "source_id": row.id, "name": row.name,
                  "category": row.category, "category_code": row.category_code,
                  "importance": place_importance(row.category_code, row.historic_list),
                  "township_code": township_of(row.admin_code), "is_public": row.is_public,
                  "geom": row.geom}
        rows += [{**common, **term} for term in _term_rows(row.name, row.aliases or [])]
    return rows


def _facility_rows(conn: Connection, layer: str, ids: list[int]) -> list[dict]:
    table: Table = LAYER_TABLES[layer]
    result = conn.execute(
        select(table.c.id, table.c.name, table.c.kind, table.c.address,
               table.c.township_code, table.c.is_public, table.c.geom)
        .where(table.c.id.in_(ids))
    )
    rows = []
    for row in result:
        common = {"source_table": layer, "source_id": row.id, "name": row.name,
                  "category": row.kind, "category_code": None, "importance": FACILITY,
                  "township_code": row.township_code, "is_public": row.is_public,
                  "geom": row.geom}
        rows += [{**common, **term} for term in _term_rows(row.name, [])]
        address = clean_term(row.address or "")
        if address:
            rows.append({**common, "term": address, "term_type": "address",
                         "grams": grams(address), "pinyin_full": None,
                         "pinyin_initials": None, "from_year": None, "to_year": None})
    return rows


def refresh_search_index(conn: Connection) -> int:
    """Re-derive the index rows of every queued record; returns how many records were done."""
    done = 0
    while True:
        # The batch is materialised first and joined by key, so the plan cannot turn into a
        # nested loop over the queue when its statistics say it is empty.
        queued = conn.execute(text(
            "WITH batch AS MATERIALIZED ("
            " SELECT source_table, source_id FROM place_search_pending"
            " ORDER BY source_table, source_id LIMIT :n FOR UPDATE SKIP LOCKED)"
            " DELETE FROM place_search_pending p USING batch b"
            " WHERE p.source_table = b.source_table AND p.source_id = b.source_id"
            " RETURNING p.source_table, p.source_id"
        ), {"n": _BATCH}).all()
        if not queued:
            return done
        by_table: dict[str, list[int]] = defaultdict(list)
        for table_name, source_id in queued:
            by_table[table_name].append(source_id)
        rows: list[dict] = []
        for table_name, ids in by_table.items():
            conn.execute(delete(place_search).where(
                place_search.c.source_table == table_name, place_search.c.source_id.in_(ids)))
            if table_name == "place_names":
                rows += _place_rows(conn, ids)
            elif table_name in FACILITY_TABLES:
                rows += _facility_rows(conn, table_name, ids)
        for start in range(0, len(rows), _BATCH):
            conn.execute(place_search.insert(), rows[start:start + _BATCH])
        done += len(queued)


def rebuild_search_index(conn: Connection) -> int:
    """Queue every record of every indexed layer and refresh (after a bulk change)."""
    for table_name in INDEXED_TABLES:  # constant identifiers, not user input
        conn.execute(text(
            f"INSERT INTO place_search_pending (source_table, source_id) "
            f"SELECT '{table_name}', id FROM {table_name} ON CONFLICT DO NOTHING"
        ))
    return refresh_search_index(conn)

