"""OGC API collections: one per layer of the catalogue, plus subsets planners ask for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import Column, Table
from sqlalchemy.sql.elements import ColumnElement

from geo_service.access import Principal, hidden_fields, row_filter, source_column
from geo_service.catalog import Catalogue, LayerSpec, catalogue
from geo_service.db.models import LAYER_TABLES
from geo_service.errors import NotFoundError

# JSON Schema type of each catalogue field type.
SCHEMA_TYPES: dict[str, dict] = {
    "text": {"type": "string"},
    "code": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "text[]": {"type": "array", "items": {"type": "string"}},
    "json": {"type": "array"},
}
ILLUSTRATIVE_NOTE = (
    "示意数据:设施位置、名称、电话和规模数字,镇街和村(社区)边界及人口均为生成的示意数据,"
    "不是实测或官方数据;区界为公开数据。每条记录的 geometry_accuracy = 'illustrative' "
    "表示位置或边界为示意,figures_source = 'illustrative' 表示人口数字为示意。"
)


@dataclass(frozen=True)
class Property:
    """A feature property: its name, column, type (catalogue type) and Chinese title."""

    name: str
    column: ColumnElement  # a column, or the public form of one (source)
    type: str
    title: str


@dataclass(frozen=True)
class Subset:
    """A collection that is a part of a layer (one kind, one admin level …)."""

    id: str
    layer_id: str
    title: str
    description: str
    where: Callable[[Table], ColumnElement[bool]]
    public: bool = True


# Subsets planners asked for; ids are ASCII, titles Chinese.
def _kind(value: str) -> Callable[[Table], ColumnElement[bool]]:
    return lambda t: t.c.kind == value


def _level(value: str) -> Callable[[Table], ColumnElement[bool]]:
    return lambda t: t.c.level == value


SUBSETS: tuple[Subset, ...] = (
    Subset("elderly_canteens", "eldercare_sites", "老年食堂",
           "养老服务设施中类型为“老年食堂”的助餐点。", _kind("老年食堂")),
    Subset("eldercare_institutions", "eldercare_sites", "养老机构",
           "养老服务设施中类型为“养老机构”的机构(含床位、护理型床位和星级)。", _kind("养老机构")),
    Subset("nursing_homes", "eldercare_sites", "敬老院",
           "特困人员供养服务机构(敬老院)。", _kind("特困人员供养服务机构(敬老院)")),
    Subset("township_eldercare_centres", "eldercare_sites", "镇街养老服务中心",
           "镇街养老服务中心。", _kind("镇街养老服务中心")),
    Subset("community_eldercare_stations", "eldercare_sites", "社区养老服务站",
           "社区养老服务站。", _kind("社区养老服务站")),
    Subset("village_mutual_aid_points", "eldercare_sites", "村级互助养老点",
           "村级互助养老点。", _kind("村级互助养老点")),
    Subset("children_homes", "child_sites", "儿童之家", "儿童之家。", _kind("儿童之家")),
    Subset("townships", "admin_areas", "镇街", "镇街(乡镇和街道)行政区划。", _level("township")),
    Subset("villages", "admin_areas", "村(社区)", "村(社区)行政区划。", _level("village")),
    Subset("historic_place_names", "place_names", "历史地名保护名录",
           "列入历史地名保护名录的地名。", lambda t: t.c.historic_list.is_not(None)),
)

# Columns every feature carries besides the catalogue's fields.
_FIXED = (("external_id", "text", "编号"), ("name", "text", "名称"))
_TRAILING = (
    ("source", "text", "来源"),
    ("geometry_accuracy", "text", "位置精度(illustrative = 示意)"),
    ("updated_at", "datetime", "更新时间"),
)


@dataclass(frozen=True)
class Collection:
    """One OGC API collection: a layer, or a subset of one."""

    id: str
    layer: LayerSpec
    table: Table
    title: str
    description: str
    public: bool = True
    subset: Subset | None = None
    # properties per view (sees_private), built once: every items request asks for them
    _properties: dict[bool, dict[str, Property]] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False)

    @property
    def geometry(self) -> Column:
        """The geometry column served (the point of a funeral site, not its site area)."""
        return self.table.c.geom

    def visible_to(self, principal: Principal) -> bool:
        """Whether the caller may know this collection exists."""
        return self.public or principal.sees_private

    def where(self, principal: Principal) -> list[ColumnElement[bool]]:
        """WHERE clauses: the subset and the rows the caller may see."""
        clauses: list[ColumnElement[bool]] = []
        if self.subset is not None:
            clauses.append(self.subset.where(self.table))
        rows = row_filter(self.table, principal)
        if rows is not None:
            clauses.append(rows)
        return clauses

    def properties(self, principal: Principal) -> dict[str, Property]:
        """The properties the caller may see, in catalogue order."""
        view = principal.sees_private
        if view not in self._properties:
            self._properties[view] = self._build_properties(principal)
        return dict(self._properties[view])

    def _build_properties(self, principal: Principal) -> dict[str, Property]:
        hidden = hidden_fields(self.layer, principal)
        cols = self.table.c
        props: dict[str, Property] = {}
        for name, type_, title in _FIXED:
            props[name] = Property(name, cols[name], type_, title)
        if self.layer.has_kind:
            props["kind"] = Property("kind", cols.kind, "text", "类型")
        for spec in self.layer.fields:
            if spec.name in hidden or spec.name not in cols:
                continue
            props[spec.name] = Property(spec.name, cols[spec.name], spec.type, spec.title)
        for name, type_, title in _TRAILING:
            column = (source_column(self.table, self.layer, principal) if name == "source"
                      else cols[name])
            props[name] = Property(name, column, type_, title)
        if principal.sees_private:
            props["is_public"] = Property("is_public", cols.is_public, "bool", "是否公开")
        return props


def _collections(cat: Catalogue) -> dict[str, Collection]:
    found: dict[str, Collection] = {}
    for spec in cat.layers.values():
        found[spec.id] = Collection(spec.id, spec, LAYER_TABLES[spec.id], spec.title,
                                    spec.description, spec.public)
    for sub in SUBSETS:
        if sub.layer_id not in cat.layers:
            continue
        layer = found[sub.layer_id]
        found[sub.id] = Collection(
            sub.id, layer.layer, layer.table, sub.title,
            f"{sub.description}(图层 {layer.id} 的子集)", layer.public and sub.public, sub)
    from geo_service.boundaries.ogc_collections import boundary_collections

    found.update(boundary_collections(cat))  # boundary_lines, boundary_markers (catalogue)
    return found


@lru_cache
def _default() -> dict[str, Collection]:
    return _collections(catalogue())


def all_collections(cat: Catalogue | None = None) -> dict[str, Collection]:
    """Every collection of the catalogue (the configured one by default)."""
    return _default() if cat is None else _collections(cat)


def visible_collections(principal: Principal, cat: Catalogue | None = None) -> list[Collection]:
    """The collections the caller may see."""
    return [c for c in all_collections(cat).values() if c.visible_to(principal)]


def get_collection(collection_id: str, principal: Principal,
                   cat: Catalogue | None = None) -> Collection:
    """The collection with this id, or 404 (also for one the caller may not see)."""
    found = all_collections(cat).get(collection_id)
    if found is None or not found.visible_to(principal):
        ids = ", ".join(c.id for c in visible_collections(principal, cat))
        raise NotFoundError(f"unknown collection {collection_id!r}; collections are: {ids}")
    return found
