"""Client-side rate limits, so that Ridgeline never causes its own 429s in steady state.

Each vendor documents (or the simulator assumes) a limit per key and endpoint. A `RateLimit`
promises at most `limit` calls in *any* window of `period_s` seconds, sliding or fixed, which is
what any server-side counter sees: a token bucket holding up to `burst` tokens and refilling at
`(limit - burst) / period_s` per second can never release more than `burst + rate * period_s =
limit` calls within `period_s`.

`RateLimits` is one vendor's table, declared by its adapter (`PosAdapter.rate_limits`): which
bucket each endpoint class draws from (classes that hit the same vendor endpoint share one, e.g. a
full and a changed-since product fetch that call the same vendor path), and each bucket's limit.
`RateLimiter` keeps the buckets keyed by (store, vendor, bucket).

Where the buckets live: in scaled mode (a `SharedLimitsLink`) in Redis, one hash per bucket
that every process draws from through one Lua script, so N processes together keep to the
vendor's whole limit. In embedded mode, and in scaled mode while Redis does not answer, in this
process, each bucket holding `share` of the limit: with N processes, 1/N keeps them under it
without talking to each other.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ridgeline.clock import Clock
from ridgeline.resilience.shared import KEY_PREFIX, SharedLimitsLink, micros

LimitScope = Literal["store", "retailer"]

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
    # Whose calls a vendor counts against one limit: each store's own (one key per location) or
    # all of a retailer's stores (one credential for every location). The limiter keeps a
    # bucket per store either way; the sync scheduler spaces a retailer's polls (sync/polling.py).
    shared_by: LimitScope = "retailer"

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


# One bucket in Redis: a hash of its tokens (below zero: promised to waiters) and the time they
# were counted at. ARGV: now (microseconds since the epoch), burst, refill per second, "wait"
# (reserve the next token, answer the seconds until it is due) or "try" (take one only if there,
# else answer -1), and how long an idle bucket is kept beyond the time it takes to fill up again
# (a missing bucket is a full one, so it may go once full). Numbers go back as strings: Lua
# numbers become integers in a Redis reply.
# The start of every bucket script: the bucket in KEYS[1] refilled up to now. ARGV[1..3]: now
# (microseconds since the epoch), burst, refill per second; sets `now`, `burst`, `rate`,
# `tokens` and `at`.
REFILL_BUCKET = """
local now = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) / 1e6 * rate)
  at = now
end
"""
DRAW_FROM_BUCKET = (
    REFILL_BUCKET
    + """
local wait = 0
if ARGV[4] == 'try' then
  if tokens < 1 - 1e-9 then
    return '-1'
  end
  tokens = tokens - 1
else
  tokens = tokens - 1
  if tokens < -1e-9 then
    wait = -tokens / rate
  end
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + tonumber(ARGV[5])) * 1000))
return string.format('%.17g', wait)
"""
)
# A bucket nobody drew from for this long past being full again is dropped.
IDLE_GRACE_S = 60.0


class RateLimiter:
    """The token buckets, one per (store, vendor bucket): in Redis when `shared` is given (the
    vendor's whole limit, for every process together), else (and while Redis is away) this
    process's own, created on first use with `share` of the limit.

    In Redis a cancelled wait keeps the token it reserved (giving it back would mean awaiting
    Redis while being cancelled): the limit then errs towards fewer calls, never more."""

    def __init__(
        self, clock: Clock, *, share: float = 1.0, shared: SharedLimitsLink | None = None
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share must be in (0, 1], got {share}")
        self.clock = clock
        self.share = share
        self.shared = shared
        self._buckets: dict[tuple[uuid.UUID, str, str], TokenBucket] = {}
        self._take = shared.script(DRAW_FROM_BUCKET) if shared is not None else None

    def bucket(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> TokenBucket:
        """This process's own bucket (all of the limiter in embedded mode; the fallback in
        scaled mode)."""
        name, limit = limits.bucket_for(endpoint)
        key = (store_id, limits.vendor, name)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(limit.scaled(self.share), self.clock)
        return bucket

    async def _shared_take(
        self, store_id: uuid.UUID, limits: RateLimits, endpoint: str, mode: str
    ) -> float | None:
        """The script's answer (seconds to wait, or -1: refused), None to decide locally."""
        if self.shared is None or self._take is None:
            return None
        name, limit = limits.bucket_for(endpoint)
        now = self.clock.now()
        answer = await self.shared.run(
            self._take,
            [f"{KEY_PREFIX}:rate:{store_id}:{limits.vendor}:{name}"],
            [micros(now), limit.burst, limit.refill_per_s, mode, limit.period_s + IDLE_GRACE_S],
            now,
        )
        return None if answer is None else float(answer)

    async def acquire(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> None:
        """Take a token, waiting (on the clock) until one is due."""
        wait_s = await self._shared_take(store_id, limits, endpoint, "wait")
        if wait_s is None:
            await self.bucket(store_id, limits, endpoint).acquire()
        elif wait_s > 0:
            await self.clock.sleep(wait_s)

    async def try_acquire(self, store_id: uuid.UUID, limits: RateLimits, endpoint: str) -> bool:
        """Take a token if one is there now; never waits."""
        answer = await self._shared_take(store_id, limits, endpoint, "try")
        if answer is None:
            return self.bucket(store_id, limits, endpoint).try_acquire()
        return answer >= 0
