"""The connector keeps one adapter per store and stored config, so what an adapter holds
between calls (a Flowhub token) lasts across jobs; any change of the config builds a new one."""

from __future__ import annotations

import pytest

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosNotConfigured
from ridgeline.models import Store
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from tests.factories import make_tenant


async def configure(database: Database, connector: PosConnector, store: Store, key: str) -> Store:
    body = StorePosUpdate(
        provider="dutchie",
        config={"base_url": "http://127.0.0.1:9", "api_key": key, "consumer_key": "c"},
    )
    async with database.transaction() as session:
        await pos_service.configure(
            session,
            TenantScope.everything(),
            store.id,
            body,
            cipher=connector.cipher,
            now=connector.clock.now(),
        )
    async with database.transaction(write=False) as session:
        fresh = await session.get(Store, store.id)
    assert fresh is not None
    return fresh


async def test_one_adapter_per_store_and_config(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    connector = PosConnector(settings, database, clock)
    try:
        first, second = await make_tenant(database), await make_tenant(database)
        with pytest.raises(PosNotConfigured):
            connector.adapter_for(first.store)
        store = await configure(database, connector, first.store, "key-1")
        adapter = connector.adapter_for(store)
        assert connector.adapter_for(store) is adapter
        other = await configure(database, connector, second.store, "key-1")
        assert connector.adapter_for(other) is not adapter

        rotated = await configure(database, connector, store, "key-2")
        fresh = connector.adapter_for(rotated)
        assert fresh is not adapter
        assert fresh.config.api_key.get_secret_value() == "key-2"
    finally:
        await connector.aclose()
