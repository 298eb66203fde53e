"""Settings: one class per concern, read from GEO_SERVICE_* variables, gathered in `Settings`.

`Settings()` is built once per process, by the composition roots (`create_app` and the CLI's
callback), and passed down; nothing else reads the environment. State folders default to the
current working directory (`.local_db`, `.media`), never to where the source code lies; the
pages' npm packages default to the checkout's `web_map/node_modules`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo_service.resources import package_path

DEFAULT_DISTRICT_CODE = "500111000000"  # 重庆市大足区
DEFAULT_DISTRICT_TOLERANCE_M = 200.0
_ENV = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")


def _here(*parts: str) -> Path:
    """A path under the current working directory (resolved when the settings are read)."""
    return Path.cwd().joinpath(*parts)


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is: an external URL, or the embedded local cluster."""

    model_config = _ENV

    database_url: str | None = Field(
        default=None, description="postgresql:// URL of an external PostGIS; unset = local cluster"
    )
    local_dir: Path = Field(default_factory=lambda: _here(".local_db"),
                            description="Folder of the embedded PostGIS cluster")
    local_port: int = Field(default=54329, description="Port of the embedded cluster (loopback)")
    local_database: str = "geo_service"
    statement_timeout_ms: int = Field(default=30_000, description="Per-statement time limit")
    pool_size: int = Field(
        default=10, ge=1, description="database connections each process keeps open; a "
        "request beyond them opens one that is closed again after use (and loses its "
        "prepared statements), so keep it at the concurrent requests a worker serves")


class DataSettings(BaseSettings):
    """The district served, and where uploaded media and reference data live."""

    model_config = _ENV

    district_code: str = Field(default=DEFAULT_DISTRICT_CODE, description="The district served")
    district_tolerance_m: float = Field(
        default=DEFAULT_DISTRICT_TOLERANCE_M,
        description="How far outside the district outline a site may lie")
    media_dir: Path = Field(default_factory=lambda: _here(".media"),
                            description="Uploaded photos, stored by content hash")
    shared_data_dir: Path = Field(
        default_factory=lambda: _here("..", "shared", "data"),
        description="Reference data the sample is rebuilt from (geo-service sample --rebuild)")
    walk_kmh: float = Field(
        default=3.6, gt=0, le=10,
        description="Walking speed along roads (older people, 1.0 m/s; see network/speeds.py)")


class ServerSettings(BaseSettings):
    """HTTP server defaults and the public URL prefix behind a reverse proxy."""

    model_config = _ENV

    host: str = "127.0.0.1"
    port: int = 8000
    root_path: str = Field(default="", description="URL prefix the proxy serves us under")
    public_url: str = Field(
        default="", description="The service's address as users reach it (QR codes in reports "
        "written by the CLI); unset = http://host:port")
    workers: int = Field(default=0, ge=0,
                         description="worker processes of `serve` (0 = one per CPU core; `serve` "
                                     "sets it for its workers, each of which allows "
                                     "1/workers of the anonymous rate limit)")

    tile_cache_mb: int = Field(
        default=64, ge=0, description="encoded vector tiles kept in memory by each worker "
                                      "(MiB; 0 = no tile cache)")
    access_log: bool = Field(
        default=False, description="also write uvicorn's plain-text access line per request, "
        "query string included (off: the JSON request log has no query strings, which carry "
        "residents' searches and positions)")
    tile_version_ttl_s: float = Field(
        default=1.0, ge=0, le=60,
        description="seconds each worker trusts its last read of the layer versions, so a "
                    "cached tile is answered without a database round trip; a row change "
                    "reaches tiles within this time (0 = read them for every tile)")

    def worker_count(self) -> int:
        """The number of worker processes (`workers`, or one per core when 0)."""
        return self.workers or os.cpu_count() or 1
    cors_origins: str = Field(
        default="*", description="Origins (comma-separated, * = any) whose web pages may read "
        "the public OGC API anonymously (GET/HEAD)")
    cors_credential_origins: str = Field(
        default="", description="Origins (comma-separated) whose pages may read the OGC API "
        "with a staff member's login cookie; none by default")


class WebSettings(BaseSettings):
    """Where the web pages' npm packages (Leaflet and its plugins) are installed."""

    model_config = _ENV

    node_modules: Path = Field(
        default_factory=lambda: package_path("web_map", "node_modules"),
        description="node_modules of web_map/package.json (npm ci --prefix web_map); default: "
                    "the checkout's web_map/node_modules")


class AuthSettings(BaseSettings):
    """Token lifetime, the login cookie, brute-force throttling, the app's database role."""

    model_config = _ENV

    token_ttl_minutes: int = Field(default=30, ge=1, description="Lifetime of a login token")
    cookie_name: str = "geo_service_session"
    login_max_failures: int = Field(default=5, ge=1, description="Failures before a lockout")
    login_window_s: int = Field(default=900, ge=1, description="Window the failures count in")
    login_lockout_s: int = Field(default=300, ge=1, description="Lockout after too many")
    app_role: str | None = Field(
        default=None,
        description="Database role the service runs as; unset = geo_service_app on the local "
                    "cluster, the connecting role on an external database; '' = never switch",
    )


class LimitSettings(BaseSettings):
    """Request body size and the anonymous rate limit."""

    model_config = _ENV

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    rate_limit_per_s: float = Field(default=100.0, ge=0, description="0 = no rate limit")
    rate_limit_burst: int = Field(default=400, ge=1)


class BasemapSettings(BaseSettings):
    """GEO_SERVICE_MAP_BASEMAP (none | tianditu | amap), the 天地图 key and the 审图号."""

    model_config = _ENV

    map_basemap: str = Field(default="none", description="none | tianditu | amap")
    tianditu_key: str | None = Field(default=None, description="the bureau's 天地图 key (tk)")
    map_review_number: str | None = Field(
        default=None, description="审图号 of the configured basemap, shown on the map")


class Settings(BaseModel):
    """Every setting of one process; `Settings()` reads the environment once."""

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    basemap: BasemapSettings = Field(default_factory=BasemapSettings)

