"""Waiting for a condition instead of sleeping a fixed time: fixed sleeps fail on a loaded
machine, where the thing waited for takes longer than the sleep."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], timeout_s: float = 20.0, interval_s: float = 0.02
) -> None:
    """Returns once `predicate()` is true; `TimeoutError` after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while True:
            if await predicate():
                return
            await asyncio.sleep(interval_s)
