"""Entity tags for features: one rule, shared by reads (ETag) and writes (If-Match)."""

from __future__ import annotations

from datetime import datetime

from geo_service.errors import PreconditionFailedError, PreconditionRequiredError


def feature_etag(row_id: int, updated_at: datetime) -> str:
    """Strong ETag of a feature version: its id and the microsecond it was last changed."""
    stamp = int(updated_at.timestamp() * 1_000_000)
    return f'"{row_id}-{stamp:x}"'


def require_match(if_match: str | None, etag: str, what: str, *, required: bool = True) -> None:
    """The one If-Match rule: 428 when missing (if required), 412 unless a tag (or *) matches."""
    if not if_match:
        if required:
            raise PreconditionRequiredError(
                f"{what}: send If-Match with the ETag you read (from GET or your last write), "
                "so that an edit made meanwhile is not overwritten")
        return
    tags = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if "*" not in tags and etag not in tags:
        raise PreconditionFailedError(
            f"{what} was changed by someone else since you read it (yours {if_match}, "
            f"current {etag}): read it again and reapply your edit")
