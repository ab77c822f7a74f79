"""A store's retry budget: retries may add at most a fraction of its real traffic.

Within a sliding window (10 s by default) the retries of one store may not exceed
`max(min_retries_per_s * window_s, ratio * first attempts in the window)` (Finagle's RetryBudget,
gRPC's retry throttling). When a POS is sick every call fails; without a budget each would be
retried up to `max_attempts` times, multiplying the load on the POS exactly when it can least take
it. With one, an empty budget surfaces the error at once.

The budget bounds what the POS sees, so it belongs to the store, not to a process. In scaled mode
(a `SharedLimitsLink`) the window is in Redis, counted by every process: the store's retries stay
within the ratio of the store's first attempts, and the per-second minimum is the store's, not
multiplied by the number of processes (which is what a budget per process gave: N processes, N
minimums, on the POS that is already failing). In embedded mode, and in scaled mode while Redis
does not answer, each process counts its own window; the fallback scales the minimum by the
fallback share (the ratio of a process's own first attempts needs no scaling).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import deque
from dataclasses import dataclass

from ridgeline.clock import Clock
from ridgeline.resilience.shared import KEY_PREFIX, SharedLimitsLink, micros


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    window_s: float = 10.0
    min_retries_per_s: float = 0.5
    ratio: float = 0.2

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.min_retries_per_s < 0 or not 0 <= self.ratio <= 1:
            raise ValueError(f"invalid retry budget: {self!r}")

    @property
    def min_retries(self) -> float:
        return self.min_retries_per_s * self.window_s

    def scaled(self, share: float) -> BudgetConfig:
        """One process's part of a budget several processes share without coordination."""
        return dataclasses.replace(self, min_retries_per_s=self.min_retries_per_s * share)


# Two sorted sets per store (score: the attempt's time, microseconds since the epoch): KEYS[1]
# first attempts, KEYS[2] retries. Entries at or before `now - window` leave both. ARGV: now,
# window_s, a unique member, then for a retry: the minimum and the ratio. Answers 1 (recorded)
# or 0 (budget empty).
_TRIM = """
local now = tonumber(ARGV[1])
local window_us = math.floor(tonumber(ARGV[2]) * 1e6 + 0.5)
local horizon = string.format('%.17g', now - window_us)
local keep_ms = math.ceil(window_us / 1000) + 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', horizon)
"""
RECORD_FIRST_ATTEMPT = (
    _TRIM
    + """
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], keep_ms)
return 1
"""
)
SPEND_RETRY = (
    _TRIM
    + """
local allowed = math.max(tonumber(ARGV[4]), tonumber(ARGV[5]) * redis.call('ZCARD', KEYS[1]))
if redis.call('ZCARD', KEYS[2]) + 1 > allowed then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], keep_ms)
return 1
"""
)


class RetryBudget:
    """One store's budget: in Redis when `shared` is given (with `key` naming the store), else
    (and while Redis is away) in this process, with `fallback_share` of the minimum."""

    def __init__(
        self,
        config: BudgetConfig,
        clock: Clock,
        *,
        shared: SharedLimitsLink | None = None,
        key: str = "",
        fallback_share: float = 1.0,
    ) -> None:
        self.config = config
        self.clock = clock
        self.shared = shared
        self._keys = [f"{key}:first", f"{key}:retries"]
        # This process's own window: the budget in embedded mode, the fallback in scaled mode.
        self.local_config = config if shared is None else config.scaled(fallback_share)
        self._first_attempts: deque[float] = deque()
        self._retries: deque[float] = deque()
        if shared is not None:
            self._record_first = shared.script(RECORD_FIRST_ATTEMPT)
            self._spend = shared.script(SPEND_RETRY)

    def _now(self) -> float:
        now = self.clock.now().timestamp()
        horizon = now - self.local_config.window_s
        for times in (self._first_attempts, self._retries):
            while times and times[0] <= horizon:
                times.popleft()
        return now

    async def record_first_attempt(self) -> None:
        now = self.clock.now()
        if self.shared is not None:
            args: list[str | float] = [micros(now), self.config.window_s, uuid.uuid4().hex]
            if await self.shared.run(self._record_first, self._keys, args, now) is not None:
                return
        self._first_attempts.append(self._now())

    async def try_spend_retry(self) -> bool:
        """Spend one retry if the window allows it; False (and nothing spent) when empty."""
        now = self.clock.now()
        if self.shared is not None:
            config = self.config
            args: list[str | float] = [
                micros(now),
                config.window_s,
                uuid.uuid4().hex,
                config.min_retries,
                config.ratio,
            ]
            answer = await self.shared.run(self._spend, self._keys, args, now)
            if answer is not None:
                return bool(answer)
        local_now = self._now()
        if len(self._retries) + 1 > self.allowed():
            return False
        self._retries.append(local_now)
        return True

    def allowed(self) -> float:
        """How many retries this process's own window allows."""
        self._now()
        return max(
            self.local_config.min_retries, self.local_config.ratio * len(self._first_attempts)
        )

    @property
    def retries_in_window(self) -> int:
        """Retries in this process's own window."""
        self._now()
        return len(self._retries)


class RetryBudgets:
    """One budget per store, created on first use; shared through Redis when `shared` is given."""

    def __init__(
        self,
        clock: Clock,
        config: BudgetConfig | None = None,
        *,
        shared: SharedLimitsLink | None = None,
        fallback_share: float = 1.0,
    ) -> None:
        self.clock = clock
        self.config = config or BudgetConfig()
        self.shared = shared
        self.fallback_share = fallback_share
        self._budgets: dict[uuid.UUID, RetryBudget] = {}

    def for_store(self, store_id: uuid.UUID) -> RetryBudget:
        budget = self._budgets.get(store_id)
        if budget is None:
            budget = self._budgets[store_id] = RetryBudget(
                self.config,
                self.clock,
                shared=self.shared,
                key=f"{KEY_PREFIX}:budget:{store_id}",
                fallback_share=self.fallback_share,
            )
        return budget
