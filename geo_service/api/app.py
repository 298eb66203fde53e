"""FastAPI application factory: lifespan opens the database, one error → status map."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.middleware.gzip import GZipMiddleware

from geo_service import __version__
from geo_service.api.routes import boundaries as boundaries_routes
from geo_service.api.routes import care_map as care_map_routes
from geo_service.api.routes import coverage as coverage_routes
from geo_service.api.routes import health, layers
from geo_service.api.routes import ogc as ogc_routes
from geo_service.api.routes import ogc_tiles as ogc_tiles_routes
from geo_service.api.routes import places as places_routes
from geo_service.errors import GeoServiceError
from geo_service.ops.install import install as install_ops


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the configured database engine for the app's lifetime (unless one was given)."""
    from geo_service.db.engine import get_engine

    if getattr(app.state, "engine", None) is None:
        from geo_service.auth.dbrole import use_app_role

        app.state.engine = get_engine()
        use_app_role(app.state.engine)
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
    install_ops(app)  # request ids, limits, metrics, DB errors; accounts, editing, /ready
    app.add_middleware(GZipMiddleware, minimum_size=1024)  # pages, JSON, JS, CSS on phones
    app.include_router(health.router)
    app.include_router(layers.router)
    app.include_router(ogc_routes.router)  # OGC API – Features: /, /collections, ...
    app.include_router(ogc_tiles_routes.router)  # OGC API – Tiles: /tiles, /tileMatrixSets
    app.include_router(places_routes.router)  # the gazetteer: /places/...
    app.include_router(care_map_routes.router)  # /map, /vendor, /map/api (public care map)
    app.include_router(coverage_routes.router)  # /coverage, /indicators (planners)
    app.include_router(boundaries_routes.router)  # /boundaries/... (staff: lines, 联检, disputes)
    return app
