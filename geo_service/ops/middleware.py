"""One ASGI middleware per request: id, body and rate limits, metrics, log, last-resort 500."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo_service.ops.metrics import Metrics
from geo_service.ops.ratelimit import TokenBuckets

log = logging.getLogger("geo_service.requests")
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
UNLIMITED_PATHS = frozenset({"/health", "/ready", "/metrics"})


class BodyTooLargeError(Exception):
    """The request body passed the size limit while being read."""


def _json(status: int, payload: dict, extra_headers: list[tuple[bytes, bytes]]) -> list[Message]:
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), *extra_headers]
    return [{"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body}]


def token_key(token: str) -> str:
    """Short hash of a credential, to remember recently verified ones."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()[:32]


class RequestContext:
    """Wraps the app: request id in and out, limits, Prometheus metrics and a JSON access log."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, buckets: TokenBuckets,
                 metrics: Metrics, verified_tokens: dict[str, float], cookie_name: str) -> None:
        self.app = app
        self.max_body = max_body_bytes
        self.buckets = buckets
        self.metrics = metrics
        self.verified = verified_tokens
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if _GOOD_ID.fullmatch(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        status = {"code": 500, "started": False}
        overflow = {"hit": False}

        async def emit(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message = {**message, "headers": [*message.get("headers", []), id_header]}
            await send(message)

        async def send_wrapper(message: Message) -> None:
            if overflow["hit"] and not status["started"]:
                return  # the app's reply to a cut-off body is replaced by the 413 below
            await emit(message)

        async def reply(code: int, payload: dict, extra: list[tuple[bytes, bytes]]) -> None:
            for message in _json(code, {**payload, "request_id": request_id}, extra):
                await emit(message)

        client = (scope.get("client") or ("unknown", 0))[0]
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if "\x00" in scope.get("path", ""):
            await reply(400, {"detail": "the address holds a NUL character (%00); remove it"},
                        [])
        elif declared > self.max_body:
            await reply(413, {"detail": self._too_large()}, [])
        elif (wait := await self._rate_wait(scope, headers, client)) > 0:
            await reply(429, {"detail": "too many requests from your address; slow down"},
                        [(b"retry-after", TokenBuckets.retry_after(wait).encode())])
        else:
            try:
                await self.app(scope, self._counting(receive, overflow), send_wrapper)
                if overflow["hit"] and not status["started"]:
                    await reply(413, {"detail": self._too_large()}, [])
            except BodyTooLargeError:
                if status["started"]:
                    raise
                await reply(413, {"detail": self._too_large()}, [])
            except Exception:
                log.exception("unhandled error", extra={"request_id": request_id,
                                                        "path": scope.get("path")})
                if status["started"]:
                    raise
                await reply(500, {"detail": "internal error"}, [])
        self._record(scope, status["code"], time.perf_counter() - started, request_id, client)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body} bytes"

    def _counting(self, receive: Receive, overflow: dict[str, bool]) -> Receive:
        """A receive that fails once the body passes the limit (chunked uploads too)."""
        seen = 0

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    overflow["hit"] = True
                    raise BodyTooLargeError
            return message

        return wrapped

    async def _rate_wait(self, scope: Scope, headers: dict[str, str], client: str) -> float:
        """Seconds to wait for an anonymous caller over the rate limit (0 = go ahead)."""
        if scope.get("path") in UNLIMITED_PATHS:
            return 0.0
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            token = _cookie(headers.get("cookie", ""), self.cookie_name) or ""
        token = token.strip()
        key = token_key(token) if token else ""
        seen = self.verified.get(key) if token else None
        if seen is not None and time.monotonic() - seen < 60:
            return 0.0
        wait = self.buckets.take(client)
        if wait and token and await run_in_threadpool(self._token_is_live, scope, token):
            if len(self.verified) > 10_000:
                self.verified.clear()
            self.verified[key] = time.monotonic()
            return 0.0
        return wait

    @staticmethod
    def _token_is_live(scope: Scope, token: str) -> bool:
        """Ask the database whether a token belongs to a logged-in user."""
        from geo_service.auth import tokens

        try:
            with scope["app"].state.engine.connect() as conn:
                return tokens.resolve(conn, token) is not None
        except Exception:  # database trouble: treat as anonymous
            return False

    def _record(self, scope: Scope, code: int, seconds: float, request_id: str,
                client: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        self.metrics.observe(method, template, code, seconds)
        principal: Any = scope.get("state", {}).get("principal")
        log.info("request", extra={
            "request_id": request_id, "method": method, "path": scope.get("path"),
            "route": template, "status": code, "ms": round(seconds * 1000, 1),
            "client": client, "user": getattr(principal, "username", None)})


def _cookie(header: str, name: str) -> str | None:
    """One cookie's value from a Cookie header."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
STAFF_CACHE_CONTROL = b"private, no-store"
VARY_ON = ("Authorization", "Cookie")
# Pages the service renders itself: scripts and styles from this origin only (inline styles
# are allowed for Leaflet and the reports' print layout), never framed, no referrer across.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob: https://*.tianditu.gov.cn https://*.is.autonavi.com; "
            "connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
# Self-contained reports (inline scripts and data): a sandbox with no origin, no network.
REPORT_CSP = ("sandbox allow-scripts allow-popups allow-modals; default-src 'none'; "
              "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
              "font-src data:; frame-src data: blob:; frame-ancestors 'none'")
PAGE_HEADERS = ((b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                (b"x-content-type-options", b"nosniff"))


def _headers_of(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cross_site(headers: dict[str, str]) -> str | None:
    """Why a browser request is not from this service's own pages (None = same origin)."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return None if fetch_site in {"same-origin", "none"} else f"Sec-Fetch-Site {fetch_site}"
    origin = headers.get("origin")
    if origin is None:
        return "no Origin header"
    own = {h.strip() for h in (headers.get("host", ""),
                               headers.get("x-forwarded-host", "").split(",")[0]) if h.strip()}
    netloc = origin.partition("://")[2]
    return None if netloc and netloc in own else f"Origin {origin}"


class CsrfGuard:
    """403 for a state-changing request carried by the session cookie from another origin.

    A request that logs in or changes anything with the cookie (not a bearer token) must show
    it comes from the service's own pages: `Sec-Fetch-Site: same-origin`, or an `Origin`
    whose host is this service's. Bearer-token clients (scripts, QGIS) are unaffected.
    """

    def __init__(self, app: ASGIApp, *, cookie_name: str, login_path: str = "/auth/login"
                 ) -> None:
        self.app = app
        self.cookie_name = cookie_name
        self.login_path = login_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 403 for a cross-site cookie write."""
        if scope["type"] == "http" and scope.get("method") not in SAFE_METHODS:
            headers = _headers_of(scope)
            scheme, _, token = headers.get("authorization", "").partition(" ")
            bearer = scheme.lower() == "bearer" and token.strip()
            cookie = _cookie(headers.get("cookie", ""), self.cookie_name)
            if (cookie or scope.get("path") == self.login_path) and not bearer:
                why = _cross_site(headers)
                if why is not None and (cookie or "no Origin" not in why):
                    for message in _json(403, {"detail": (
                            f"refused: a change sent with the login cookie must come from this "
                            f"service's own pages ({why}); scripts use a bearer token")}, []):
                        await send(message)
                    return
        await self.app(scope, receive, send)


class ResponseHeaders:
    """Staff answers are never stored by shared caches; HTML pages get CSP and no framing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers on the way out."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                principal: Any = scope.get("state", {}).get("principal")
                headers = list(message.get("headers", []))
                if getattr(principal, "sees_private", False):
                    headers = _staff_headers(headers)
                names = {k.lower() for k, _ in headers}
                content_type = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    if b"content-security-policy" not in names:
                        headers.append((b"content-security-policy", PAGE_CSP.encode()))
                    headers += [h for h in PAGE_HEADERS if h[0] not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _staff_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Cache-Control private (no-store unless it already says private) and Vary on login."""
    out: list[tuple[bytes, bytes]] = []
    cache: bytes | None = None
    vary: list[str] = []
    for key, value in headers:
        name = key.lower()
        if name == b"cache-control":
            cache = value
        elif name == b"vary":
            vary += [v.strip() for v in value.decode("latin-1").split(",") if v.strip()]
        else:
            out.append((key, value))
    keep = cache is not None and b"private" in cache.lower() and b"public" not in cache.lower()
    out.append((b"cache-control", cache if keep and cache else STAFF_CACHE_CONTROL))
    seen = {v.lower() for v in vary}
    vary += [v for v in VARY_ON if v.lower() not in seen]
    out.append((b"vary", ", ".join(vary).encode("latin-1")))
    return out
