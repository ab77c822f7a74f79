"""The sweep judges stores again for what time alone changes, and writes only where something
did change."""

from __future__ import annotations

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.health import repository
from ridgeline.health.service import would_change
from tests.health.conftest import health_store
from tests.simulated_pos import Harness


async def test_a_quiet_store_costs_the_sweep_no_write(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.worker.run_until_idle()  # the first sweep judges it
    async with database.transaction(write=False) as session:
        before = await repository.health_of(session, repository.SYSTEM, store.store_id)
        assert before is not None
        stamp = before.updated_at
        assert not await would_change(session, store.store_id, now=clock.now())
    await store.settle(rounds=4, step_s=15)  # four sweeps; syncs keep the catalog fresh
    async with database.transaction(write=False) as session:
        after = await repository.health_of(session, repository.SYSTEM, store.store_id)
        assert after is not None
        assert after.updated_at == stamp
        # An hour without a successful sync would turn the catalog stale: that is a change.
        later = clock.now().replace(year=clock.now().year + 1)
        assert await would_change(session, store.store_id, now=later)
