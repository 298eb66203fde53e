"""Idempotency keys: a retried POST (same caller, same key) returns the first answer."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.dialects.postgresql import insert

from geo_service.boundaries.errors import BoundaryInputError
from geo_service.db.models import idempotency_keys

MAX_KEY_LENGTH = 200


def request_hash(method: str, path: str, payload: Any) -> str:
    """Fingerprint of a request, so a key reused for a different request is refused."""
    text = json.dumps([method, path, payload], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def claim(conn: Connection, actor: str, key: str, fingerprint: str) -> tuple[int, Any] | None:
    """Claim the key in this transaction; if it was used before, the stored (status, body).

    The INSERT waits for a concurrent holder of the same key to finish, so two retries
    racing each other still produce one record.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise BoundaryInputError(f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} characters")
    claimed = conn.execute(insert(idempotency_keys).values(
        actor=actor, key=key, request_hash=fingerprint, status_code=0, response={})
        .on_conflict_do_nothing().returning(idempotency_keys.c.key)).first()
    if claimed is not None:
        return None
    row = conn.execute(select(idempotency_keys).where(idempotency_keys.c.actor == actor,
                                                      idempotency_keys.c.key == key)).one()
    if row.request_hash != fingerprint:
        raise BoundaryInputError(
            f"Idempotency-Key {key!r} was already used for a different request")
    return row.status_code, row.response


def complete(conn: Connection, actor: str, key: str, status: int, body: Any) -> None:
    """Store the answer under the claimed key (same transaction as the work)."""
    conn.execute(idempotency_keys.update().where(idempotency_keys.c.actor == actor,
                                                 idempotency_keys.c.key == key)
                 .values(status_code=status,
                         response=json.loads(json.dumps(body, default=str))))
