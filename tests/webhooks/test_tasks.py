"""The `pos.process_event` job: an event is processed once however often its job runs, and a
burst of product events asks for one incremental sync."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.pos_event import PosEvent
from ridgeline.webhooks import tasks as webhook_jobs
from ridgeline.webhooks.processing import process_event
from ridgeline.webhooks.tasks import EventPayload, process_pos_event
from tests.assertions import data_of
from tests.webhooks.conftest import (
    blaze_event,
    configure,
    count,
    hook,
    job_context,
    sync_jobs,
    webhook_worker,
)


async def test_a_burst_of_product_events_asks_for_one_sync(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    for n in range(3):
        response = await client.post(hook(settings, tenant.store.id), json=blaze_event(f"e{n}"))
        assert data_of(response)["duplicate"] is False
    await webhook_worker(database, clock).run_until_idle()
    assert await count(database, PosEvent, PosEvent.processed_at.is_not(None)) == 3
    assert len(await sync_jobs(database)) == 2  # one incremental, one inventory


async def test_a_job_that_runs_twice_processes_the_event_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await configure(database, app, "blaze")
    events = []
    for name in ("one", "two"):
        response = await client.post(hook(settings, tenant.store.id), json=blaze_event(name))
        events.append(EventPayload(event_id=data_of(response)["event_id"]))
    processed: list[uuid.UUID] = []

    async def counting(session: Any, event: PosEvent, **kwargs: Any) -> Any:
        processed.append(event.id)
        return await process_event(session, event, **kwargs)

    monkeypatch.setattr(webhook_jobs, "process_event", counting)

    # One after the other: the second run finds it processed and leaves it as it was.
    await process_pos_event(job_context(database, clock), events[0])
    async with database.transaction(write=False) as session:
        first = await session.get(PosEvent, events[0].event_id)
    clock.advance(30)
    await process_pos_event(job_context(database, clock), events[0])
    async with database.transaction(write=False) as session:
        later = await session.get(PosEvent, events[0].event_id)
    assert first is not None
    assert later is not None
    assert later.processed_at == first.processed_at
    # At the same time: the event is locked while it is processed, so one run does it.
    await asyncio.gather(
        *(process_pos_event(job_context(database, clock), events[1]) for _ in range(3))
    )
    assert sorted(processed) == sorted(e.event_id for e in events)
    assert len(await sync_jobs(database)) == 2  # one incremental, one inventory
