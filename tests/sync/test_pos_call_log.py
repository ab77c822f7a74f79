"""The POS call log written in batches: a sync's fetch writes its calls together, what waits is
written when the block ends, at `max_rows`, after `flush_after_s` and on close, and a failed
write loses the rows without touching the sync."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.health import repository as health_repository
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


async def test_a_failed_write_drops_the_batch_after_its_attempts_and_the_sync_goes_on(
    database: Database,
    connector: PosConnector,
    new_store: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = await new_store(30)
    connector.call_log.retry_after_s = 0.01
    attempts: list[int] = []

    async def refusing(session: Any, rows: Any) -> None:
        attempts.append(len(rows))
        raise RuntimeError("disk full")

    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", refusing)
    with structlog.testing.capture_logs() as logs:
        monkeypatch.setattr(call_log_module, "log", structlog.get_logger(call_log_module.__name__))
        run = await sync(database, connector, store)
        assert run.status is SyncStatus.SUCCEEDED, run.error
        assert run.created == 30
        for _ in range(500):
            if len(attempts) == call_log_module.WRITE_ATTEMPTS:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # no further attempt comes
    assert attempts == [1] * call_log_module.WRITE_ATTEMPTS
    assert await calls_of(database, store.store_id) == []
    retried = [entry for entry in logs if entry["event"] == "pos_call_log_write_retried"]
    assert [entry["attempt"] for entry in retried] == list(range(1, call_log_module.WRITE_ATTEMPTS))
    failed = [entry for entry in logs if entry["event"] == "pos_call_log_failed"]
    assert [entry["calls"] for entry in failed] == [1]
    assert connector.call_log.pending == 0  # dropped, not kept to grow without bound

    # The log works again once the database does.
    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", insert_calls)
    again = await sync(database, connector, store)
    assert again.status is SyncStatus.SUCCEEDED
    assert len(await calls_of(database, store.store_id)) == 1


async def test_a_passing_write_failure_loses_neither_the_calls_nor_their_health_effect(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses one write (busy): the calls wait and are written by the retry, with
    what they do to the store's connection state (here: unreachable since the call)."""
    failures = [RuntimeError("database is locked")]

    async def flaky(session: Any, rows: Any) -> None:
        if failures:
            raise failures.pop()
        await insert_calls(session, rows)

    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", flaky)
    log = PosCallLog(database, flush_after_s=60, max_rows=100, retry_after_s=0.01)
    call = await a_call(database, clock)
    unanswered = dataclasses.replace(
        call, status=None, outcome="POS_CONNECTION_FAILED", error="connection refused"
    )
    await log.record(unanswered)  # not batched: written at once, and that write fails
    assert log.pending == 1
    written: list[PosCall] = []
    for _ in range(500):
        written = await calls_of(database, call.store_id)
        if written:
            break
        await asyncio.sleep(0.01)
    assert [c.outcome for c in written] == ["POS_CONNECTION_FAILED"]
    assert log.pending == 0
    async with database.transaction(write=False) as session:
        everything = TenantScope.everything()
        health_row = await health_repository.health_of(session, everything, call.store_id)
    assert health_row is not None
    assert health_row.unreachable_since is not None


async def test_closing_drops_what_cannot_be_written(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refusing(session: Any, rows: Any) -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setattr("ridgeline.pos.repository.insert_calls", refusing)
    log = PosCallLog(database, flush_after_s=60, max_rows=100, retry_after_s=60)
    call = await a_call(database, clock)
    await log.record(call)
    assert log.pending == 1  # kept for the retry
    await log.aclose()
    assert log.pending == 0  # nothing would be left to try again
