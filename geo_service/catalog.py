"""The layer catalogue (layers/catalogue.toml): ids, Chinese titles, kinds and fields."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from geo_service.errors import UnknownLayerError
from geo_service.resources import package_path

FIELD_TYPES = {"text", "int", "float", "bool", "date", "text[]", "code", "json"}


@dataclass(frozen=True)
class FieldSpec:
    """One attribute of a layer, as a file may carry it."""

    name: str
    type: str
    title: str
    aliases: tuple[str, ...]
    public: bool = True
    required: bool = False
    choices: tuple[str, ...] = ()
    choice_aliases: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class LayerSpec:
    """A layer: its table, titles, geometry type, kinds and fields."""

    id: str
    title: str
    title_en: str
    description: str
    geometry: str
    kinds: tuple[str, ...]
    kind_aliases: dict[str, str]
    fields: tuple[FieldSpec, ...]
    key: str | None = None
    public: bool = True  # false: the whole layer is hidden from the anonymous view
    area_column: str | None = None  # point layer whose rows may come as a site polygon
    name_optional: bool = False  # rows may lack a name (unnamed roads)
    source: str = ""  # the human source name rows get when a load names none

    @property
    def default_source(self) -> str:
        """The source name shown for rows loaded without --source or a 来源 column."""
        return self.source or f"{self.title}台账(民政局)"

    @property
    def has_kind(self) -> bool:
        """True for layers whose rows carry a kind (类型)."""
        return bool(self.kinds)

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, if the layer has one."""
        return next((f for f in self.fields if f.name == name), None)

    def canonical_kind(self, text: str) -> str | None:
        """The catalogue's kind for a name in a file (exact, alias, or full-width brackets)."""
        cleaned = text.strip().replace("（", "(").replace("）", ")")
        if cleaned in self.kinds:
            return cleaned
        return self.kind_aliases.get(cleaned) or self.kind_aliases.get(text.strip())

    @property
    def private_fields(self) -> tuple[str, ...]:
        """Fields the anonymous view never sees."""
        return tuple(f.name for f in self.fields if not f.public)


@dataclass(frozen=True)
class Catalogue:
    """All layers plus the header aliases shared by every layer."""

    layers: dict[str, LayerSpec]
    common_aliases: dict[str, tuple[str, ...]]
    # boundary lines / markers served as OGC collections: id → (title, description, public)
    boundary_collections: dict[str, tuple[str, str, bool]] = field(default_factory=dict)

    def layer(self, layer_id: str) -> LayerSpec:
        """The layer with this id, or a 404-style error listing the valid ids."""
        try:
            return self.layers[layer_id]
        except KeyError:
            raise UnknownLayerError(
                f"unknown layer {layer_id!r}; layers are: {', '.join(self.layers)}"
            ) from None


def _field(raw: dict) -> FieldSpec:
    if raw["type"] not in FIELD_TYPES:
        raise ValueError(f"field {raw['name']}: unknown type {raw['type']!r}")
    return FieldSpec(
        name=raw["name"],
        type=raw["type"],
        title=raw.get("title", raw["name"]),
        aliases=tuple(raw.get("aliases", [])),
        public=raw.get("public", True),
        required=raw.get("required", False),
        choices=tuple(raw.get("choices", [])),
        choice_aliases=dict(raw.get("choice_aliases", {})),
        default=raw.get("default"),
        min=raw.get("min"),
        max=raw.get("max"),
    )


def parse_catalogue(path: Path) -> Catalogue:
    """Read and check a catalogue TOML file."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    layers = {}
    for entry in raw["layers"]:
        spec = LayerSpec(
            id=entry["id"],
            title=entry["title"],
            title_en=entry["title_en"],
            description=entry.get("description", ""),
            geometry=entry["geometry"],
            kinds=tuple(entry.get("kinds", [])),
            kind_aliases=dict(entry.get("kind_aliases", {})),
            fields=tuple(_field(f) for f in entry.get("fields", [])),
            key=entry.get("key"),
            public=entry.get("public", True),
            area_column=entry.get("area_column"),
            name_optional=entry.get("name_optional", False),
            source=entry.get("source", ""),
        )
        layers[spec.id] = spec
    common = {k: tuple(v) for k, v in raw.get("common", {}).get("aliases", {}).items()}
    boundary = {e["id"]: (e["title"], e.get("description", ""), bool(e.get("public", False)))
                for e in raw.get("boundary_collections", [])}
    return Catalogue(layers=layers, common_aliases=common, boundary_collections=boundary)


@lru_cache
def catalogue() -> Catalogue:
    """The layer catalogue shipped with the package (layers/catalogue.toml)."""
    return parse_catalogue(package_path("layers", "catalogue.toml"))
