"""A clock for concurrent tests: time moves only when every task is asleep, and sleepers wake in
deadline order (FakeClock's `sleep` advances time for everyone, so concurrent sleepers would
push each other's wake-up times)."""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._sequence = 0

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sequence += 1
        wake_at = self._now + timedelta(seconds=max(0.0, seconds))
        heapq.heappush(self._sleepers, (wake_at, self._sequence, future))
        await future

    async def run(self, *coroutines: Coroutine[Any, Any, T]) -> list[T]:
        """Run the coroutines to completion on virtual time."""
        tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
        while True:
            for _ in range(10):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            if not self._sleepers:
                raise RuntimeError("tasks are blocked on something other than the clock")
            wake_at, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, wake_at)
            if not future.done():
                future.set_result(None)
