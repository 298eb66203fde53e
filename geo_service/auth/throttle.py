"""Brute-force throttling of logins, per user name + client address, kept in PostgreSQL.

The counts live in the `login_throttle` table, so every worker process of the service (and
every replica on the same database) sees the same failures: `max_failures` wrong passwords
within `window_s` of the first lock that name from that address for `lockout_s` seconds.
"""

from __future__ import annotations

import math
import random

from sqlalchemy import Engine, text

_FAIL = text("""
INSERT INTO login_throttle AS t (key, failures, window_start)
VALUES (:key, 1, clock_timestamp())
ON CONFLICT (key) DO UPDATE SET
    failures = CASE WHEN t.window_start < clock_timestamp() - make_interval(secs => :window)
                    THEN 1 ELSE t.failures + 1 END,
    window_start = CASE WHEN t.window_start < clock_timestamp() - make_interval(secs => :window)
                        THEN clock_timestamp() ELSE t.window_start END
RETURNING failures""")
_LOCK = text("""
UPDATE login_throttle SET failures = 0, window_start = clock_timestamp(),
       locked_until = clock_timestamp() + make_interval(secs => :lockout)
WHERE key = :key""")
_RETRY = text("""
SELECT extract(epoch FROM locked_until - clock_timestamp()) FROM login_throttle
WHERE key = :key AND locked_until > clock_timestamp()""")
_FORGET = text("DELETE FROM login_throttle WHERE key = :key "
               "AND (locked_until IS NULL OR locked_until <= clock_timestamp())")
_EXPIRE = text("""
DELETE FROM login_throttle
WHERE window_start < clock_timestamp() - make_interval(secs => :window)
  AND (locked_until IS NULL OR locked_until <= clock_timestamp())""")


class LoginThrottle:
    """After `max_failures` failed logins within `window_s`, refuse for `lockout_s` seconds."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s

    @staticmethod
    def key(username: str, client: str) -> str:
        """The throttling key: the name as typed (case-folded) and the client address."""
        return f"{username.strip().casefold()} {client}"

    def retry_after(self, engine: Engine, username: str, client: str) -> int:
        """Seconds until this name may be tried again from this client (0 = now)."""
        with engine.connect() as conn:
            left = conn.execute(_RETRY, {"key": self.key(username, client)}).scalar()
        return max(1, math.ceil(float(left))) if left is not None else 0

    def failed(self, engine: Engine, username: str, client: str) -> int:
        """Record a failure; returns the lockout in seconds it triggered (0 if none)."""
        key = self.key(username, client)
        with engine.begin() as conn:  # the upsert's row lock orders concurrent workers
            failures = conn.execute(_FAIL, {"key": key, "window": self.window_s}).scalar_one()
            if random.random() < 0.01:  # keep the table small under a spray of names
                conn.execute(_EXPIRE, {"window": self.window_s})
            if failures < self.max_failures:
                return 0
            conn.execute(_LOCK, {"key": key, "lockout": self.lockout_s})
        return math.ceil(self.lockout_s)

    def succeeded(self, engine: Engine, username: str, client: str) -> None:
        """A good login clears the failures of this name from this client."""
        with engine.begin() as conn:
            conn.execute(_FORGET, {"key": self.key(username, client)})
