"""Near-duplicate facilities: same kind and normalised name, or the same name within 50 m."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from geo_service import crs as crsmod
from geo_service.ingest.rows import key_note

NEAR_M = 50.0


def name_key(name: str) -> str:
    """A name as compared for duplicates: half-width, no spaces, brackets unified."""
    return "".join(unicodedata.normalize("NFKC", name or "").split())  # split(): as \s


def shared_keys(file_keys: list[str], stored_keys: Iterable[str] = ()) -> set[str]:
    """Name keys that can make a near-duplicate: repeated in the file, or also stored."""
    counts = Counter(file_keys)
    stored = set(stored_keys)
    return {key for key, n in counts.items() if n > 1 or key in stored}


@dataclass(frozen=True)
class Site:
    """One facility as the duplicate check sees it."""

    key: str
    name: str
    kind: str
    lon: float
    lat: float
    where: str  # 第 N 行 for a file row, 库中 for a stored one


def near_duplicates(file_sites: list[Site], stored: list[Site]) -> list[str]:
    """Messages for each file site that looks like another (in the file or the database)."""
    index: dict[str, list[Site]] = defaultdict(list)
    for site in stored:
        index[name_key(site.name)].append(site)
    found: list[str] = []
    for site in file_sites:
        key = name_key(site.name)
        for other in index[key]:
            if other.key == site.key:
                continue
            if other.kind == site.kind:
                why = "同类型、名称相同（忽略全角半角和空格）"
            else:
                metres = crsmod.geodesic_distance_m(site.lon, site.lat, other.lon, other.lat)
                if metres > NEAR_M:
                    continue
                why = f"名称相同且相距 {metres:.0f} 米"
            found.append(f"{site.where}「{site.name}」与{other.where}「{other.name}」"
                         f"{key_note(other.key)}疑似重复：{why}")
        index[key].append(site)
    return found
