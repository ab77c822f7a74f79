from __future__ import annotations

import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from tests.jobs.probe_worker import CREATE_PROBE_TABLE, DROP_PROBE_TABLE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.fixture
async def probe_table(database: Database) -> AsyncIterator[str]:
    """The `job_probe` table the probe handlers write to; not a model, so dropped here."""
    async with database.transaction() as session:
        await session.execute(text(DROP_PROBE_TABLE))
        await session.execute(text(CREATE_PROBE_TABLE))
    yield "job_probe"
    async with database.transaction() as session:
        await session.execute(text(DROP_PROBE_TABLE))
