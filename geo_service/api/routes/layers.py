"""The layer listing: ids, Chinese titles and public row counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from geo_service.catalog import catalogue
from geo_service.db.models import LAYER_TABLES

router = APIRouter(tags=["layers"])


@router.get("/layers", summary="Layers with their public row counts (public)")
def list_layers(request: Request) -> dict:
    """Every layer of the catalogue with the number of public rows, per kind too."""
    result = []
    with request.app.state.engine.connect() as conn:
        for spec in catalogue().layers.values():
            table = LAYER_TABLES[spec.id]
            public = table.c.is_public.is_(True)
            illustrative = table.c.geometry_accuracy == "illustrative"
            count, shown_illustrative = conn.execute(
                select(func.count(), func.count().filter(illustrative))
                .select_from(table).where(public)
            ).one()
            entry = {"id": spec.id, "title": spec.title, "title_en": spec.title_en,
                     "description": spec.description, "geometry": spec.geometry,
                     "count": count, "illustrative_count": shown_illustrative}
            if spec.has_kind:
                rows = conn.execute(
                    select(table.c.kind, func.count()).where(public).group_by(table.c.kind)
                ).all()
                by_kind = dict(rows)
                entry["kinds"] = [{"kind": k, "count": by_kind.get(k, 0)} for k in spec.kinds]
            result.append(entry)
    note = ("illustrative_count 为示意数据(位置或边界非实测)的条数"
            if any(e["illustrative_count"] for e in result) else None)
    return {"layers": result, "note": note}
