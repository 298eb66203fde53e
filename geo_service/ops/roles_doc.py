"""Every endpoint states its role: summaries that do not name one get it from `require`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

ROLE_WORDS = ("public", "any user", "planner", "officer", "data_editor", "editor", "admin",
              "staff")
_PAREN = re.compile(r"\(([^()]*)\)")


def states_role(summary: str) -> bool:
    """True when a parenthesised part of the summary names a role."""
    return any(w in part.lower() for part in _PAREN.findall(summary) for w in ROLE_WORDS)


def required_roles(dependant: Dependant) -> str | None:
    """The roles a route's `require(...)` admits (searched through sub-dependencies), or None."""
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "roles", None)
        if roles:
            return roles
        found = required_roles(sub)
        if found:
            return found
    return None


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI ≥ 0.16x keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from api_routes(nested.routes)


def label_roles(app: FastAPI) -> None:
    """Append '(public)' or '(ROLES)' to every route summary that does not state its role."""
    for route in api_routes(app.routes):
        summary = route.summary or route.name.replace("_", " ").title()
        if not states_role(summary):
            route.summary = f"{summary} ({required_roles(route.dependant) or 'public'})"


def install(app: FastAPI) -> None:
    """Label the summaries when the OpenAPI document is first built (after every router)."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            label_roles(app)
        return build()

    app.openapi = openapi  # type: ignore[method-assign]
