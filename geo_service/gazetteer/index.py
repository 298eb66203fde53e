"""The search index (place_search): names, aliases, former names and addresses with pinyin keys.

Triggers (migration 0003) delete a record's index rows whenever it changes and queue it in
place_search_pending; :func:`refresh_search_index` re-derives the queued records.

A changed record's old rows go in the changing transaction, so the index is never stale. New
rows follow: a search first indexes up to SEARCH_REFRESH_LIMIT queued records (an edit is
searchable at once); a load indexes its records right after it commits, in its own
transaction, and until then they are missing from search results.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from psycopg import sql
from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    any_,
    bindparam,
    delete,
    select,
    text,
)

from geo_service.db.models import (
    LAYER_TABLES,
    place_search,
)
from geo_service.gazetteer.pinyin import index_keys
from geo_service.ingest.history import raw_connection

FACILITY_TABLES: tuple[str, ...] = ("eldercare_sites", "funeral_sites", "child_sites")
INDEXED_TABLES: tuple[str, ...] = ("place_names", *FACILITY_TABLES)

# Importance tiers (lower ranks first among equally good matches); see README "Place names".
HISTORIC, MAJOR, MINOR, FACILITY = 0, 1, 2, 3
_BATCH = 5000
SEARCH_REFRESH_LIMIT = 500  # queued records a search indexes before it looks up


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
    full, initials = index_keys(term)
    if not full or full == term.lower():
        return None, None
    return full, initials


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


# What the index computes per term; the rest (name, visibility, geometry) is joined from the
# record itself in the database, so geometries never travel to Python and back.
_TERM_COLUMNS: tuple[str, ...] = (
    "seq", "source_id", "term", "term_type", "from_year", "to_year", "pinyin_full",
    "pinyin_initials", "grams", "category", "category_code", "importance", "township_code")
_TERM_ROW_KEYS = _TERM_COLUMNS[4:9]


def _any(ids: list[int]) -> ColumnElement:
    """`= ANY(array)` with the ids as one parameter (not one parameter each)."""
    return any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))


def _place_records(conn: Connection, ids: list[int]) -> list[Any]:
    """The place names' fields the index derives its rows from."""
    table = LAYER_TABLES["place_names"]
    return list(conn.execute(
        select(table.c.id, table.c.name, table.c.aliases, table.c.category,
               table.c.category_code, table.c.admin_code, table.c.historic_list)
        .where(table.c.id == _any(ids)).order_by(table.c.id)).all())


def _place_terms(records: list[Any]) -> Iterator[tuple]:
    """Term rows (as _TERM_COLUMNS minus seq) of place names."""
    for row in records:
        common = (row.category, row.category_code,
                  place_importance(row.category_code, row.historic_list),
                  township_of(row.admin_code))
        for term in _term_rows(row.name, row.aliases or []):
            yield (row.id, term["term"], term["term_type"],
                   *(term[k] for k in _TERM_ROW_KEYS), *common)


def _facility_records(conn: Connection, layer: str, ids: list[int]) -> list[Any]:
    """The facilities' fields the index derives its rows from."""
    table: Table = LAYER_TABLES[layer]
    return list(conn.execute(
        select(table.c.id, table.c.name, table.c.kind, table.c.address, table.c.township_code)
        .where(table.c.id == _any(ids)).order_by(table.c.id)).all())


def _facility_terms(records: list[Any]) -> Iterator[tuple]:
    """Term rows (as _TERM_COLUMNS minus seq) of facilities: name, then address."""
    for row in records:
        common = (row.kind, None, FACILITY, row.township_code)
        for term in _term_rows(row.name, []):
            yield (row.id, term["term"], term["term_type"],
                   *(term[k] for k in _TERM_ROW_KEYS), *common)
        address = clean_term(row.address or "")
        if address:
            yield (row.id, address, "address", None, None, None, None, grams(address), *common)


def _array_text(items: list[str]) -> str:
    """A text[] literal with every element quoted (cheaper than adapting a list per row)."""
    return "{" + ",".join(
        '"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"


def _stage_terms(conn: Connection, rows: list[tuple]) -> None:
    """COPY term rows into the temporary table search_terms (emptied first)."""
    cursor = raw_connection(conn).cursor()
    with cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS search_terms ("
            " seq integer, source_id bigint, term text, term_type text, from_year integer,"
            " to_year integer, pinyin_full text, pinyin_initials text, grams text,"
            " category text, category_code text, importance smallint, township_code text)"
            " ON COMMIT DROP")
        cursor.execute("TRUNCATE search_terms")
        columns = sql.SQL(", ").join(map(sql.Identifier, _TERM_COLUMNS))
        with cursor.copy(sql.SQL("COPY search_terms ({}) FROM STDIN").format(columns)) as copy:
            for seq, term in enumerate(rows):
                copy.write_row((seq, *term[:7], _array_text(term[7]), *term[8:]))


def _insert_staged(conn: Connection, table_name: str) -> None:
    """Add the staged term rows to place_search with the record's name, visibility and
    geometry, in the order they were derived."""
    cursor = raw_connection(conn).cursor()
    with cursor:
        cursor.execute(sql.SQL(
            "INSERT INTO place_search (source_table, source_id, name, term, term_type,"
            " from_year, to_year, pinyin_full, pinyin_initials, grams, category, category_code,"
            " importance, township_code, is_public, geom)"
            " SELECT %s, t.source_id, r.name, t.term, t.term_type, t.from_year, t.to_year,"
            " t.pinyin_full, t.pinyin_initials, t.grams::text[], t.category, t.category_code,"
            " t.importance, t.township_code, r.is_public, r.geom"
            " FROM search_terms t JOIN {} r ON r.id = t.source_id ORDER BY t.seq"
        ).format(sql.Identifier(table_name)), (table_name,))


def _next_group(conn: Connection, groups: deque[tuple[str, list[int]]], batch: int
                ) -> tuple[str, list[int], list[Any]] | None:
    """The next (table, ids, records) to index, popped from the queue (None: it is empty)."""
    while not groups and batch > 0:
        # The batch is materialised first and joined by key, so the plan cannot turn into a
        # nested loop over the queue when its statistics say it is empty.
        queued = conn.execute(text(
            "WITH batch AS MATERIALIZED ("
            " SELECT source_table, source_id FROM place_search_pending"
            " ORDER BY source_table, source_id LIMIT :n FOR UPDATE SKIP LOCKED)"
            " DELETE FROM place_search_pending p USING batch b"
            " WHERE p.source_table = b.source_table AND p.source_id = b.source_id"
            " RETURNING p.source_table, p.source_id"
        ), {"n": batch}).all()
        if not queued:
            return None
        by_table: dict[str, list[int]] = defaultdict(list)
        for table_name, source_id in queued:
            by_table[table_name].append(source_id)
        groups.extend(sorted(by_table.items()))
    if not groups:
        return None
    table_name, ids = groups.popleft()
    if table_name == "place_names":
        return table_name, ids, _place_records(conn, ids)
    if table_name in FACILITY_TABLES:
        return table_name, ids, _facility_records(conn, table_name, ids)
    return table_name, ids, []  # a table no longer indexed: its rows are just removed


def refresh_search_index(conn: Connection, limit: int | None = None) -> int:
    """Re-derive the index rows of queued records (all, or `limit`); returns how many.

    Pipelined: while PostgreSQL adds one group's rows to the index (its GIN indexes are
    most of a big load's time), Python derives the next group's pinyin, on the other core.
    """
    done = 0
    groups: deque[tuple[str, list[int]]] = deque()
    staged: str | None = None  # the table whose term rows wait in search_terms
    # the thread starts only with a first insert: a search with nothing queued starts none
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-index") as background:
        while True:
            left = _BATCH if limit is None else min(_BATCH, limit - done)
            group = _next_group(conn, groups, left)
            insert = None if staged is None else background.submit(_insert_staged, conn,
                                                                    staged)
            rows: list[tuple] = []
            if group is not None:
                table_name, ids, records = group
                terms = _place_terms if table_name == "place_names" else _facility_terms
                rows = list(terms(records))
                done += len(ids)
            if insert is not None:
                insert.result()  # the connection is the thread's until then; re-raises
            if group is None:
                return done
            # old rows go after the previous group's insert: a record queued again
            # meanwhile (by another session) then keeps only its newest rows
            conn.execute(delete(place_search).where(
                place_search.c.source_table == table_name,
                place_search.c.source_id == _any(ids)))
            staged = None
            if rows:
                _stage_terms(conn, rows)
                staged = table_name


def rebuild_search_index(conn: Connection) -> int:
    """Queue every record of every indexed layer and refresh (after a bulk change)."""
    for table_name in INDEXED_TABLES:  # constant identifiers, not user input
        conn.execute(text(
            f"INSERT INTO place_search_pending (source_table, source_id) "
            f"SELECT '{table_name}', id FROM {table_name} ON CONFLICT DO NOTHING"
        ))
    return refresh_search_index(conn)

