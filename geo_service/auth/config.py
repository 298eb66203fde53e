"""Settings of accounts, login throttling and request limits (GEO_SERVICE_* variables)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """Token lifetime, the login cookie, brute-force throttling, the app's database role."""

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

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

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    rate_limit_per_s: float = Field(default=100.0, ge=0, description="0 = no rate limit")
    rate_limit_burst: int = Field(default=400, ge=1)
