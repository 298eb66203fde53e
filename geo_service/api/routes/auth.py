"""Login and logout: OAuth2 password flow (bearer tokens) and a session cookie for the web app."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import Engine

from geo_service import audit
from geo_service.access import Principal, Role
from geo_service.api.deps import (
    bearer_token,
    get_engine_dep,
    get_principal,
    get_settings,
    require,
)
from geo_service.auth import tokens
from geo_service.auth import users as accounts
from geo_service.auth.throttle import LoginThrottle

router = APIRouter(tags=["accounts"])
EngineDep = Annotated[Engine, Depends(get_engine_dep)]


def login_throttle(request: Request) -> LoginThrottle:
    """The app's login throttle (one per process, made in create_app)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _authenticate(request: Request, engine: Engine, username: str,
                  password: str) -> tuple[accounts.User, str, datetime]:
    """Check the password under throttling; a token on success, 401 / 429 otherwise."""
    throttle = login_throttle(request)
    client = _client(request)
    wait = throttle.retry_after(engine, username, client)
    if wait:
        raise HTTPException(429, f"too many failed logins for {username!r}; try again in "
                                 f"{wait} s", headers={"Retry-After": str(wait)})
    settings = get_settings(request).auth
    with engine.begin() as conn:
        user = accounts.check_login(conn, username, password)
        if user is not None:
            token, expires = tokens.issue(conn, user, settings.token_ttl_minutes,
                                          f"{client} {request.headers.get('user-agent', '')}"
                                          [:200])
            audit.record(conn, Principal(user.username, user.role), "login", "users", user.username,
                         request_id=getattr(request.state, "request_id", None))
    if user is None:
        locked = throttle.failed(engine, username, client)
        headers = {"WWW-Authenticate": "Bearer"}
        if locked:
            raise HTTPException(429, f"too many failed logins for {username!r}; try again in "
                                     f"{locked} s", headers={"Retry-After": str(locked)})
        raise HTTPException(401, "wrong user name or password (or the account is disabled)",
                            headers=headers)
    throttle.succeeded(engine, username, client)
    return user, token, expires


@router.post("/auth/token", summary="Log in, get a bearer token (OAuth2 password flow; public)")
def issue_token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
                engine: EngineDep) -> dict:
    """Send `username` and `password` as a form; use the token as `Authorization: Bearer …`."""
    user, token, expires = _authenticate(request, engine, form.username, form.password)
    ttl = int((expires - datetime.now(expires.tzinfo)).total_seconds())
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl,
            "username": user.username, "role": user.role.value}


@router.post("/auth/login", summary="Log in with a session cookie, for the web app (public)")
def cookie_login(request: Request, username: Annotated[str, Form(max_length=200)],
                 password: Annotated[str, Form(max_length=1000)],
                 engine: EngineDep) -> JSONResponse:
    """Sets an HttpOnly, SameSite=Strict cookie (Secure over https) holding the token."""
    user, token, expires = _authenticate(request, engine, username, password)
    response = JSONResponse({"username": user.username, "role": user.role.value,
                             "expires_at": expires.isoformat()})
    secure = request.url.scheme == "https"
    response.set_cookie(get_settings(request).auth.cookie_name, token, expires=expires,
                        httponly=True, samesite="strict", secure=secure,
                        path=request.scope.get("root_path") or "/")
    return response


@router.post("/auth/logout", summary="Log out: the token or cookie stops working (any user)")
def logout(request: Request, engine: EngineDep,
           who: Annotated[Principal, Depends(get_principal)]) -> JSONResponse:
    """Revokes the bearer token or session cookie of this request."""
    token, _ = bearer_token(request)
    revoked = False
    if token:
        with engine.begin() as conn:
            revoked = tokens.revoke(conn, token)
            if revoked:
                audit.record(conn, who, "logout", "users", who.username,
                             request_id=getattr(request.state, "request_id", None))
    response = JSONResponse({"detail": "logged out" if revoked else "no session to end"})
    response.delete_cookie(get_settings(request).auth.cookie_name,
                           path=request.scope.get("root_path") or "/")
    return response


@router.get("/auth/me", summary="Who am I: user name and role (public)")
def whoami(who: Annotated[Principal, Depends(get_principal)]) -> dict:
    """The caller's name and role (`public` when not logged in)."""
    return {"username": who.username, "role": who.role.value,
            "authenticated": not who.is_anonymous}


@router.get("/admin/users", summary="Every user account (admin)")
def list_accounts(engine: EngineDep,
                  _: Annotated[Principal, Depends(require(Role.admin))]) -> dict:
    """Names, roles, whether active, last login; never password hashes."""
    with engine.connect() as conn:
        return {"users": [u.as_dict() for u in accounts.list_users(conn)]}
