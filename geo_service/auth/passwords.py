"""Password hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo_service.errors import GeoServiceError

_HASHER = PasswordHasher()
MIN_LENGTH = 10
# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY = _HASHER.hash("not-a-real-password-0000")


class WeakPasswordError(GeoServiceError):
    """A password too short or too plain to accept."""

    status_code = 422


def check_strength(password: str) -> None:
    """Reject passwords shorter than MIN_LENGTH or made of one repeated character."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"the password must have at least {MIN_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPasswordError("the password needs at least 4 different characters")


def hash_password(password: str) -> str:
    """An argon2id hash of a password that passed `check_strength`."""
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches (spends the same time when there is no user)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
