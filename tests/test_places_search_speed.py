"""Place search stays on its indexes, and fuzzy pinyin matches typos at the tuned similarity."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from geo_service.access import ANONYMOUS
from geo_service.gazetteer.pinyin import search_keys
from geo_service.gazetteer.search import (
    CHINESE_SIMILARITY,
    PINYIN_SIMILARITY,
    SearchQuery,
    normalise,
    prepare,
    search,
    search_filters,
    search_statement,
)

# One query per kind of look-up: exact, prefix, pinyin, initials, initials prefix, initials and
# pinyin inside a name, former name, pinyin typo, Chinese typo, homophone, category word.
EVERY_KIND = ("宝顶山", "宝顶", "baodingshan", "bds", "bd", "fshly", "fushouhuli", "邮亭铺",
              "baodingsan", "棠香街办", "宝鼎", "福寿户理院", "山", "养老院")


def _similarity(engine: Engine, a: str, b: str) -> float:
    """pg_trgm's similarity of two strings (the oracle for the fuzzy bounds)."""
    with engine.connect() as conn:
        return float(conn.execute(text("SELECT similarity(:a, :b)"), {"a": a, "b": b}).scalar())


def _found(engine: Engine, q: str) -> list[dict]:
    return search(engine, SearchQuery(q, types=("place", "facility")))["results"]


@pytest.mark.parametrize(("typed", "meant"), [
    ("baodingsan", "宝顶山"),   # a letter missing
    ("baodignshan", "宝顶山"),  # two letters swapped
    ("youtinzhen", "邮亭镇"),   # a letter missing in the middle
])
def test_a_pinyin_typo_finds_the_place(sample_engine, typed, meant) -> None:
    assert _similarity(sample_engine, typed, search_keys(meant)["full"]) >= PINYIN_SIMILARITY
    found = _found(sample_engine, typed)
    assert found and found[0]["name"] == meant, [r["name"] for r in found]
    assert found[0]["matched"]["how"] == "fuzzy"


def test_a_pinyin_key_less_alike_than_the_bound_is_another_name(sample_engine) -> None:
    # 宝顶寨 is not a typo of 宝顶山: pg_trgm's default 0.3 would have matched it.
    similarity = _similarity(sample_engine, "baodingzhai", "baodingshan")
    assert CHINESE_SIMILARITY <= similarity < PINYIN_SIMILARITY
    assert "宝顶山" not in [r["name"] for r in _found(sample_engine, "baodingzhai")]


def test_chinese_keeps_the_default_similarity(sample_engine) -> None:
    # One character wrong at the end of a four-character name is 3 of 7 trigrams (0.43).
    similarity = _similarity(sample_engine, "棠香街办", "棠香街道")
    assert CHINESE_SIMILARITY <= similarity < PINYIN_SIMILARITY
    found = _found(sample_engine, "棠香街办")
    assert found and found[0]["name"] == "棠香街道" and found[0]["matched"]["how"] == "fuzzy"


def test_the_similarity_bound_holds_for_the_search_transaction_only(sample_engine) -> None:
    show = text("SHOW pg_trgm.similarity_threshold")
    with sample_engine.connect() as conn:
        conn.execute(text("SELECT similarity('a', 'b')"))  # loads pg_trgm
        default = conn.execute(show).scalar()
        conn.commit()
        with conn.begin():
            prepare(conn, normalise("baodingsan"))
            assert float(conn.execute(show).scalar()) == PINYIN_SIMILARITY
        with conn.begin():
            prepare(conn, normalise("宝顶山"))
            assert float(conn.execute(show).scalar()) == CHINESE_SIMILARITY
        assert conn.execute(show).scalar() == default


@pytest.mark.parametrize("q", ["宝顶", "邮亭", "北山", "龙岗", "棠香"])
def test_one_or_two_characters_still_find_every_trigram_match(sample_engine, q) -> None:
    # The fuzzy look-up skips pg_trgm for them: what it would match is a prefix or substring.
    with sample_engine.connect() as conn:
        alike = set(conn.execute(text(
            "SELECT name FROM place_search WHERE is_public AND similarity(term, :q) >= :bound"),
            {"q": q, "bound": CHINESE_SIMILARITY}).scalars())
    found = search(sample_engine, SearchQuery(q, types=("place", "facility"), limit=100))
    assert alike and found["count"] < 100  # every match fits in one answer
    assert alike <= {r["name"] for r in found["results"]}, alike - {r["name"] for r in
                                                                    found["results"]}


@pytest.mark.parametrize("q", EVERY_KIND)
def test_every_lookup_stays_on_an_index(sample_engine, q) -> None:
    """With sequential scans priced out, no statement may still read place_search in full."""
    norm = normalise(q)
    query = SearchQuery(q, types=("place", "facility"))
    with sample_engine.begin() as conn:
        prepare(conn, norm)
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        where, filter_params = search_filters(conn, query, ANONYMOUS)
        for fuzzy in (False, True):
            statement = search_statement(norm, query, where, filter_params, fuzzy=fuzzy)
            if statement is None:
                continue
            plan = "\n".join(conn.execute(text("EXPLAIN " + statement[0]),
                                          statement[1]).scalars())
            assert "Seq Scan on place_search " not in plan, (q, fuzzy, plan)
