"""FastAPI dependencies shared by every route."""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import Engine

from geo_service.access import ANONYMOUS, Principal


def get_engine_dep(request: Request) -> Engine:
    """The app's database engine."""
    return request.app.state.engine


def get_principal(request: Request) -> Principal:
    """The caller; anonymous until the accounts module authenticates requests."""
    return getattr(request.state, "principal", ANONYMOUS)
