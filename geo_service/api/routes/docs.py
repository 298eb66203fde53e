"""Interactive API documentation at /docs: Swagger UI from the vendored npm package
swagger-ui-dist (web_map/node_modules), so the page loads nothing from another origin and
runs under the pages' Content-Security-Policy (no inline script)."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["docs"])
SWAGGER = "/vendor/swagger-ui-dist"


@router.get("/docs", include_in_schema=False)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json (log in with the padlock: OAuth2 password flow)."""
    root = escape(request.scope.get("root_path", ""), quote=True)
    title = escape(request.app.title)
    return HTMLResponse(f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - 接口文档</title>
<link rel="stylesheet" href="{root}{SWAGGER}/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}{SWAGGER}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{root}{SWAGGER}/swagger-ui-bundle.js"></script>
<script src="{root}/map/static/api-docs.js" data-openapi="{root}/openapi.json"></script>
</body>
</html>
""", headers={"Cache-Control": "no-cache"})
