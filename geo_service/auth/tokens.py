"""Login sessions: short-lived opaque bearer tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, select

from geo_service.access import Principal, Role
from geo_service.auth.users import User
from geo_service.db.models import sessions, users


def token_hash(token: str) -> str:
    """The stored form of a token (the token itself is never stored)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def issue(
    conn: Connection, user: User, ttl_minutes: int, client: str | None
) -> tuple[str, datetime]:
    """A new token for the user and its expiry time."""
    token = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(minutes=ttl_minutes)
    conn.execute(sessions.insert().values(token_hash=token_hash(token), user_id=user.id,
                                          expires_at=expires, client=client))
    conn.execute(sessions.delete().where(sessions.c.expires_at < func.now() - timedelta(days=1)))
    return token, expires


def resolve(conn: Connection, token: str) -> Principal | None:
    """The user a live token belongs to (not expired, not revoked, account active)."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        select(users.c.username, users.c.role)
        .select_from(sessions.join(users, users.c.id == sessions.c.user_id))
        .where(sessions.c.token_hash == token_hash(token), sessions.c.revoked_at.is_(None),
               sessions.c.expires_at > func.now(), users.c.is_active.is_(True))
    ).first()
    return Principal(row.username, Role(row.role)) if row else None


def revoke(conn: Connection, token: str) -> bool:
    """End a session; False if the token was not live."""
    result = conn.execute(sessions.update().where(sessions.c.token_hash == token_hash(token),
                                                  sessions.c.revoked_at.is_(None))
                          .values(revoked_at=func.now()))
    return result.rowcount > 0
