"""Waits for a database connection are counted and timed; checkouts served at once are not."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY
from sqlalchemy import text

from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.monitoring.pool import MeasuredPool


def waits() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("ridgeline_db_pool_waits_total") or 0.0
    seconds = REGISTRY.get_sample_value("ridgeline_db_pool_wait_seconds_sum") or 0.0
    return count, seconds


async def test_a_checkout_that_finds_the_pool_in_use_is_counted_with_its_wait(
    settings: Settings, database: Database
) -> None:
    small = Database(settings.database_url, pool_size=1, max_overflow=0)
    try:
        assert isinstance(small.engine.pool, MeasuredPool)
        async with small.engine.connect() as first:
            await first.execute(text("select 1"))
        before = waits()
        async with small.engine.connect() as held:  # the one connection, served at once
            await held.execute(text("select 1"))
            assert waits() == before

            async def second() -> None:
                async with small.engine.connect() as connection:
                    await connection.execute(text("select 1"))

            waiter = asyncio.create_task(second())
            await asyncio.sleep(0.3)
            assert not waiter.done()  # it waits for the held connection
        await asyncio.wait_for(waiter, 10)
        count, seconds = waits()
        assert count == before[0] + 1
        assert seconds - before[1] >= 0.25
    finally:
        await small.dispose()
