"""Settings, one small pydantic-settings class per concern, read from GEO_SERVICE_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class DatabaseSettings(BaseSettings):
    """Where the PostGIS database is: an external URL, or the embedded local cluster."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="postgresql:// URL of an external PostGIS; unset = local cluster"
    )
    local_dir: Path = Field(
        default=REPO_ROOT / ".local_db", description="Folder of the embedded PostGIS cluster"
    )
    local_port: int = Field(default=54329, description="Port of the embedded cluster (loopback)")
    local_database: str = "geo_service"
    statement_timeout_ms: int = Field(default=30_000, description="Per-statement time limit")
    pool_size: int = 5


class DataSettings(BaseSettings):
    """Where layer definitions and reference data live."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    layers_dir: Path = REPO_ROOT / "layers"
    shared_data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    district_code: str = Field(default="500111000000", description="The district this serves")
    district_tolerance_m: float = Field(
        default=200.0, description="How far outside the district outline a site may lie"
    )
    media_dir: Path = Field(
        default=REPO_ROOT / ".media", description="Uploaded photos, stored by content hash"
    )


class ServerSettings(BaseSettings):
    """HTTP server defaults."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: str = Field(
        default="*", description="Origins (comma-separated, * = any) whose web pages may read "
        "the public OGC API anonymously (GET/HEAD)")
    cors_credential_origins: str = Field(
        default="", description="Origins (comma-separated) whose pages may read the OGC API "
        "with a staff member's login cookie; none by default")


@lru_cache
def database_settings() -> DatabaseSettings:
    """The process-wide database settings."""
    return DatabaseSettings()


@lru_cache
def data_settings() -> DataSettings:
    """The process-wide data settings."""
    return DataSettings()
