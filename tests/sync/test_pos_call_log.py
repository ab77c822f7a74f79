"""The POS call log written in batches: a sync's fetch writes its calls together, what waits is
written when the block ends, at `max_rows`, after `flush_after_s` and on close, and a failed
write loses the rows without touching the sync."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import PosCall, SyncStatus
from ridgeline.pos import call_log as call_log_module
from ridgeline.pos.call_log import CallRecord, PosCallLog
from ridgeline.pos.client import PosConnector
from ridgeline.pos.repository import insert_calls
from tests.factories import make_organization, make_store
from tests.sync.conftest import sync


async def calls_of(database: Database, store_id: uuid.UUID) -> list[PosCall]:
    async with database.transaction(write=False) as session:
        statement = select(PosCall).where(PosCall.store_id == store_id).order_by(PosCall.at)
        return list((await session.scalars(statement)).all())


async def count_calls(database: Database) -> int:
    async with database.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(PosCall)) or 0)


def count_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch the call log writes, in order."""
    written: list[int] = []
    real_write = call_log_module._write

    async def counting(database: Database, calls: Sequence[CallRecord]) -> None:
        await real_write(database, calls)
        written.append(len(calls))

    monkeypatch.setattr(call_log_module, "_write", counting)
    return written


async def a_call(database: Database, clock: FakeClock) -> CallRecord:
    organization = await make_organization(database)
    store = await make_store(database, organization)
    return CallRecord(
        organization_id=organization.id,
        store_id=store.id,
        vendor="dutchie",
        endpoint="products",
        method="GET",
        status=200,
        outcome="success",
        error=None,
        duration_ms=12.5,
        attempt=1,
        at=clock.now(),
        credentials=None,
    )


async def test_a_sync_writes_the_calls_of_its_fetch_in_one_batch(
    database: Database,
    connector: PosConnector,
    new_store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await new_store(1_200, dialect="blaze")  # 500 a page: at least 3 pages
    written = count_writes(monkeypatch)
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    calls = await calls_of(database, store.store_id)
    pages = [call for call in calls if call.endpoint == "products"]
    assert len(pages) >= 3
    assert {call.outcome for call in pages} == {"success"}
    # Every call of the fetch (a token call included, if the adapter made one) in one write.
    assert written == [len(calls)]


async def test_calls_outside_a_batch_are_written_as_they_are_made(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = count_writes(monkeypatch)
    log = PosCallLog(database, flush_after_s=60, max_rows=100)
    call = await a_call(database, clock)
    await log.record(call)
    await log.record(call)
    assert written == [1, 1]
    assert len(await calls_of(database, call.store_id)) == 2


async def test_waiting_calls_are_written_when_the_block_ends_at_max_rows_and_on_close(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = count_writes(monkeypatch)
    log = PosCallLog(database, flush_after_s=60, max_rows=3)
    call = await a_call(database, clock)
    async with log.batched():
        await log.record(call)
        await log.record(call)
        assert (log.pending, await count_calls(database)) == (2, 0)
    assert written == [2]  # the block ended

    async with log.batched():
        for _ in range(4):
            await log.record(call)
        assert written == [2, 3]  # max_rows reached: written at once
        assert log.pending == 1
        await log.aclose()  # the connector closing (a process or a job stopping)
        assert written == [2, 3, 1]
    assert written == [2, 3, 1]
    assert len(await calls_of(database, call.store_id)) == 6


async def test_a_call_waits_at_most_flush_after_s(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = asyncio.Event()
    real_write = call_log_module._write

    async def signalling(database: Database, calls: Sequence[CallRecord]) -> None:
        await real_write(database, calls)
        flushed.set()

    monkeypatch.setattr(call_log_module, "_write", signalling)
    log = PosCallLog(database, flush_after_s=0.05, max_rows=100)
    call = await a_call(database, clock)
    async with log.batched():
        await log.record(call)
        assert log.pending == 1
        await asyncio.wait_for(flushed.wait(), timeout=10)  # the timer, not the block's end
        assert log.pending == 0
        assert len(await calls_of(database, call.store_id)) == 1


async def test_a_failed_write_drops_the_batch_and_the_sync_goes_on(
    database: Database,
    connector: PosConnector,
    new_store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await new_store(30)

    async def refusing(session: Any, rows: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", refusing)
    with structlog.testing.capture_logs() as logs:
        monkeypatch.setattr(call_log_module, "log", structlog.get_logger(call_log_module.__name__))
        run = await sync(database, connector, store)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    assert run.created == 30
    assert await calls_of(database, store.store_id) == []
    failed = [entry for entry in logs if entry["event"] == "pos_call_log_failed"]
    assert [entry["calls"] for entry in failed] == [1]
    assert connector.call_log.pending == 0  # dropped, not kept to grow without bound

    # The log works again once the database does.
    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", insert_calls)
    again = await sync(database, connector, store)
    assert again.status is SyncStatus.SUCCEEDED
    assert len(await calls_of(database, store.store_id)) == 1
