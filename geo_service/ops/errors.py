"""Failures as clear JSON answers: database timeouts 504, read-only / full / down 503; bad
request bodies (NaN, lone surrogates) 422 / 400 instead of a 500."""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
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


def _json_safe(value: Any) -> Any:
    """A value JSON can carry: NaN and infinities as text, lone surrogates escaped."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request that fails validation, safe to serialise whatever it held."""
    assert isinstance(exc, RequestValidationError)
    detail = _json_safe(jsonable_encoder(exc.errors()))
    return JSONResponse({"detail": detail}, status_code=422)


async def unicode_error(request: Request, exc: Exception) -> JSONResponse:
    """400 for text that is not valid Unicode (a lone surrogate such as \\ud800 in JSON)."""
    return JSONResponse({"detail": "the request holds text that is not valid Unicode (an "
                                   "unpaired surrogate such as \\ud800); send real characters",
                         "request_id": getattr(request.state, "request_id", None)},
                        status_code=400)


def document_error_bodies(app: FastAPI) -> None:
    """The OpenAPI 422 body as the service sends it: the field list, or a message (object)."""
    build = app.openapi

    def openapi() -> dict:
        schema = build()
        error = schema.get("components", {}).get("schemas", {}).get("HTTPValidationError")
        if error and "anyOf" not in error["properties"]["detail"]:
            fields = error["properties"]["detail"]
            error["properties"]["detail"] = {"title": "Detail", "anyOf": [
                fields, {"type": "string", "description": "what is wrong, and where"},
                {"type": "object", "description": "a message and the problems found",
                 "properties": {"message": {"type": "string"},
                                "problems": {"type": "array", "items": {"type": "object"}}}}]}
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
