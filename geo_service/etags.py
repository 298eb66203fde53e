"""Entity tags for features: one rule, shared by reads (ETag) and writes (If-Match)."""

from __future__ import annotations

from datetime import datetime


def feature_etag(row_id: int, updated_at: datetime) -> str:
    """Strong ETag of a feature version: its id and the microsecond it was last changed."""
    stamp = int(updated_at.timestamp() * 1_000_000)
    return f'"{row_id}-{stamp:x}"'
