"""Ridgeline keeps to each vendor's documented rate limit, so it never causes its own 429s: the
simulator enforces Dutchie's per-minute limits on the same (fake) clock the client waits on."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import PosCall, Store
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialCipher
from ridgeline.pos.service import parse_config
from tests.factories import make_tenant
from tests.pos.simulator import create_store, serving_simulator

CALLS = 260  # more than a minute's worth of Dutchie's 200-per-minute /whoami limit


@pytest.fixture
def shared_clock(clock: FakeClock) -> FakeClock:
    return clock


@pytest.fixture
def control(shared_clock: FakeClock) -> Iterator[httpx.Client]:
    with (
        serving_simulator(seed=5, clock=shared_clock) as url,
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield client


async def test_a_burst_of_calls_never_meets_a_429(
    settings: Settings, database: Database, control: httpx.Client, shared_clock: FakeClock
) -> None:
    sim = create_store(control, "dutchie", 5)
    tenant = await make_tenant(database)
    adapter_class, config = parse_config("dutchie", sim.config)
    async with database.transaction() as session:
        store = await session.get(Store, tenant.store.id)
        assert store is not None
        store.pos_provider = adapter_class.name
        store.pos_config_encrypted = CredentialCipher(settings.encryption_keys).encrypt(config)
    connector = PosConnector(settings, database, shared_clock, rng=random.Random(3))
    try:
        adapter = connector.adapter_for(store)
        started = shared_clock.now()
        for _ in range(CALLS):
            await adapter.verify_credentials()
        waited_s = (shared_clock.now() - started).total_seconds()
    finally:
        await connector.aclose()

    statuses = [request["status"] for request in sim.requests() if request["endpoint"] == "auth"]
    assert len(statuses) == CALLS
    assert set(statuses) == {200}  # not one 429
    assert waited_s >= 60  # the client spread the calls over more than the limit's minute
    async with database.transaction(write=False) as session:
        outcomes = set((await session.scalars(select(PosCall.outcome))).all())
    assert outcomes == {"success"}
