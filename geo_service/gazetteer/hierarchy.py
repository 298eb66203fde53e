"""The administrative hierarchy: district → townships → villages, with statistical codes."""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Engine, text

from geo_service.access import ANONYMOUS, Principal
from geo_service.errors import GeoServiceError, NotFoundError
from geo_service.gazetteer.pinyin import to_simplified


class AmbiguousNameError(GeoServiceError):
    """A name that several areas share; the caller must give the code."""

    status_code = 409


_AREAS_SQL = """
SELECT a.code, a.name, a.level, a.parent_code, a.geometry_accuracy,
       p.name AS place_name, p.pinyin
FROM admin_areas a
LEFT JOIN LATERAL (SELECT name, pinyin FROM place_names WHERE code = a.code AND {visible_p}
                   ORDER BY id LIMIT 1) p ON true
WHERE {visible}
ORDER BY a.code
"""


def _parent_name(by_code: dict, row) -> str:
    parent = by_code.get(row.parent_code or "")
    return parent.name if parent is not None else "?"


def _node(row) -> dict:
    return {"code": row.code, "name": row.name, "level": row.level,
            "place_name": row.place_name, "pinyin": row.pinyin}


def hierarchy(
    engine: Engine, *, code: str | None = None, name: str | None = None,
    depth: int = 2, principal: Principal = ANONYMOUS,
) -> dict:
    """An area with its ancestors (path) and descendants down to `depth` levels."""
    if (code is None) == (name is None):
        raise GeoServiceError("give either code or name (not both)")
    if not 0 <= depth <= 2:
        raise GeoServiceError(f"depth: {depth} is not 0, 1 or 2")
    public = not principal.sees_private
    sql = _AREAS_SQL.format(visible="a.is_public" if public else "true",
                            visible_p="is_public" if public else "true")
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    by_code = {row.code: row for row in rows}
    if code is not None:
        wanted = unicodedata.normalize("NFKC", code).strip().replace(" ", "")
        if not re.fullmatch(r"\d{6}|\d{9}|\d{12}", wanted):
            raise GeoServiceError(f"code: {code!r} is not a 6-, 9- or 12-digit statistical code")
        wanted = wanted.ljust(12, "0")
        if wanted not in by_code:
            raise NotFoundError(f"code: no area has the code {wanted}")
        target = by_code[wanted]
    else:
        assert name is not None
        wanted = to_simplified(unicodedata.normalize("NFKC", name).strip())
        matches = [row for row in rows if row.name == wanted]
        if not matches:
            raise NotFoundError(f"name: no district, township or village is called {name!r}")
        if len(matches) > 1:
            listed = ", ".join(f"{m.code} ({_parent_name(by_code, m)})" for m in matches)
            raise AmbiguousNameError(f"name: {len(matches)} areas are called {wanted}: "
                                     f"{listed}; ask by code")
        target = matches[0]
    children: dict[str, list] = {}
    for row in rows:
        if row.parent_code:
            children.setdefault(row.parent_code, []).append(row)

    def subtree(row, levels: int) -> dict:
        node = _node(row)
        kids = children.get(row.code, [])
        node["child_count"] = len(kids)
        if levels > 0:
            node["children"] = [subtree(kid, levels - 1) for kid in kids]
        return node

    path: list[dict] = []
    parent = by_code.get(target.parent_code or "")
    while parent is not None:
        path.insert(0, _node(parent))
        parent = by_code.get(parent.parent_code or "")
    result = {**subtree(target, depth), "path": path}
    result["note"] = ("统计用区划代码和名称为国家统计局2023年数据; 边界为示意"
                      if target.geometry_accuracy == "illustrative" or target.level != "district"
                      else None)
    return result
