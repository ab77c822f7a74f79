"""Limits shared by every process through Redis, and what a process does when Redis is away.

In scaled mode many `ridgeline serve` and `ridgeline worker` processes call the same stores' POS
and answer the same sign-ins. A limit kept per process lets N processes together allow N times
the limit; so the POS rate limits, the retry budgets and the sign-in throttle keep their counts in
Redis, where each check is one Lua script: atomic, with no lock and no coordination of our own.

The scripts take the time from the caller (the injected clock), not from Redis `TIME`: the same
code runs on a fake clock in tests. It goes in as whole microseconds since the epoch, which a Lua
number holds exactly (a float of seconds since 1970 would blur the 1e-9 a due token is allowed).
Processes whose clocks disagree by a few milliseconds only delay a refill by that much (a script
never moves a key's time backwards).

Redis is a dependency a limit must survive: `SharedLimitsLink.run` answers None instead of raising
when Redis fails or is slow (a 250 ms socket timeout), and the caller then decides with its own
local limiter, scaled to its fallback share (`RIDGELINE_POS_RATE_LIMIT_SHARE`, 1/N of the
processes). The first failure logs one warning and raises the `degraded` gauge; for the next few
seconds Redis is not asked at all (an outage must not add a timeout to every call), then asked
again, and the first answer ends the outage (one info log).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from ridgeline.resilience.metrics import SHARED_LIMITS_DEGRADED, SHARED_LIMITS_FALLBACK, LimitKind

log = structlog.get_logger(__name__)

KEY_PREFIX = "ridgeline:limits"
# A limit check sits in front of every POS call and sign-in: a Redis slower than this is treated
# as down rather than allowed to slow them all.
SOCKET_TIMEOUT_S = 0.25
# After a failure, decide locally this long before asking Redis again.
RECHECK_AFTER_S = 5.0


def limits_redis(url: str) -> Redis:
    """A client with short timeouts. A command that fails on a dead pooled connection (Redis
    restarted) is tried once more on a new one; timeouts are not retried."""
    return Redis.from_url(
        url,
        socket_connect_timeout=SOCKET_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """`at` as whole microseconds since the epoch: how the scripts are told the time."""
    return (at - _EPOCH) // _MICROSECOND


def key_digest(text: str) -> str:
    """Keys named after what a person typed (an email) are stored under its hash."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SharedLimitsLink:
    """One limit's way to Redis: runs its scripts, and tracks whether Redis is answering.

    Two states: shared (Redis answers), and degraded (it failed; until `recheck_after_s` has
    passed on the caller's clock every call is decided locally without asking). The Redis client
    may serve several links; its owner closes it."""

    def __init__(
        self, redis: Redis, kind: LimitKind, *, recheck_after_s: float = RECHECK_AFTER_S
    ) -> None:
        self.redis = redis
        self.kind = kind
        self.recheck_after_s = recheck_after_s
        self.degraded = False
        self._retry_at = _EPOCH
        self._scripts: dict[str, AsyncScript] = {}

    def script(self, source: str) -> AsyncScript:
        """A script run by EVALSHA (loaded again by itself after Redis restarts)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.redis.register_script(source)
        return script

    async def run(
        self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | float], now: datetime
    ) -> Any | None:
        """The script's answer, or None when the caller must decide locally (Redis failed now,
        or recently). Never raises because of Redis."""
        if self.degraded and now < self._retry_at:
            SHARED_LIMITS_FALLBACK.labels(self.kind.value).inc()
            return None
        try:
            answer = await script(keys=list(keys), args=list(args), client=self.redis)
        except (RedisError, OSError) as exc:
            self._fail(exc, now)
            SHARED_LIMITS_FALLBACK.labels(self.kind.value).inc()
            return None
        if self.degraded:
            self.degraded = False
            SHARED_LIMITS_DEGRADED.labels(self.kind.value).set(0)
            log.info("shared_limits_restored", limiter=self.kind.value)
        return answer

    async def delete(self, keys: Sequence[str], now: datetime) -> None:
        """Forget `keys`; a failure is the same outage as a script's (and changes nothing)."""
        if self.degraded and now < self._retry_at:
            return
        try:
            await self.redis.unlink(*keys)
        except (RedisError, OSError) as exc:
            self._fail(exc, now)

    def _fail(self, exc: BaseException, now: datetime) -> None:
        self._retry_at = now + timedelta(seconds=self.recheck_after_s)
        if self.degraded:
            return
        self.degraded = True
        SHARED_LIMITS_DEGRADED.labels(self.kind.value).set(1)
        log.warning(
            "shared_limits_unavailable",
            limiter=self.kind.value,
            error=f"{type(exc).__name__}: {exc}",
            recheck_after_s=self.recheck_after_s,
        )
