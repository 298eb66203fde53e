"""Password policy and hashing with argon2id (argon2-cffi's defaults, RFC 9106 low-memory
profile). The policy: at least 12 characters, not the user name, not one of zxcvbn's 30 000
common passwords, and not easily guessed by zxcvbn's estimator (score 3 of 4 or better)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn  # type: ignore[import-untyped]
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from geo_service.errors import GeoServiceError

_HASHER = PasswordHasher()
MIN_LENGTH = 12
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable: moderate protection from offline attacks"
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])
# A fixed hash to verify against when the user does not exist, so timing does not tell.
_DUMMY = _HASHER.hash("not-a-real-password-0000")


class WeakPasswordError(GeoServiceError):
    """A password too short or too plain to accept."""

    status_code = 422


def check_strength(password: str, username: str | None = None) -> None:
    """Refuse a short, common or guessable password, or one made of the user name."""
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"密码太短: the password must have at least {MIN_LENGTH} "
                                "characters")
    lowered = password.lower()
    name = (username or "").lower()
    if name and (lowered == name or (len(name) >= 4 and name in lowered)):
        raise WeakPasswordError("密码不能包含用户名: the password must not contain the user name")
    if lowered in _COMMON or len(set(password)) < 4:
        raise WeakPasswordError("密码太常见: the password is on the list of common passwords")
    if zxcvbn(password[:100], user_inputs=[name] if name else [])["score"] < MIN_SCORE:
        raise WeakPasswordError("密码太容易猜到: the password is easy to guess (a word, a "
                                "keyboard row, a sequence or a date); use a few unrelated "
                                "words or a longer phrase")


def hash_password(password: str, username: str | None = None) -> str:
    """An argon2id hash of a password that passed `check_strength`."""
    check_strength(password, username)
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches (spends the same time when there is no user)."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
