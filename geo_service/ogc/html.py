"""Chinese HTML pages of the OGC API, rendered with Jinja2 (templates/ next to this file)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape


def _display(value: Any) -> str:
    """A property value as table text (lists joined with 、, booleans 是/否)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_display(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@lru_cache
def environment() -> Environment:
    """The template environment (autoescaped)."""
    env = Environment(loader=PackageLoader("geo_service.ogc", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["display"] = _display
    return env


def script_json(value: Any) -> str:
    """JSON safe to embed in a <script type="application/json"> element."""
    return (json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")
            .replace(">", "\\u003e").replace("&", "\\u0026"))


def render(template: str, **context: Any) -> str:
    """Render one page."""
    return environment().get_template(template).render(**context)
