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
