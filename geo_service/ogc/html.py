"""Chinese HTML pages of the OGC API, rendered with Jinja2 (templates/ next to this file)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.exc import DBAPIError

from geo_service.errors import GeoServiceError
from geo_service.ogc.http import FormatError, wants_html


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


ERROR_TITLES = {400: "请求有误", 401: "需要先登录", 403: "无权查看", 404: "没有找到",
                504: "查询超时"}


def error_page(request: Request, status: int, detail: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """A Chinese HTML error page with the technical reason (for callers who asked for HTML)."""
    title = ERROR_TITLES.get(status, "服务暂时不可用" if status >= 500 else "请求未完成")
    body = render("error.html", root=request.scope.get("root_path", ""), status=status,
                  title=title, detail=detail)
    return HTMLResponse(body, status_code=status, headers=headers)


def _asks_html(request: Request) -> bool:
    try:
        return wants_html(request)
    except FormatError:  # f= itself is wrong: answer in JSON, the default
        return False


class HtmlErrorRoute(APIRoute):
    """An OGC route whose errors are an HTML page when HTML was asked (f=html or a browser)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, with errors turned into error_page for HTML callers."""
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except (GeoServiceError, HTTPException, DBAPIError) as exc:
                if not _asks_html(request):
                    raise
                if isinstance(exc, DBAPIError):
                    from geo_service.ops.errors import classify

                    status, detail = classify(exc)
                    return error_page(request, status, detail)
                if isinstance(exc, HTTPException):
                    return error_page(request, exc.status_code, str(exc.detail),
                                      dict(exc.headers or {}))
                return error_page(request, getattr(exc, "status_code", 400), str(exc))

        return route
