"""Sign-in throttling: too many failed attempts for one email or from one address answer 429.

An address gets a larger allowance than an email: a store's staff share one network address, and
one person's typos must not lock out the rest. Counts live in the process (a scaled deployment
multiplies the allowance by its processes, which still stops online guessing). Each key keeps the
times of its recent failures in a window.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

from ridgeline.errors import RateLimited


class SignInThrottle:
    def __init__(
        self,
        *,
        max_failures_per_email: int = 10,
        max_failures_per_address: int = 50,
        window_s: float = 300.0,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures_per_email = max_failures_per_email
        self.max_failures_per_address = max_failures_per_address
        self.window = timedelta(seconds=window_s)
        self.max_keys = max_keys
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    @staticmethod
    def keys(email: str, address: str) -> list[str]:
        return [f"email:{email.lower()}", f"address:{address}"]

    def _allowance(self, key: str) -> int:
        if key.startswith("email:"):
            return self.max_failures_per_email
        return self.max_failures_per_address

    def check(self, keys: list[str], now: datetime) -> None:
        """Raise `RateLimited` when any key is over its allowance."""
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self._allowance(key):
                wait = (times[0] + self.window - now).total_seconds()
                raise RateLimited(
                    max(1, math.ceil(wait)), "Too many failed sign-ins; try again later."
                )

    def record_failure(self, keys: list[str], now: datetime) -> None:
        if len(self._failures) >= self.max_keys:
            self._failures.clear()  # a flood of distinct keys: forget rather than grow
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def record_success(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)
