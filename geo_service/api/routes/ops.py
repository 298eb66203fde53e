"""Readiness (database reachable and schema current) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from geo_service.db import migrate

router = APIRouter(tags=["health"])


def _head(request: Request) -> str | None:
    """The newest migration revision(s) this code knows (computed once per app)."""
    if not hasattr(request.app.state, "head_revision"):
        request.app.state.head_revision = migrate.head_revision(request.app.state.engine)
    return request.app.state.head_revision


@router.get("/ready", summary="Readiness: database reachable and migrations current (public)")
def ready(request: Request) -> JSONResponse:
    """200 when the service can serve; 503 with the reason when it cannot."""
    head = _head(request)
    try:
        current = migrate.current_revision(request.app.state.engine)
    except Exception as exc:  # any database failure means 'not ready'
        return JSONResponse({"status": "not ready", "database": f"unavailable: "
                             f"{type(exc).__name__}"}, status_code=503)
    if current != head:
        return JSONResponse({"status": "not ready", "database": "ok", "schema": current,
                             "expected": head, "detail": "run geo-service db upgrade"},
                            status_code=503)
    return JSONResponse({"status": "ready", "database": "ok", "schema": current})


@router.get("/metrics", summary="Prometheus metrics (public; restrict at the proxy if needed)")
def metrics(request: Request) -> Response:
    """Request counts and latency histograms by route template."""
    collected = request.app.state.metrics
    return Response(collected.render(), media_type=collected.content_type)
