"""FastAPI application factory: lifespan opens the database, one error → status map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from geo_service import __version__
from geo_service.api.routes import health, layers
from geo_service.errors import GeoServiceError


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the configured database engine for the app's lifetime (unless one was given)."""
    from geo_service.db.engine import get_engine

    if getattr(app.state, "engine", None) is None:
        app.state.engine = get_engine()
    yield
    app.state.engine.dispose()


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "the database is unavailable; try again shortly"},
                        status_code=503)


def create_app(engine: Engine | None = None) -> FastAPI:
    """The geo_service HTTP application (on `engine`, or the configured database)."""
    app = FastAPI(
        title="geo_service 民政地理信息服务",
        description="大足区民政局的养老、殡葬、儿童服务设施、行政区划和地名图层。",
        version=__version__,
        lifespan=lifespan,
    )
    app.state.engine = engine
    app.add_exception_handler(GeoServiceError, _service_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.include_router(health.router)
    app.include_router(layers.router)
    return app
