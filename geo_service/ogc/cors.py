"""CORS for the public OGC API, so web maps on other origins (MapLibre, OpenLayers) read it.

Only GET/HEAD of the OGC paths (landing, /api, /conformance, /collections…, /tiles…,
/tileMatrixSets…) are shared. A request carrying the login cookie gets CORS headers only
from an origin listed in GEO_SERVICE_CORS_CREDENTIAL_ORIGINS (then with credentials), so a
staff member's browser never hands non-public data to another site.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OGC_PREFIXES = ("/collections", "/tiles", "/tileMatrixSets")
OGC_PATHS = {"/", "/api", "/conformance"}
METHODS = "GET, HEAD, OPTIONS"
# Authorization lets a script send its own bearer token (not an ambient credential).
ALLOWED_HEADERS = "Accept, Accept-Language, If-None-Match, If-Modified-Since, Authorization"
EXPOSED = "Content-Crs, ETag, Last-Modified, Link, Content-Disposition"
PREFLIGHT_MAX_AGE = "600"


def origin_list(value: str) -> frozenset[str]:
    """A comma-separated setting → a set of origins (no trailing slashes)."""
    return frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())


def is_ogc_path(path: str) -> bool:
    """True for the public OGC API resources."""
    return path in OGC_PATHS or any(path == p or path.startswith(p + "/")
                                    for p in OGC_PREFIXES)


@dataclass(frozen=True)
class CorsPolicy:
    """Which origins may read the OGC API: anonymously, and with the login cookie."""

    origins: frozenset[str]
    credential_origins: frozenset[str] = frozenset()

    def headers(self, origin: str, with_cookie: bool,
                preflight: bool = False) -> list[tuple[bytes, bytes]]:
        """CORS response headers for this origin (empty when it may not read the response)."""
        if origin in self.credential_origins:
            out = [("access-control-allow-origin", origin),
                   ("access-control-allow-credentials", "true")]
        elif with_cookie or not ("*" in self.origins or origin in self.origins):
            return []
        else:
            out = [("access-control-allow-origin", "*" if "*" in self.origins else origin)]
        if preflight:
            out += [("access-control-allow-methods", METHODS),
                    ("access-control-allow-headers", ALLOWED_HEADERS),
                    ("access-control-max-age", PREFLIGHT_MAX_AGE)]
        else:
            out.append(("access-control-expose-headers", EXPOSED))
        return [(k.encode(), v.encode()) for k, v in out]


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return ""


def _has_cookie(scope: Scope, cookie_name: str) -> bool:
    raw = _header(scope, b"cookie")
    if not raw:
        return False
    try:
        return cookie_name in SimpleCookie(raw)
    except CookieError:
        return cookie_name in raw  # unparsable: assume it is there (the safe side)


class OgcCors:
    """ASGI middleware: answers OGC preflights and HEAD, adds CORS headers to GET/HEAD replies."""

    def __init__(self, app: ASGIApp, policy: CorsPolicy, cookie_name: str) -> None:
        self.app = app
        self.policy = policy
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass non-OGC requests through untouched."""
        origin = _header(scope, b"origin").rstrip("/")
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        if scope["type"] != "http" or not is_ogc_path(path):
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        if origin and method == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await self._preflight(scope, origin, send)
            return
        extra = (self.policy.headers(origin, _has_cookie(scope, self.cookie_name))
                 if origin and method in ("GET", "HEAD") else [])
        head = method == "HEAD"
        if head:  # HEAD is the GET without its body (the routes are GET-only)
            scope = {**scope, "method": "GET"}

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                # Every OGC reply varies on Origin, so a shared cache never hands one
                # origin's answer (with or without CORS headers) to another.
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                vary = [v.decode("latin-1") for k, v in headers if k.lower() == b"vary"]
                headers = [(k, v) for k, v in headers if k.lower() != b"vary"]
                headers.append((b"vary", ", ".join([*vary, "Origin"]).encode("latin-1")))
                message["headers"] = headers + extra
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, scope: Scope, origin: str, send: Send) -> None:
        wanted = _header(scope, b"access-control-request-method").upper()
        headers = (self.policy.headers(origin, False, preflight=True)
                   if wanted in ("GET", "HEAD") else [])
        headers.append((b"vary", b"Origin, Access-Control-Request-Method, "
                                 b"Access-Control-Request-Headers"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
