"""Request quotas: a token bucket per caller that answers at once, yes or no, and says how much
is left (for the `RateLimit` response headers of our own API, `ridgeline.api.rate_limits`).

The same machinery as the POS rate limits (`rate_limit.py`): a `RateLimit` (at most `limit` in
any window of `period_s`, at most `burst` back to back), kept in this process by a `TokenBucket`,
or in scaled mode in Redis through a `SharedLimitsLink` (one hash per caller and budget, drawn
from by one Lua script, so every process together keeps to the whole limit). While Redis does
not answer, each process decides alone on its fallback share of the limit; nothing raises.

Unlike the POS limiter a caller never waits here: a request without a token is refused (the API
answers 429 with the seconds until the next one), and a refusal costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ridgeline.clock import Clock
from ridgeline.resilience.rate_limit import IDLE_GRACE_S, REFILL_BUCKET, RateLimit, TokenBucket
from ridgeline.resilience.shared import KEY_PREFIX, SharedLimitsLink, micros

_EPSILON = 1e-9

# One bucket in Redis, as `DRAW_FROM_BUCKET`'s (a hash of `tokens` and the time `at` they were
# counted), but never in debt: take a token if one is there. ARGV: now (microseconds since the
# epoch), burst, refill per second, idle grace (s). Answers {1 if taken else 0, tokens left}.
# A refusal writes nothing: the refill it computed is computed again by the next call.
DRAW_QUOTA = (
    REFILL_BUCKET
    + """
if tokens < 1 - 1e-9 then
  return {0, string.format('%.17g', tokens)}
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], math.ceil(((burst - tokens) / rate + tonumber(ARGV[4])) * 1000))
return {1, string.format('%.17g', tokens)}
"""
)


@dataclass(frozen=True, slots=True)
class QuotaDraw:
    """What one request drew: whether it may go, and the bucket's state after it."""

    allowed: bool
    limit: RateLimit  # the limit decided on (a fallback share of the configured one)
    tokens: float  # left after this draw

    @property
    def remaining(self) -> int:
        """Requests that may follow back to back."""
        return max(0, math.floor(self.tokens + _EPSILON))

    @property
    def reset_s(self) -> float:
        """Seconds until the bucket is full again (`burst` requests back to back)."""
        return max(0.0, (self.limit.burst - self.tokens) / self.limit.refill_per_s)

    @property
    def retry_after_s(self) -> float:
        """Seconds until the next request would be let through (0 when it would be now)."""
        return max(0.0, (1.0 - self.tokens) / self.limit.refill_per_s)


class QuotaLimiter:
    """Token buckets named by the caller (`key`), in Redis when `shared` is given, else in this
    process (while Redis is away: with `fallback_share` of each limit).

    In-process buckets are created on first use; past `max_local_buckets` (a flood of distinct
    addresses) the full ones are dropped (a full bucket is what a missing one means), and if
    that is not enough all are: forgetting errs towards letting requests through."""

    def __init__(
        self,
        clock: Clock,
        *,
        shared: SharedLimitsLink | None = None,
        fallback_share: float = 1.0,
        max_local_buckets: int = 100_000,
    ) -> None:
        if not 0 < fallback_share <= 1:
            raise ValueError(f"fallback_share must be in (0, 1], got {fallback_share}")
        self.clock = clock
        # What this process allows alone: everything in embedded mode (one process), its share
        # while the shared count is out of reach.
        self.local_share = 1.0 if shared is None else fallback_share
        self.shared = shared
        self.max_local_buckets = max_local_buckets
        self._buckets: dict[str, TokenBucket] = {}
        self._take = shared.script(DRAW_QUOTA) if shared is not None else None

    async def draw(self, key: str, limit: RateLimit) -> QuotaDraw:
        """Take a token from `key`'s bucket of `limit` if there is one; never waits."""
        if self.shared is not None and self._take is not None:
            now = self.clock.now()
            answer = await self.shared.run(
                self._take,
                [f"{KEY_PREFIX}:quota:{key}"],
                [micros(now), limit.burst, limit.refill_per_s, limit.period_s + IDLE_GRACE_S],
                now,
            )
            if answer is not None:
                taken, tokens = answer
                return QuotaDraw(allowed=int(taken) == 1, limit=limit, tokens=float(tokens))
        return self._local_draw(key, limit.scaled(self.local_share))

    def _local_draw(self, key: str, limit: RateLimit) -> QuotaDraw:
        bucket = self._buckets.get(key)
        if bucket is None or bucket.limit != limit:
            if len(self._buckets) >= self.max_local_buckets:
                self._forget_full_buckets()
            bucket = self._buckets[key] = TokenBucket(limit, self.clock)
        allowed = bucket.try_acquire()
        return QuotaDraw(allowed=allowed, limit=limit, tokens=bucket.tokens)

    def _forget_full_buckets(self) -> None:
        for key in [k for k, b in self._buckets.items() if b.tokens >= b.limit.burst - _EPSILON]:
            del self._buckets[key]
        if len(self._buckets) >= self.max_local_buckets:
            self._buckets.clear()

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.redis.aclose()
