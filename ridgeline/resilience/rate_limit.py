"""Client-side rate limits, so that Ridgeline never causes its own 429s in steady state.

Each vendor documents (or the simulator assumes) a limit per key and endpoint. A `RateLimit`
promises at most `limit` calls in *any* window of `period_s` seconds, sliding or fixed, which is
what any server-side counter sees: a token bucket holding up to `burst` tokens and refilling at
`(limit - burst) / period_s` per second can never release more than `burst + rate * period_s =
limit` calls within `period_s`.

`RateLimits` is one vendor's table, declared by its adapter (`PosAdapter.rate_limits`): which
bucket each endpoint class draws from (classes that hit the same vendor endpoint share one, e.g. a
full and a changed-since product fetch that call the same vendor path), and each bucket's limit.
`RateLimiter` keeps the buckets of one process, keyed by (store, bucket). The buckets are per
process: where several processes call the same store's POS, give each a `share` of the vendor's
limit (1 / number of processes).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from ridgeline.clock import Clock

# Token counts are sums of float products (elapsed x rate); a token that is due must not be
# refused for a rounding error of 1e-16.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `limit` calls in any window of `period_s` seconds, at most `burst` back to back."""

    limit: int
    period_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.period_s <= 0 or not 1 <= self.burst < self.limit:
            raise ValueError(f"need period_s > 0 and 1 <= burst < limit: {self!r}")

    @property
    def refill_per_s(self) -> float:
        return (self.limit - self.burst) / self.period_s

    @classmethod
    def within(cls, documented: int, period_s: float, *, headroom: float) -> RateLimit:
        """A limit `headroom` (e.g. 0.9) of a vendor's documented one, with a tenth as burst:
        the headroom absorbs network jitter that bunches requests on the way to the POS."""
        limit = math.floor(documented * headroom)
        return cls(limit=limit, period_s=period_s, burst=max(1, limit // 10))

    def scaled(self, share: float) -> RateLimit:
        """This process's part of a limit shared by several processes."""
        if share >= 1:
            return self
        limit = max(2, math.floor(self.limit * share))
        return RateLimit(limit=limit, period_s=self.period_s, burst=max(1, limit // 10))


@dataclass(frozen=True, slots=True)
class RateLimits:
    """A vendor's limits: bucket name -> limit, and endpoint class -> bucket name (classes not
    listed draw from `default_bucket`)."""

    vendor: str
    buckets: Mapping[str, RateLimit]
    routes: Mapping[str, str] = field(default_factory=dict)
    default_bucket: str = "default"

    def __post_init__(self) -> None:
        missing = {self.default_bucket, *self.routes.values()} - set(self.buckets)
        if missing:
            raise ValueError(f"{self.vendor}: routes name undefined buckets {sorted(missing)}")

    def bucket_for(self, endpoint: str) -> tuple[str, RateLimit]:
        name = self.routes.get(endpoint, self.default_bucket)
        return name, self.buckets[name]


class TokenBucket:
    """A token bucket on an injected clock. `acquire` reserves the next token and sleeps until
    it is due, so concurrent callers are served in arrival order without polling."""

    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self._tokens = float(limit.burst)  # below zero: tokens already promised to waiters
        self._updated = clock.now()

    def _refill(self) -> None:
        now = self.clock.now()
        elapsed = max(0.0, (now - self._updated).total_seconds())
        self._updated = now
        self._tokens = min(
            float(self.limit.burst), self._tokens + elapsed * self.limit.refill_per_s
        )

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def try_acquire(self) -> bool:
        """Take a token if one is there now; never waits."""
        self._refill()
        if self._tokens < 1.0 - _EPSILON:
            return False
        self._tokens -= 1.0
        return True

    async def acquire(self) -> None:
        """Take a token, waiting (on the clock) until one is due."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= -_EPSILON:
            return
        wait_s = -self._tokens / self.limit.refill_per_s
        try:
            await self.clock.sleep(wait_s)
        except asyncio.CancelledError:
            self._refill()
            self._tokens = min(float(self.limit.burst), self._tokens + 1.0)
            raise


class RateLimiter:
    """The token buckets of this process, one per (store, vendor bucket), created on first use."""

    def __init__(self, clock: Clock, *, share: float = 1.0) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.clock = clock
        self.share = share
        self._buckets: dict[tuple[uuid.UUID, str, str], TokenBucket] = {}

    def bucket(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> TokenBucket:
        name, limit = limits.bucket_for(endpoint)
        key = (store_id, limits.vendor, name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit.scaled(self.share), self.clock)
        return bucket

    async def acquire(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> None:
        await self.bucket(store_id, limits, endpoint).acquire()

    def try_acquire(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> bool:
        return self.bucket(store_id, limits, endpoint).try_acquire()
