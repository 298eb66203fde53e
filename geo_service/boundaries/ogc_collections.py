"""Boundary lines and markers as OGC API collections (who sees them: the catalogue)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table
from sqlalchemy.sql.elements import ColumnElement

from geo_service.access import Principal
from geo_service.catalog import Catalogue, FieldSpec, LayerSpec
from geo_service.db.models import boundary_lines, boundary_markers
from geo_service.ogc.collections import Collection, Property

STATUSES = ("在用", "损毁待修", "已重建", "已废止")
# collection id → (table, geometry type, English title, (column, type, Chinese title)…)
_SHAPES: dict[str, tuple[Table, str, str, tuple[tuple[str, str, str], ...]]] = {
    "boundary_lines": (boundary_lines, "MultiLineString", "Boundary lines", (
        ("line_key", "text", "界线键"), ("level", "text", "级别 (township/county/provincial)"),
        ("side_a_code", "text", "甲方代码"), ("side_a_name", "text", "甲方"),
        ("side_b_code", "text", "乙方代码"), ("side_b_name", "text", "乙方"),
        ("length_m", "float", "长度(m)"), ("geometry_accuracy", "text", "位置精度"),
        ("updated_at", "datetime", "更新时间"))),
    "boundary_markers": (boundary_markers, "Point", "Boundary markers", (
        ("number", "text", "界桩编号"), ("marker_type", "text", "类型"),
        ("status", "text", "状态"), ("material", "text", "材质"),
        ("elevation_m", "float", "高程(m)"), ("installed_on", "date", "埋设日期"),
        ("line_id", "int", "界线编号"), ("note", "text", "备注"),
        ("geometry_accuracy", "text", "位置精度"), ("updated_at", "datetime", "更新时间"))),
}


@dataclass(frozen=True)
class BoundaryCollection(Collection):
    """A boundary table served like a layer: fixed columns; lines only while current."""

    columns: tuple[tuple[str, str, str], ...] = ()

    def where(self, principal: Principal) -> list[ColumnElement[bool]]:
        """Current lines only (retired ones are history); every marker."""
        if self.table is boundary_lines:
            return [boundary_lines.c.status == "current"]
        return []

    def properties(self, principal: Principal) -> dict[str, Property]:
        """The table's columns (staff and public see the same fields)."""
        return {name: Property(name, self.table.c[name], type_, title)
                for name, type_, title in self.columns}


def boundary_collections(cat: Catalogue) -> dict[str, Collection]:
    """The boundary collections the catalogue lists."""
    found: dict[str, Collection] = {}
    for cid, (title, description, public) in cat.boundary_collections.items():
        table, geometry, title_en, columns = _SHAPES[cid]
        fields = (FieldSpec("status", "text", "状态", (), choices=STATUSES),) \
            if cid == "boundary_markers" else ()
        layer = LayerSpec(id=cid, title=title, title_en=title_en, description=description,
                          geometry=geometry, kinds=(), kind_aliases={}, fields=fields,
                          public=public)
        found[cid] = BoundaryCollection(cid, layer, table, title, description, public,
                                        columns=columns)
    return found
