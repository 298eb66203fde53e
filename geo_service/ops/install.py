"""Wire the operational pieces into an app: middleware, error replies, routes, DB role."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from geo_service.auth.config import AuthSettings, LimitSettings
from geo_service.ops import logs, roles_doc
from geo_service.ops.errors import (
    database_error,
    document_error_bodies,
    unicode_error,
    validation_error,
)
from geo_service.ops.metrics import Metrics
from geo_service.ops.middleware import RequestContext
from geo_service.ops.ratelimit import TokenBuckets


def install(app: FastAPI) -> None:
    """Add request ids, limits, metrics, JSON logs, DB error replies and the account routes."""
    from geo_service.api.routes import admin, auth, edit, ops

    logs.configure()
    limits = LimitSettings()
    app.state.metrics = Metrics()
    app.state.verified_tokens = {}
    app.state.rate_buckets = TokenBuckets(limits.rate_limit_per_s, limits.rate_limit_burst)
    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(OperationalError, database_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(UnicodeError, unicode_error)
    app.add_middleware(RequestContext, max_body_bytes=limits.max_body_bytes,
                       buckets=app.state.rate_buckets, metrics=app.state.metrics,
                       verified_tokens=app.state.verified_tokens,
                       cookie_name=AuthSettings().cookie_name)
    root_path = os.environ.get("GEO_SERVICE_ROOT_PATH", "")
    if root_path:
        app.root_path = root_path.rstrip("/")
    for router in (ops.router, auth.router, admin.router, edit.router):
        app.include_router(router)
    roles_doc.install(app)  # every endpoint's summary states its role
    document_error_bodies(app)  # 422: field list or message
