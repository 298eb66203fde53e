"""FastAPI dependencies shared by every route: the engine, the caller, and role checks."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from geo_service.access import ANONYMOUS, Principal, Role
from geo_service.settings import Settings


async def get_engine_dep(request: Request) -> Engine:
    """The app's database engine (async: no worker thread for a lookup)."""
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    """The app's settings (built once, in create_app)."""
    return request.app.state.settings


def bearer_token(request: Request) -> tuple[str | None, str]:
    """The login token of a request and where it came from ('bearer', 'cookie' or '')."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(request.app.state.settings.auth.cookie_name)
    return (cookie, "cookie") if cookie else (None, "")


async def get_principal(request: Request) -> Principal:
    """The caller: the user of a live bearer token or session cookie, else anonymous.

    A bearer token that is unknown, expired or revoked is a 401 (so clients know to log in
    again); a stale cookie simply browses as the public. Anonymous callers cost no worker
    thread; a token is looked up in the database on one.
    """
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token, _ = bearer_token(request)
    principal = await run_in_threadpool(_principal_of, request) if token else ANONYMOUS
    request.state.principal = principal
    return principal


def _principal_of(request: Request) -> Principal:
    """The user of the request's token (database look-up), or anonymous for a stale cookie."""
    token, source = bearer_token(request)
    principal = ANONYMOUS
    if token:
        from geo_service.auth import tokens

        with request.app.state.engine.connect() as conn:
            found = tokens.resolve(conn, token)
        if found is None and source == "bearer":
            raise HTTPException(401, "the login token is invalid or has expired; log in again",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        principal = found or ANONYMOUS
        verified = getattr(request.app.state, "verified_tokens", None)
        if found is not None and verified is not None:  # exempt from the anonymous rate limit
            from geo_service.ops.middleware import token_key

            if len(verified) > 10_000:
                verified.clear()
            verified[token_key(token)] = time.monotonic()
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting callers with one of `roles` (admin always): 401 / 403 otherwise."""
    names = ", ".join(r.value for r in roles) or "admin"

    async def dependency(principal: Principal = Depends(get_principal)  # noqa: B008
                         ) -> Principal:
        if principal.is_anonymous:
            raise HTTPException(401, f"log in first: this needs the role {names}",
                                headers={"WWW-Authenticate": "Bearer"})
        if not principal.has(*roles):
            raise HTTPException(403, f"your role {principal.role.value} may not do this; "
                                     f"it needs {names}")
        return principal

    dependency.__doc__ = f"Admits the roles: {names} (and admin)."
    dependency.roles = names  # type: ignore[attr-defined]  # read by ops.roles_doc
    return dependency
