"""The care map's public categories: which layer and kinds, and how each is drawn.

Colour is never the only cue: every category also has its own letter and marker shape.
Colours give white text a contrast of at least 4.5:1 (a test computes it).
"""

from __future__ import annotations

from dataclasses import dataclass

from geo_service.catalog import catalogue
from geo_service.errors import GeoServiceError


@dataclass(frozen=True)
class Category:
    """One legend entry of the care map."""

    id: str
    title: str
    layer: str
    kinds: tuple[str, ...]  # empty = every kind of the layer
    colour: str
    letter: str
    shape: str  # square | circle | diamond | pin | octagon

    def all_kinds(self) -> tuple[str, ...]:
        """The catalogue kinds this category shows."""
        return self.kinds or catalogue().layer(self.layer).kinds


CATEGORIES: tuple[Category, ...] = (
    Category("elder_inst", "养老机构", "eldercare_sites",
             ("养老机构", "特困人员供养服务机构(敬老院)", "失能特困人员集中照护中心"),
             "#a4262c", "养", "square"),
    Category("elder_station", "社区/村级养老服务站点", "eldercare_sites",
             ("镇街养老服务中心", "社区养老服务站", "村级互助养老点"),
             "#7a4a00", "站", "circle"),
    Category("canteen", "老年食堂", "eldercare_sites", ("老年食堂",), "#1d6b34", "食", "diamond"),
    Category("child", "儿童服务设施", "child_sites", (), "#1f4e9c", "童", "pin"),
    Category("funeral", "殡葬服务设施", "funeral_sites", (), "#4a4a4a", "殡", "octagon"),
)
BY_ID = {c.id: c for c in CATEGORIES}
FACILITY_LAYERS = ("eldercare_sites", "child_sites", "funeral_sites")


def category_of(layer: str, kind: str) -> Category | None:
    """The category a row of `layer` with `kind` belongs to."""
    return next((c for c in CATEGORIES if c.layer == layer and kind in c.all_kinds()), None)


def parse_categories(text: str | list[str] | None) -> tuple[Category, ...]:
    """Categories from ids or Chinese titles ('elder_inst,老年食堂'); empty/None = all."""
    if not text:
        return CATEGORIES
    items = text if isinstance(text, list) else [text]
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    chosen = []
    for name in names:
        found = BY_ID.get(name) or next((c for c in CATEGORIES if c.title == name), None)
        if found is None:
            valid = ", ".join(f"{c.id} ({c.title})" for c in CATEGORIES)
            raise GeoServiceError(f"unknown category {name!r}; categories are: {valid}")
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen) if chosen else CATEGORIES
