"""Brute-force throttling of logins, per user name + client address (in memory)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class LoginThrottle:
    """After `max_failures` failed logins within `window_s`, refuse for `lockout_s` seconds."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, client: str) -> tuple[str, str]:
        """The throttling key: the name as typed (case-folded) and the client address."""
        return username.strip().casefold(), client

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until this name may be tried again from this client (0 = now)."""
        key = self.key(username, client)
        with self._lock:
            until = self._locked_until.get(key, 0.0)
            left = until - time.monotonic()
            if left <= 0:
                self._locked_until.pop(key, None)
                return 0
            return max(1, math.ceil(left))

    def failed(self, username: str, client: str) -> int:
        """Record a failure; returns the lockout in seconds it triggered (0 if none)."""
        key = self.key(username, client)
        now = time.monotonic()
        with self._lock:
            recent = self._failures.setdefault(key, deque())
            recent.append(now)
            while recent and recent[0] < now - self.window_s:
                recent.popleft()
            if len(recent) >= self.max_failures:
                recent.clear()
                self._locked_until[key] = now + self.lockout_s
                return math.ceil(self.lockout_s)
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                self._failures.clear()
        return 0

    def succeeded(self, username: str, client: str) -> None:
        """A good login clears the failures of this name from this client."""
        key = self.key(username, client)
        with self._lock:
            self._failures.pop(key, None)
