"""Place-name search as people type it on a phone: homophone typos, odd input, never a 500."""

from __future__ import annotations

import httpx
import pytest

from geo_service.gazetteer.pinyin import search_keys


def ask(base: str, q: str) -> httpx.Response:
    """The public search, as the care map calls it."""
    return httpx.get(f"{base}/places/search", params={"q": q, "types": "place,facility",
                                                       "public": "true", "limit": 5})


@pytest.mark.parametrize(("typed", "meant"), [("宝鼎", "宝顶山"), ("邮庭镇", "邮亭镇"),
                                              ("唐香街道", "棠香街道"), ("拔月山", "巴岳山")])
def test_a_wrong_homophone_still_finds_the_place(live_server, typed, meant) -> None:
    assert search_keys(meant)["full"].startswith(search_keys(typed)["full"])  # same sound
    found = ask(live_server, typed).json()["results"]
    assert found and found[0]["name"] == meant and found[0]["matched"]["how"] == "fuzzy"


def test_odd_input_is_an_answer_or_a_clear_400(live_server) -> None:
    for q in ("😀", "%", "_", "'; DROP TABLE place_names; --", "宝顶zhen", "寶頂"):
        response = ask(live_server, q)
        assert response.status_code == 200, (q, response.text)
    assert ask(live_server, "寶頂").json()["results"][0]["name"] == "宝顶山"
    for q, reason in (("   ", "empty"), ("宝" * 200, "longer than 100")):
        response = ask(live_server, q)
        assert response.status_code == 400 and reason in response.json()["detail"], q


def _nearest_names(engine, kinds: tuple[str, ...], lon: float, lat: float, n: int) -> list[str]:
    """The n public facilities of those kinds nearest to a point, straight from PostGIS."""
    from sqlalchemy import text

    with engine.connect() as conn:
        return list(conn.execute(text(
            "SELECT name FROM (SELECT name, kind, geom FROM eldercare_sites WHERE is_public "
            "UNION ALL SELECT name, kind, geom FROM child_sites WHERE is_public "
            "UNION ALL SELECT name, kind, geom FROM funeral_sites WHERE is_public) s "
            "WHERE kind = ANY(:kinds) ORDER BY ST_Distance(geom::geography, "
            "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)::geography) LIMIT :n"),
            {"kinds": list(kinds), "lon": lon, "lat": lat, "n": n}).scalars())


@pytest.mark.parametrize(("typed", "part"), [
    ("fshly", "福寿护理院"),    # initials starting inside the name (…龙岗|福寿护理院)
    ("lgfs", "龙岗福寿"),       # initials from the township word on
    ("fushouhuli", "福寿护理"),  # full pinyin from inside the name
    ("福寿户理院", "福寿护理院"),  # a same-sound wrong character in the middle
])
def test_initials_pinyin_and_typos_match_inside_a_name(live_server, sample_engine, typed,
                                                       part) -> None:
    from sqlalchemy import text

    with sample_engine.connect() as conn:
        names = list(conn.execute(text("SELECT name FROM eldercare_sites WHERE is_public AND "
                                       "name LIKE :p"), {"p": f"%{part}%"}).scalars())
    assert names and not names[0].startswith(part)  # the match is not at the start
    found = [r["name"] for r in ask(live_server, typed).json()["results"]]
    assert found and found[0] in names, (typed, found)


def test_aliases_from_the_sample_find_the_stone_carvings(live_server) -> None:
    found = ask(live_server, "大足石刻").json()["results"]
    assert {r["name"] for r in found[:2]} == {"宝顶山", "北山"}
    assert all(r["matched"]["type"] == "alias" and "别名" in r["note"] for r in found[:2])
    assert ask(live_server, "北山石刻").json()["results"][0]["name"] == "北山"


@pytest.mark.parametrize(("word", "kinds"), [
    ("老年食堂", ("老年食堂",)),
    ("养老院", ("养老机构", "特困人员供养服务机构(敬老院)", "失能特困人员集中照护中心")),
    ("敬老院", ("特困人员供养服务机构(敬老院)", "失能特困人员集中照护中心")),
])
def test_a_category_word_lists_that_category_nearest_first(live_server, sample_engine, word,
                                                           kinds) -> None:
    lon, lat = 105.60, 29.60
    answer = httpx.get(f"{live_server}/places/search", params={
        "q": word, "types": "place,facility", "public": "true", "limit": 8, "lon": lon,
        "lat": lat}).json()
    assert answer["category_kinds"] == list(kinds)
    got = [r["name"] for r in answer["results"]]
    assert got == _nearest_names(sample_engine, kinds, lon, lat, 8), got
    distances = [r["distance_m"] for r in answer["results"]]
    assert distances == sorted(distances)
