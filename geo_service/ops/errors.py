"""Database failures as clear JSON answers: timeouts 504, read-only / full / down 503."""

from __future__ import annotations

import logging

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger("geo_service.errors")


def classify(exc: DBAPIError) -> tuple[int, str]:
    """HTTP status and message for a database error, by its SQLSTATE."""
    state = getattr(exc.orig, "sqlstate", None) or ""
    if state == "57014":
        return 504, ("the query took longer than the time limit (statement_timeout); narrow "
                     "it (smaller area, fewer rows) and try again")
    if state == "25006":
        return 503, "the database is read-only at the moment (maintenance); writes are refused"
    if state.startswith("53"):
        return 503, "the database is out of resources (disk full?); nothing was written"
    if state.startswith("22"):
        return 400, "the database refused a value in the request: " + _first_line(exc)
    if not state and isinstance(exc.orig, psycopg.DataError):  # refused before sending
        return 400, "the request holds a value the database cannot store (e.g. a NUL character)"
    if state.startswith(("08", "57P")) or exc.connection_invalidated or (
            not state and isinstance(exc, OperationalError)):
        return 503, "the database is unavailable; try again shortly"
    return 500, "internal error"


def _first_line(exc: DBAPIError) -> str:
    return str(exc.orig).splitlines()[0][:200] if exc.orig else ""


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """The JSON reply for any SQLAlchemy database error."""
    assert isinstance(exc, DBAPIError)
    status, message = classify(exc)
    request_id = getattr(request.state, "request_id", None)
    level = logging.ERROR if status == 500 else logging.WARNING
    log.log(level, "database error", extra={"request_id": request_id, "status": status,
                                            "sqlstate": getattr(exc.orig, "sqlstate", None),
                                            "error": _first_line(exc)})
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": message, "request_id": request_id}, status_code=status,
                        headers=headers)
