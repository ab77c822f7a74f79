"""Sign-in throttling: too many failed attempts for one email or from one address answer 429.

An address gets a larger allowance than an email: a store's staff share one network address, and
one person's typos must not lock out the rest. Each key keeps the times of its recent failures in
a window.

In scaled mode (a `SharedLimitsLink`) the failures are counted in Redis, one sorted set per key
(named by the key's hash: no email in Redis), so the allowance holds for the deployment, whichever
process each attempt reaches. In embedded mode, and in scaled mode while Redis does not answer,
each process counts its own; the fallback gives each process `fallback_share` of the allowance,
so N processes together still allow about the same.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from datetime import datetime, timedelta

from ridgeline.errors import RateLimited
from ridgeline.resilience.metrics import LimitKind
from ridgeline.resilience.shared import (
    KEY_PREFIX,
    SharedLimitsLink,
    key_digest,
    limits_redis,
    micros,
)

# KEYS: one sorted set of failure times (microseconds since the epoch) per key. ARGV: now,
# window_s, then each key's allowance. Answers the seconds until the first key over its allowance
# has a failure leave the window, or -1 when none is over.
CHECK_FAILURES = """
local now = tonumber(ARGV[1])
local window_us = math.floor(tonumber(ARGV[2]) * 1e6 + 0.5)
local horizon = string.format('%.17g', now - window_us)
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    return string.format('%.17g', (tonumber(oldest[2]) + window_us - now) / 1e6)
  end
end
return '-1'
"""
# The same ARGV, then a unique member. Each set keeps at most its allowance of the newest
# failures (older ones cannot change an answer), and expires with the window.
RECORD_FAILURE = """
local now = tonumber(ARGV[1])
local window_us = math.floor(tonumber(ARGV[2]) * 1e6 + 0.5)
local horizon = string.format('%.17g', now - window_us)
local member = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[1], member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', horizon)
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[2 + i]) + 1))
  redis.call('PEXPIRE', key, math.ceil(window_us / 1000))
end
return 1
"""


class _LocalFailures:
    """Failure times kept in this process, per key."""

    def __init__(self, window: timedelta, max_keys: int) -> None:
        self.window = window
        self.max_keys = max_keys
        self._failures: dict[str, deque[datetime]] = {}

    def wait_s(self, key: str, allowance: int, now: datetime) -> float | None:
        """Seconds until `key` is under its allowance again; None when it is now."""
        times = self._failures.get(key)
        if times is None:
            return None
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < allowance:
            return None
        return (times[0] + self.window - now).total_seconds()

    def record(self, keys: list[str], now: datetime) -> None:
        if len(self._failures) >= self.max_keys:
            self._failures.clear()  # a flood of distinct keys: forget rather than grow
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)

    def forget(self, keys: list[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)


class SignInThrottle:
    def __init__(
        self,
        *,
        max_failures_per_email: int = 10,
        max_failures_per_address: int = 50,
        window_s: float = 300.0,
        max_keys: int = 100_000,
        shared: SharedLimitsLink | None = None,
        fallback_share: float = 1.0,
    ) -> None:
        self.max_failures_per_email = max_failures_per_email
        self.max_failures_per_address = max_failures_per_address
        self.window = timedelta(seconds=window_s)
        self.shared = shared
        # What this process allows alone: everything in embedded mode, its share while the
        # shared count is out of reach.
        self.local_share = 1.0 if shared is None else fallback_share
        self._local = _LocalFailures(self.window, max_keys)
        if shared is not None:
            self._check = shared.script(CHECK_FAILURES)
            self._record = shared.script(RECORD_FAILURE)

    @classmethod
    def shared_through(cls, redis_url: str, *, fallback_share: float) -> SignInThrottle:
        """A throttle counting in Redis, with a client of its own (closed by `aclose`)."""
        link = SharedLimitsLink(limits_redis(redis_url), LimitKind.SIGN_IN_THROTTLE)
        return cls(shared=link, fallback_share=fallback_share)

    @staticmethod
    def keys(email: str, address: str) -> list[str]:
        return [f"email:{email.lower()}", f"address:{address}"]

    def _allowance(self, key: str) -> int:
        if key.startswith("email:"):
            return self.max_failures_per_email
        return self.max_failures_per_address

    def _local_allowance(self, key: str) -> int:
        return max(1, math.floor(self._allowance(key) * self.local_share))

    def _redis_args(self, keys: list[str], now: datetime) -> tuple[list[str], list[str | float]]:
        names = [f"{KEY_PREFIX}:sign_in:{key_digest(key)}" for key in keys]
        allowances = [float(self._allowance(key)) for key in keys]
        return names, [micros(now), self.window.total_seconds(), *allowances]

    async def check(self, keys: list[str], now: datetime) -> None:
        """Raise `RateLimited` when any key is over its allowance."""
        wait_s: float | None = None
        answer = None
        if self.shared is not None:
            names, args = self._redis_args(keys, now)
            answer = await self.shared.run(self._check, names, args, now)
        if answer is not None:
            wait_s = float(answer) if float(answer) >= 0 else None
        else:
            for key in keys:
                wait_s = self._local.wait_s(key, self._local_allowance(key), now)
                if wait_s is not None:
                    break
        if wait_s is not None:
            raise RateLimited(
                max(1, math.ceil(wait_s)), "Too many failed sign-ins; try again later."
            )

    async def record_failure(self, keys: list[str], now: datetime) -> None:
        if self.shared is not None:
            names, args = self._redis_args(keys, now)
            args.append(uuid.uuid4().hex)
            if await self.shared.run(self._record, names, args, now) is not None:
                return
        self._local.record(keys, now)

    async def record_success(self, keys: list[str], now: datetime) -> None:
        """Forget the keys' failures (the email's, on a successful sign-in)."""
        self._local.forget(keys)
        if self.shared is not None:
            names, _ = self._redis_args(keys, now)
            await self.shared.delete(names, now)

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.redis.aclose()
