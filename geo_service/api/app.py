"""The composition root: settings, engine, middleware, error replies and every router."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from starlette.middleware.gzip import GZipMiddleware

from geo_service import __version__
from geo_service.api.routes import admin, auth, edit, health, layers, ops
from geo_service.api.routes import boundaries as boundaries_routes
from geo_service.api.routes import care_map as care_map_routes
from geo_service.api.routes import coverage as coverage_routes
from geo_service.api.routes import docs as docs_routes
from geo_service.api.routes import network as network_routes
from geo_service.api.routes import ogc as ogc_routes
from geo_service.api.routes import ogc_tiles as ogc_tiles_routes
from geo_service.api.routes import places as places_routes
from geo_service.api.routes import uploads as uploads_routes
from geo_service.auth.throttle import LoginThrottle
from geo_service.errors import GeoServiceError
from geo_service.maps import vendor
from geo_service.ogc.cors import CorsPolicy, OgcCors, origin_list
from geo_service.ogc.tile_cache import LayerVersionCache, TileCache
from geo_service.ops import logs, roles_doc
from geo_service.ops.errors import (
    database_error,
    document_error_bodies,
    unicode_error,
    validation_error,
)
from geo_service.ops.metrics import Metrics
from geo_service.ops.middleware import CsrfGuard, RequestContext, ResponseHeaders
from geo_service.ops.ratelimit import TokenBuckets
from geo_service.settings import Settings


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the configured database engine for the app's lifetime (unless one was given)."""
    from geo_service.auth.dbrole import configured_role, use_app_role
    from geo_service.db.engine import fill_pool, open_engine

    settings: Settings = app.state.settings
    if getattr(app.state, "engine", None) is None:
        app.state.engine = open_engine(settings.database)
        use_app_role(app.state.engine, configured_role(settings))
        fill_pool(app.state.engine, settings.database.pool_size)
    if getattr(app.state, "freeze_gc", False):
        # start-up's objects (imports, catalogue, pool) leave the collector's scans: a full
        # collection then takes milliseconds, not ~170 ms in the middle of requests
        gc.collect()
        gc.freeze()
    yield
    app.state.engine.dispose()


def serving_app() -> FastAPI:
    """The app as `geo-service serve` runs it in each worker process (start-up frozen for GC)."""
    app = create_app()
    app.state.freeze_gc = True
    return app


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status_code", 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """The geo_service HTTP application (on `engine`, or the configured database)."""
    settings = settings or Settings()
    app = FastAPI(
        title="geo_service 民政地理信息服务",
        description="大足区民政局的养老、殡葬、儿童服务设施、行政区划和地名图层。",
        version=__version__,
        lifespan=lifespan,
        root_path=settings.server.root_path.rstrip("/"),
        docs_url=None,  # /docs is served from the vendored swagger-ui-dist (routes/docs.py)
        redoc_url=None,
    )
    app.state.settings = settings
    vendor.use(settings.web.node_modules)
    app.state.engine = engine
    logs.configure()
    limits = settings.limits
    app.state.metrics = Metrics()
    app.state.verified_tokens = {}
    workers = max(1, settings.server.workers)  # `serve` sets how many share the limit
    app.state.rate_buckets = TokenBuckets(limits.rate_limit_per_s / workers,
                                          max(1, limits.rate_limit_burst // workers))
    app.state.tile_cache = TileCache(settings.server.tile_cache_mb * 2**20)  # per worker
    app.state.layer_versions = LayerVersionCache(settings.server.tile_version_ttl_s)
    app.state.login_throttle = LoginThrottle(settings.auth.login_max_failures,
                                             settings.auth.login_window_s,
                                             settings.auth.login_lockout_s)
    app.add_exception_handler(GeoServiceError, _service_error)
    app.add_exception_handler(DBAPIError, database_error)  # OperationalError included
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(UnicodeError, unicode_error)
    # middleware, innermost first: page/staff headers, the CSRF guard, then request context
    app.add_middleware(ResponseHeaders)  # staff answers private/no-store; CSP on pages
    app.add_middleware(CsrfGuard, cookie_name=settings.auth.cookie_name)  # cookie writes
    app.add_middleware(RequestContext, max_body_bytes=limits.max_body_bytes,
                       buckets=app.state.rate_buckets, metrics=app.state.metrics,
                       verified_tokens=app.state.verified_tokens,
                       cookie_name=settings.auth.cookie_name)
    cors = CorsPolicy(origin_list(settings.server.cors_origins),
                      origin_list(settings.server.cors_credential_origins))
    app.add_middleware(OgcCors, policy=cors,  # outermost: answers preflights first
                       cookie_name=settings.auth.cookie_name)
    # pages, JSON, JS, CSS on phones; level 1 (nginx's default): a third of level 6's CPU
    # on an items page, ~18% larger
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    # the busiest first (routes are matched in order): tiles share no path with any other;
    # the OGC GETs come after the edit routes (same paths, other methods: 405s unchanged)
    for router in (ogc_tiles_routes.router,  # OGC API – Tiles: /tiles, /tileMatrixSets
                   ops.router, auth.router, admin.router, edit.router,  # /ready, accounts, edits
                   ogc_routes.router,  # OGC API – Features: /, /collections, ...
                   health.router, docs_routes.router,  # /docs: Swagger UI, vendored
                   layers.router,
                   places_routes.router,  # the gazetteer: /places/...
                   care_map_routes.router,  # /map, /vendor, /map/api (public care map)
                   coverage_routes.router,  # /coverage, /indicators (planners)
                   network_routes.router,  # /network, /network/isochrones (planners)
                   boundaries_routes.router,  # /boundaries/... (staff: lines, 联检, disputes)
                   uploads_routes.router):  # /uploads/ (data editors: preview and load files)
        app.include_router(router)
    roles_doc.install(app)  # every endpoint's summary states its role
    document_error_bodies(app)  # 422: field list or message
    return app
