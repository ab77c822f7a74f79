"""Order jobs: `orders.submit` makes one order's first attempt at its store's POS (see
submission.py); `orders.enqueue_queues` (every `order_queue_interval_s`) fails orders past their
deadline and queues `orders.drain` per store with orders waiting for its POS, which sends them in
order (see queue.py); `orders.enqueue_polls` (every 30 s) queues `orders.poll` per store with open
orders, which reads their statuses at the POS (see tracking.py); and
`orders.purge_idempotency_keys` deletes keys past their 24 h."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import delete

from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobRegistry, PermanentFailure, Schedule
from ridgeline.models.order import IdempotencyKey
from ridgeline.orders import queue, submission, tracking
from ridgeline.orders.service import SUBMIT_JOB
from ridgeline.pos.client import PosConnector
from ridgeline.sync.tasks import POS_CONNECTOR

SUBMIT_TIMEOUT_S = 120.0
PURGE_KEYS = "orders.purge_idempotency_keys"

order_tasks = JobRegistry()
P = TypeVar("P", bound=BaseModel)


class SubmitPayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: uuid.UUID


def _parsed(model: type[P], kind: str, payload: dict[str, Any]) -> P:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PermanentFailure(f"bad {kind} payload: {exc}") from None


@asynccontextmanager
async def _connector(ctx: JobContext) -> AsyncIterator[PosConnector]:
    """The process's POS connector, or one of this job's own where the worker has none."""
    if POS_CONNECTOR in ctx.services:
        yield ctx.services.get(POS_CONNECTOR)
        return
    connector = PosConnector(Settings(), ctx.database, ctx.clock)
    try:
        yield connector
    finally:
        await connector.aclose()


@order_tasks.handler(SUBMIT_JOB, timeout_s=SUBMIT_TIMEOUT_S)
async def submit_order_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    job = _parsed(SubmitPayload, SUBMIT_JOB, payload)
    async with _connector(ctx) as connector:
        await submission.submit(ctx.database, connector, job.order_id, clock=ctx.clock)


class StorePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: uuid.UUID


@order_tasks.handler(queue.ENQUEUE_QUEUES, timeout_s=120)
async def enqueue_order_queues(ctx: JobContext, payload: dict[str, Any]) -> None:
    await queue.enqueue_drains(ctx.database, ctx.job_id, clock=ctx.clock)


@order_tasks.handler(queue.DRAIN_JOB, timeout_s=queue.DRAIN_BUDGET_S + SUBMIT_TIMEOUT_S)
async def drain_order_queue(ctx: JobContext, payload: dict[str, Any]) -> None:
    job = _parsed(StorePayload, queue.DRAIN_JOB, payload)
    async with _connector(ctx) as connector:
        await queue.drain(ctx.database, connector, job.store_id, clock=ctx.clock)


@order_tasks.handler(tracking.ENQUEUE_POLLS, timeout_s=60)
async def enqueue_order_polls(ctx: JobContext, payload: dict[str, Any]) -> None:
    async with ctx.database.transaction() as session:
        await tracking.enqueue_polls(session, clock=ctx.clock)


@order_tasks.handler(tracking.POLL_JOB, timeout_s=300)
async def poll_orders_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    job = _parsed(StorePayload, tracking.POLL_JOB, payload)
    async with _connector(ctx) as connector:
        await tracking.poll_store(ctx.database, connector, job.store_id, clock=ctx.clock)


@order_tasks.handler(PURGE_KEYS, timeout_s=300)
async def purge_idempotency_keys(ctx: JobContext, payload: dict[str, Any]) -> None:
    # An expired key is replaced when it is used again; this only keeps the table small.
    async with ctx.database.transaction() as session:
        await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= ctx.clock.now())
        )


def order_schedules(settings: Settings) -> list[Schedule]:
    return [
        Schedule(PURGE_KEYS, every_s=3600),
        Schedule(queue.ENQUEUE_QUEUES, every_s=settings.order_queue_interval_s),
        Schedule(tracking.ENQUEUE_POLLS, every_s=tracking.POLL_EVERY_S),
    ]
