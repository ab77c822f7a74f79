"""Fixed-window request counters: Dutchie's per-minute limits and the 50 requests/s the simulator
imposes on the other dialects."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ridgeline.clock import Clock


@dataclass(frozen=True)
class WindowDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_s: int  # whole seconds until the window ends


class FixedWindowLimiter:
    """Counts requests per key in fixed windows aligned on the epoch (a minute starts at :00)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}

    def hit(self, key: str, *, limit: int, window_s: int) -> WindowDecision:
        now = self._clock.now().timestamp()
        window = math.floor(now / window_s)
        current, count = self._windows.get(key, (window, 0))
        if current != window:
            count = 0
        count += 1
        self._windows[key] = (window, count)
        reset_s = max(1, math.ceil((window + 1) * window_s - now))
        return WindowDecision(count <= limit, limit, max(0, limit - count), reset_s)

    def clear(self) -> None:
        self._windows.clear()
