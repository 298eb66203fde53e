"""Liveness of the service and reachability of its database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and database check (public)")
def health(request: Request) -> JSONResponse:
    """200 with database 'ok' when PostGIS answers, 503 when it does not."""
    try:
        with request.app.state.engine.connect() as conn:
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    except Exception as exc:  # any database failure means 'not ready'
        return JSONResponse({"status": "degraded", "database": f"unavailable: "
                             f"{type(exc).__name__}"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok", "postgis": postgis})
