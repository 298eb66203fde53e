"""Place-name romanisation: the 27 townships of 大足区, historic names and the rules."""

from __future__ import annotations

import pytest
from pypinyin import Style, lazy_pinyin

from geo_service.gazetteer.pinyin import (
    CHAR_OVERRIDES,
    GENERICS,
    PHRASE_OVERRIDES,
    place_name_pinyin,
    search_keys,
    split_generic,
    to_simplified,
    toneless,
)

# Written by hand from the standard readings, not from pypinyin's output.
DAZU_TOWNSHIPS = {
    "龙岗街道": "Lónggǎng Jiēdào",
    "棠香街道": "Tángxiāng Jiēdào",
    "龙滩子街道": "Lóngtānzi Jiēdào",
    "双路街道": "Shuānglù Jiēdào",
    "通桥街道": "Tōngqiáo Jiēdào",
    "智凤街道": "Zhìfèng Jiēdào",
    "龙水镇": "Lóngshuǐ Zhèn",
    "宝顶镇": "Bǎodǐng Zhèn",
    "中敖镇": "Zhōng'áo Zhèn",
    "三驱镇": "Sānqū Zhèn",
    "宝兴镇": "Bǎoxīng Zhèn",
    "玉龙镇": "Yùlóng Zhèn",
    "石马镇": "Shímǎ Zhèn",
    "拾万镇": "Shíwàn Zhèn",
    "回龙镇": "Huílóng Zhèn",
    "金山镇": "Jīnshān Zhèn",
    "万古镇": "Wàngǔ Zhèn",
    "国梁镇": "Guóliáng Zhèn",
    "雍溪镇": "Yōngxī Zhèn",
    "珠溪镇": "Zhūxī Zhèn",
    "龙石镇": "Lóngshí Zhèn",
    "邮亭镇": "Yóutíng Zhèn",
    "铁山镇": "Tiěshān Zhèn",
    "高升镇": "Gāoshēng Zhèn",
    "季家镇": "Jìjiā Zhèn",
    "古龙镇": "Gǔlóng Zhèn",
    "高坪镇": "Gāopíng Zhèn",
}

HISTORIC_NAMES = {
    "龙水镇": "Lóngshuǐ Zhèn",
    "宝顶山": "Bǎodǐng Shān",
    "邮亭铺": "Yóutíngpù",
    "巴岳山": "Bāyuè Shān",
    "濑溪河": "Làixī Hé",
    "大足区": "Dàzú Qū",
    "重庆市": "Chóngqìng Shì",
}


def test_all_27_townships_are_listed() -> None:
    assert len(DAZU_TOWNSHIPS) == 27
    assert sum(name.endswith("街道") for name in DAZU_TOWNSHIPS) == 6
    assert sum(name.endswith("镇") for name in DAZU_TOWNSHIPS) == 21


@pytest.mark.parametrize(("name", "expected"), sorted(DAZU_TOWNSHIPS.items()))
def test_township_pinyin(name: str, expected: str) -> None:
    assert place_name_pinyin(name) == expected


@pytest.mark.parametrize(("name", "expected"), sorted(HISTORIC_NAMES.items()))
def test_historic_name_pinyin(name: str, expected: str) -> None:
    assert place_name_pinyin(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("学坝社区", "Xuébà Shèqū"),
        ("龙岗村", "Lónggǎng Cūn"),
        ("北山", "Běi Shān"),  # one-syllable specific: still two words
        ("渭河", "Wèi Hé"),
        ("大足石刻", "Dàzú Shíkè"),
        ("学坝社区居民委员会", "Xuébà Shèqū Jūmín Wěiyuánhuì"),
        ("龙岗街道办事处", "Lónggǎng Jiēdào Bànshìchù"),
        ("秀山土家族苗族自治县", "Xiùshān Tǔjiāzú Miáozú Zìzhìxiàn"),
    ],
)
def test_orthography_rules(name: str, expected: str) -> None:
    assert place_name_pinyin(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("丰都县", "Fēngdū Xiàn"),  # pypinyin 0.55 says dōu
        ("长阳土家族自治县", "Chángyáng Tǔjiāzú Zìzhìxiàn"),  # pypinyin says zhǎng
        ("六合区", "Lùhé Qū"),  # pypinyin says liù
        ("三十里铺", "Sānshílǐpù"),
    ],
)
def test_overrides_fix_pypinyin(name: str, expected: str) -> None:
    assert place_name_pinyin(name) == expected


def test_apostrophe_before_a_o_e_inside_a_word() -> None:
    assert place_name_pinyin("西安市") == "Xī'ān Shì"
    assert place_name_pinyin("中敖镇") == "Zhōng'áo Zhèn"
    # Not at the start of a word.
    assert place_name_pinyin("安居镇") == "Ānjū Zhèn"


def test_u_umlaut() -> None:
    assert place_name_pinyin("吕梁市") == "Lǚliáng Shì"
    assert place_name_pinyin("略阳县") == "Lüèyáng Xiàn"
    assert toneless("Lǚliáng Shì") == "Lüliang Shi"
    assert search_keys("吕梁市")["full"] == "lvliangshi"


def test_explicit_generic() -> None:
    assert place_name_pinyin("宝顶山", generic="") == "Bǎodǐngshān"
    assert place_name_pinyin("邮亭铺", generic="铺") == "Yóutíng Pù"
    with pytest.raises(ValueError, match="suffix"):
        place_name_pinyin("宝顶山", generic="镇")
    with pytest.raises(ValueError, match="suffix"):
        place_name_pinyin("山", generic="山")


def test_empty_and_literal_parts() -> None:
    assert place_name_pinyin("") == ""
    assert place_name_pinyin("  宝顶山 ") == "Bǎodǐng Shān"
    assert place_name_pinyin("G75国道") == "G75 Guódào"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("宝顶山", ("宝顶", "山")),
        ("邮亭铺", ("邮亭铺", "")),
        ("学坝社区", ("学坝", "社区")),
        ("龙岗街道", ("龙岗", "街道")),
        ("秀山土家族苗族自治县", ("秀山土家族苗族", "自治县")),
        ("学坝社区居民委员会", ("学坝社区", "居民委员会")),
        ("山", ("山", "")),
    ],
)
def test_split_generic(name: str, expected: tuple[str, str]) -> None:
    assert split_generic(name) == expected


def test_toneless() -> None:
    assert toneless("Bǎodǐng Shān") == "Baoding Shan"
    assert toneless("Xī'ān Shì") == "Xi'an Shi"
    assert toneless(place_name_pinyin("龙滩子街道")) == "Longtanzi Jiedao"


def test_search_keys() -> None:
    assert search_keys("宝顶山") == {
        "full": "baodingshan",
        "initials": "bds",
        "tone": "bǎodǐngshān",
    }
    assert search_keys("重庆市")["initials"] == "cqs"  # ch → c
    assert search_keys("西安市")["full"] == "xianshi"  # no apostrophe
    assert search_keys("邮亭铺") == {"full": "youtingpu", "initials": "ytp", "tone": "yóutíngpù"}


def test_to_simplified() -> None:
    assert to_simplified("寶頂山") == "宝顶山"
    assert to_simplified("龍崗街道") == "龙岗街道"
    assert to_simplified("宝顶山") == "宝顶山"


def test_generic_table_readings_agree_with_pypinyin() -> None:
    # The generics are ordinary words; a disagreement means a typo in the table.
    for generic, words in GENERICS.items():
        syllables = [s for word in words for s in word]
        assert syllables == lazy_pinyin(generic, style=Style.TONE), generic


def test_override_tables_are_well_formed() -> None:
    for phrase, syllables in PHRASE_OVERRIDES.items():
        assert len(syllables) == len(phrase), phrase
        assert all(s == s.lower() and s.isalpha() for s in syllables), phrase
    for char, syllable in CHAR_OVERRIDES.items():
        assert len(char) == 1
        assert syllable == syllable.lower() and syllable.isalpha()


def test_word_cache_reads_exactly_as_pypinyin():
    """The per-word cache gives lazy_pinyin's readings, whatever context a word was met in."""
    from pypinyin import Style, lazy_pinyin

    from geo_service.gazetteer.pinyin import _tone

    texts = ["长乐村养老院", "长寿老人", "银行", "行政村自行车", "重庆重新", "乐山音乐厅",
             "石桥镇龙井村互助养老点", "朝阳朝鲜", "了解了", "还钱还是"]
    for text in texts + texts[::-1]:  # the second pass reads from the cache
        assert _tone(text) == lazy_pinyin(text, style=Style.TONE), text
