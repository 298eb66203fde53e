"""HTTP helpers shared by the OGC routes: format negotiation, links, conditional requests."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import urlencode

from starlette.requests import Request

from geo_service.access import Principal
from geo_service.errors import GeoServiceError

FORMATS = {"json", "geojson", "html"}


class FormatError(GeoServiceError):
    """An f= value the endpoint does not offer."""

    status_code = 400


def base_url(request: Request) -> str:
    """The service's root URL as the client sees it (no trailing slash)."""
    return str(request.base_url).rstrip("/")


def single_params(request: Request) -> dict[str, str]:
    """Query parameters as a dict; a repeated parameter is a 400."""
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        if key in params:
            raise FormatError(f"parameter {key!r} given more than once")
        params[key] = value
    return params


def wants_html(request: Request, params: dict[str, str] | None = None) -> bool:
    """f=html, or no f and a browser-like Accept header that prefers HTML to JSON."""
    f = (params or {}).get("f", request.query_params.get("f"))
    if f:
        if f not in FORMATS:
            raise FormatError(f"f: {f!r} is not offered here; use json or html")
        return f == "html"
    accept = request.headers.get("accept", "")
    if "text/html" not in accept:
        return False
    html_at = accept.find("text/html")
    json_at = min((i for i in (accept.find("json"),) if i >= 0), default=len(accept))
    return html_at < json_at


def url_with(base: str, params: dict[str, str], **changes: str | int | None) -> str:
    """`base` with the query `params`, some replaced (None removes one)."""
    merged = dict(params)
    for key, value in changes.items():
        key = key.replace("_", "-") if key in ("bbox_crs", "filter_lang", "filter_crs") else key
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return f"{base}?{urlencode(merged)}" if merged else base


def http_date(moment: datetime | None) -> str | None:
    """RFC 7231 date for Last-Modified."""
    return format_datetime(moment.astimezone(UTC), usegmt=True) if moment else None


def not_modified(request: Request, etag: str) -> bool:
    """True when If-None-Match names this ETag (weak comparison, as RFC 7232 says for GET)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def cache_headers(principal: Principal, etag: str, modified: datetime | None,
                  max_age: int = 0) -> dict[str, str]:
    """ETag, Last-Modified, Cache-Control (private for staff views) and Vary."""
    scope = "public" if principal.is_anonymous else "private"
    headers = {"ETag": etag, "Cache-Control": f"{scope}, max-age={max_age}, must-revalidate",
               "Vary": "Accept, Authorization, Cookie"}
    last = http_date(modified)
    if last:
        headers["Last-Modified"] = last
    return headers


def now_stamp() -> str:
    """The response's timeStamp."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
