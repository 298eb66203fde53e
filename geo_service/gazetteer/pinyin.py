"""Romanisation of Chinese place names in Hanyu Pinyin, following the official orthography.

Rules applied (GB/T 16159-2012 汉语拼音正词法基本规则, and 中国地名汉语拼音字母拼写规则
(汉语地名部分)):

* The specific part (专名) and the generic part (通名) are separate words, each
  capitalised: 宝顶山 → "Bǎodǐng Shān", 龙岗街道 → "Lónggǎng Jiēdào". This holds for a
  one-syllable specific too (渭河 → "Wèi Hé", 北山 → "Běi Shān"), as on official maps.
* Only one generic is split off, the longest one that ends the name; what precedes it is
  the specific and is written as one word (金山镇 → "Jīnshān Zhèn", 濑溪河 → "Làixī Hé").
* Names of natural villages and towns whose last character is not a generic in the
  administrative sense (铺, 场, 坝, 店, 堡 …) are one word: 邮亭铺 → "Yóutíngpù". 铺 as a
  post-station name is read pù.
* The name of a body (居民委员会, 村民委员会, 办事处 …) is the place name followed by
  the body's generic: 学坝社区居民委员会 → "Xuébà Shèqū Jūmín Wěiyuánhuì".
* Ethnic-group names inside an autonomous area's name are words of their own:
  秀山土家族苗族自治县 → "Xiùshān Tǔjiāzú Miáozú Zìzhìxiàn".
* Inside a word, a syllable beginning with a, o or e after another syllable takes an
  apostrophe: 西安 → "Xī'ān", 中敖 → "Zhōng'áo".
* ü is written ü (lǚ, nǚ, lüè); in search keys it becomes v.
* Neutral tones carry no mark: 龙滩子 → "Lóngtānzi".

Readings come from pypinyin (``Style.TONE``, no heteronyms) run on each specific, with
the overrides in ``PHRASE_OVERRIDES`` and ``CHAR_OVERRIDES`` taking precedence. The
overrides fix readings pypinyin gets wrong in place names (丰都, 长阳, 六合) and pin the
readings of this district's names against changes in pypinyin's dictionaries.

A name is one place: a chain of levels (重庆市大足区) is not split; romanise each level
and join them. Input is NFKC-normalised and should be in simplified characters; use
:func:`to_simplified` first for traditional text (it is not applied automatically because
the conversion is not always right for place names, e.g. 乾县 would become 干县). Letters
and digits in a name are kept as words of their own; other punctuation is dropped.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from typing import TYPE_CHECKING, NamedTuple

from pypinyin import Style, lazy_pinyin
from pypinyin.seg.simpleseg import seg as pypinyin_words

if TYPE_CHECKING:
    from opencc import OpenCC

__all__ = [
    "CHAR_OVERRIDES",
    "ETHNIC_GROUPS",
    "GENERICS",
    "PHRASE_OVERRIDES",
    "fill_pinyin",
    "index_keys",
    "place_name_pinyin",
    "search_keys",
    "split_generic",
    "to_simplified",
    "toneless",
]


def _parse_reading(reading: str) -> tuple[tuple[str, ...], ...]:
    """'jū mín|wěi yuán huì' → (('jū', 'mín'), ('wěi', 'yuán', 'huì')): words of syllables."""
    return tuple(tuple(word.split()) for word in reading.split("|"))


# 通名 → reading; "|" separates words, spaces separate syllables within a word.
GENERICS: dict[str, tuple[tuple[str, ...], ...]] = {
    generic: _parse_reading(reading)
    for generic, reading in {
        "办事处": "bàn shì chù",
        "居民委员会": "jū mín|wěi yuán huì",
        "村民委员会": "cūn mín|wěi yuán huì",
        "居委会": "jū wěi huì",
        "村委会": "cūn wěi huì",
        "自治县": "zì zhì xiàn",
        "自治州": "zì zhì zhōu",
        "开发区": "kāi fā qū",
        "街道": "jiē dào",
        "社区": "shè qū",
        "新区": "xīn qū",
        "水库": "shuǐ kù",
        "大道": "dà dào",
        "公园": "gōng yuán",
        "广场": "guǎng chǎng",
        "石刻": "shí kè",
        "省": "shěng",
        "区": "qū",
        "县": "xiàn",
        "市": "shì",
        "镇": "zhèn",
        "乡": "xiāng",
        "村": "cūn",
        "山": "shān",
        "河": "hé",
        "江": "jiāng",
        "湖": "hú",
        "溪": "xī",
        "岭": "lǐng",
        "坡": "pō",
        "湾": "wān",
        "桥": "qiáo",
        "街": "jiē",
        "路": "lù",
        "巷": "xiàng",
        "寺": "sì",
    }.items()
}

# Generics of bodies named after a place: what precedes them is a whole place name, itself
# split into specific and generic (学坝社区居民委员会 → "Xuébà Shèqū Jūmín Wěiyuánhuì").
_BODY_GENERICS = frozenset({"办事处", "居民委员会", "村民委员会", "居委会", "村委会"})

# Longest first, so 社区 wins over 区 and 街道 over 街.
_GENERICS_LONGEST_FIRST: tuple[str, ...] = tuple(sorted(GENERICS, key=len, reverse=True))

# Whole-phrase readings; matched longest first inside a specific before pypinyin is asked.
PHRASE_OVERRIDES: dict[str, tuple[str, ...]] = {
    # 大足区 and its townships: pinned.
    "重庆": ("chóng", "qìng"),
    "大足": ("dà", "zú"),
    "龙岗": ("lóng", "gǎng"),
    "龙滩子": ("lóng", "tān", "zi"),  # 子 as a suffix: neutral tone
    "中敖": ("zhōng", "áo"),
    "石马": ("shí", "mǎ"),
    "拾万": ("shí", "wàn"),
    "珠溪": ("zhū", "xī"),
    "铁山": ("tiě", "shān"),
    "邮亭铺": ("yóu", "tíng", "pù"),
    "濑溪": ("lài", "xī"),
    # Read wrongly by pypinyin 0.55.
    "丰都": ("fēng", "dū"),  # pypinyin: fēng dōu
    "长阳": ("cháng", "yáng"),  # pypinyin: zhǎng yáng
    "六合": ("lù", "hé"),  # pypinyin: liù hé
    "六安": ("lù", "ān"),
}

# Single characters whose place-name reading is fixed whatever the context.
CHAR_OVERRIDES: dict[str, str] = {
    "铺": "pù",  # post station (急递铺), never pū in a place name
}

_OVERRIDES: dict[str, tuple[str, ...]] = {
    **{char: (reading,) for char, reading in CHAR_OVERRIDES.items()},
    **PHRASE_OVERRIDES,
}
_OVERRIDE_RE = re.compile("|".join(map(re.escape, sorted(_OVERRIDES, key=len, reverse=True))))

# Ethnic groups that appear in the names of autonomous areas; each is a word of its own.
ETHNIC_GROUPS: tuple[str, ...] = (
    "土家族", "苗族", "彝族", "藏族", "羌族", "回族", "壮族", "蒙古族", "满族", "侗族",
    "瑶族", "白族", "傣族", "哈尼族", "黎族", "布依族", "仡佬族", "水族", "纳西族", "畲族",
    "朝鲜族", "傈僳族", "佤族", "拉祜族", "景颇族", "土族", "撒拉族", "锡伯族", "达斡尔族",
    "毛南族", "仫佬族",
)  # fmt: skip
_ETHNIC_RE = re.compile("(" + "|".join(sorted(ETHNIC_GROUPS, key=len, reverse=True)) + ")")

_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0003134f]+")
_LITERAL_RE = re.compile(r"[0-9A-Za-z]+")
_TONE_MARKS = frozenset("\u0300\u0301\u0304\u030c")  # grave, acute, macron, caron


class _Token(NamedTuple):
    text: str
    is_pinyin: bool


_Word = tuple[_Token, ...]


def _normalise(name: str) -> str:
    return unicodedata.normalize("NFKC", name).strip()


@lru_cache(maxsize=65536)
def _word_tone(word: str) -> tuple[str, ...]:
    """pypinyin's toned syllables of one word of its own segmentation (cached: words repeat)."""
    return tuple(lazy_pinyin(word, style=Style.TONE))


def _tone(han: str) -> list[str]:
    """Exactly ``lazy_pinyin(han, style=Style.TONE)``: pypinyin reads word by word, so the
    words of its own segmentation are read once each and reused."""
    return [syllable for word in pypinyin_words(han) for syllable in _word_tone(word)]


@lru_cache(maxsize=65536)
def _han_syllables(han: str) -> tuple[str, ...]:
    """Toned syllables of a run of Han characters, overrides first (cached per run)."""
    syllables: list[str] = []
    pending_start = 0
    for match in _OVERRIDE_RE.finditer(han):  # leftmost, longest override first
        if pending_start < match.start():
            syllables += _tone(han[pending_start : match.start()])
        syllables += _OVERRIDES[match.group()]
        pending_start = match.end()
    if pending_start < len(han):
        syllables += _tone(han[pending_start:])
    return tuple(syllables)


def _words(text: str) -> list[_Word]:
    """Han runs become one word each; each run of letters/digits is a word of its own."""
    words: list[_Word] = []
    pos = 0
    for match in _HAN_RE.finditer(text):
        words += [(_Token(lit, False),) for lit in _LITERAL_RE.findall(text[pos : match.start()])]
        words.append(tuple(_Token(s, True) for s in _han_syllables(match.group())))
        pos = match.end()
    words += [(_Token(lit, False),) for lit in _LITERAL_RE.findall(text[pos:])]
    return words


def _specific_words(specific: str) -> list[_Word]:
    words: list[_Word] = []
    for part in _ETHNIC_RE.split(specific):
        if part:
            words += _words(part)
    return words


def _generic_words(generic: str) -> list[_Word]:
    reading = GENERICS.get(generic)
    if reading is None:
        return _words(generic)
    return [tuple(_Token(s, True) for s in word) for word in reading]


def _name_words(name: str, generic: str | None) -> list[_Word]:
    name = _normalise(name)
    if generic is None:
        specific, generic = split_generic(name)
    else:
        generic = _normalise(generic)
        if not generic:
            specific = name
        elif name.endswith(generic) and len(name) > len(generic):
            specific = name[: -len(generic)]
        else:
            raise ValueError(f"generic {generic!r} is not a proper suffix of {name!r}")
    if generic in _BODY_GENERICS:
        return _name_words(specific, None) + _generic_words(generic)
    return _specific_words(specific) + _generic_words(generic)


def _format_word(word: _Word) -> str:
    parts: list[str] = []
    for index, token in enumerate(word):
        text = token.text
        if (
            index > 0
            and token.is_pinyin
            and word[index - 1].is_pinyin
            and toneless(text[:1]).lower() in {"a", "o", "e"}
        ):
            text = "'" + text
        parts.append(text)
    joined = "".join(parts)
    return joined[:1].upper() + joined[1:] if word[0].is_pinyin else joined


def split_generic(name: str) -> tuple[str, str]:
    """Split a place name into (specific, generic); generic is '' when none ends the name."""
    name = _normalise(name)
    for generic in _GENERICS_LONGEST_FIRST:
        if name.endswith(generic) and len(name) > len(generic):
            return name[: -len(generic)], generic
    return name, ""


def place_name_pinyin(name: str, *, generic: str | None = None) -> str:
    """Orthographic pinyin with tone marks: 宝顶山 → 'Bǎodǐng Shān'.

    ``generic`` overrides detection: '' writes the whole name as one specific, any other
    value must be a proper suffix of ``name`` (ValueError otherwise).
    """
    return " ".join(_format_word(word) for word in _name_words(name, generic) if word)


def fill_pinyin(record: dict) -> dict:
    """Give a place-name record without a spelling the orthographic pinyin of its name."""
    if not record.get("pinyin") and record.get("name"):
        record["pinyin"] = place_name_pinyin(record["name"])
    return record


def toneless(text: str) -> str:
    """Strip tone marks, keeping ü and apostrophes: 'Xī'ān Shì' → "Xi'an Shi"."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))


@lru_cache(maxsize=4096)
def _plain(syllable: str) -> str:
    """A lower-case token as a search key: toneless, ü → v."""
    return toneless(syllable).replace("ü", "v")


def index_keys(name: str) -> tuple[str, str]:
    """(full, initials) of :func:`search_keys`, without its 'tone' (what the index stores)."""
    plain = [(_plain(token.text.lower()), token.is_pinyin)
             for word in _name_words(name, None) for token in word]
    return ("".join(text for text, _ in plain),
            "".join(text[:1] if is_pinyin else text for text, is_pinyin in plain))


def search_keys(name: str) -> dict[str, str]:
    """Search-index keys of a name: 'full' (toneless, ü→v), 'initials' and 'tone', lower case.

    宝顶山 → {'full': 'baodingshan', 'initials': 'bds', 'tone': 'bǎodǐngshān'}. A syllable
    contributes its first letter to 'initials' (zh/ch/sh give z/c/s); a run of letters or
    digits contributes itself whole.
    """
    tokens = [token for word in _name_words(name, None) for token in word]
    tone = "".join(token.text.lower() for token in tokens)
    initials = "".join(
        toneless(token.text[:1]).lower() if token.is_pinyin else token.text.lower()
        for token in tokens
    )
    return {"full": toneless(tone).replace("ü", "v"), "initials": initials, "tone": tone}


@cache
def _t2s_converter() -> OpenCC:
    from opencc import OpenCC

    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese with OpenCC's t2s dictionaries: 寶頂山 → 宝顶山."""
    return _t2s_converter().convert(text)
