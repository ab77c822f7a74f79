"""A store's retry budget: retries may add at most a fraction of its real traffic.

Within a sliding window (10 s by default) the retries of one store may not exceed
`max(min_retries_per_s * window_s, ratio * first attempts in the window)` (Finagle's RetryBudget,
gRPC's retry throttling). When a POS is sick every call fails; without a budget each would be
retried up to `max_attempts` times, multiplying the load on the POS exactly when it can least take
it. With one, an empty budget surfaces the error at once.

The budget lives in the process. That is deliberate: what it bounds is the amplification this
process adds on top of its own first attempts, and that needs no coordination; with several
processes each keeps its own ratio, so the store's total retries stay within the same ratio of
the store's total first attempts (the per-second minimum is per process).
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass

from ridgeline.clock import Clock


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    window_s: float = 10.0
    min_retries_per_s: float = 0.5
    ratio: float = 0.2

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.min_retries_per_s < 0 or not 0 <= self.ratio <= 1:
            raise ValueError(f"invalid retry budget: {self!r}")


class RetryBudget:
    def __init__(self, config: BudgetConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._first_attempts: deque[float] = deque()
        self._retries: deque[float] = deque()

    def _now(self) -> float:
        now = self.clock.now().timestamp()
        horizon = now - self.config.window_s
        for times in (self._first_attempts, self._retries):
            while times and times[0] <= horizon:
                times.popleft()
        return now

    def record_first_attempt(self) -> None:
        self._first_attempts.append(self._now())

    def allowed(self) -> float:
        """How many retries the current window allows."""
        self._now()
        return max(
            self.config.min_retries_per_s * self.config.window_s,
            self.config.ratio * len(self._first_attempts),
        )

    def try_spend_retry(self) -> bool:
        """Spend one retry if the window allows it; False (and nothing spent) when empty."""
        now = self._now()
        if len(self._retries) + 1 > self.allowed():
            return False
        self._retries.append(now)
        return True

    @property
    def retries_in_window(self) -> int:
        self._now()
        return len(self._retries)


class RetryBudgets:
    """One budget per store, created on first use."""

    def __init__(self, clock: Clock, config: BudgetConfig | None = None) -> None:
        self.clock = clock
        self.config = config or BudgetConfig()
        self._budgets: dict[uuid.UUID, RetryBudget] = {}

    def for_store(self, store_id: uuid.UUID) -> RetryBudget:
        budget = self._budgets.get(store_id)
        if budget is None:
            budget = self._budgets[store_id] = RetryBudget(self.config, self.clock)
        return budget
