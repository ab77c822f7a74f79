"""Order jobs: `orders.submit` makes one order's first attempt at its store's POS (see
submission.py); `orders.enqueue_queues` (every `order_queue_interval_s`) fails orders past their
deadline and queues `orders.drain` per store with orders waiting for its POS, which sends them in
order (see queue.py); `orders.enqueue_polls` (every 30 s) queues `orders.poll` per store with open
orders, which reads their statuses at the POS (see tracking.py); and
`orders.purge_idempotency_keys` deletes keys past their 24 h."""

from __future__ import annotations

import uuid

from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobPayload, JobRegistry, NoPayload, Schedule
from ridgeline.orders import queue, repository, submission, tracking
from ridgeline.orders.service import SUBMIT_JOB
from ridgeline.pos.tasks import job_connector

SUBMIT_TIMEOUT_S = 120.0
PURGE_KEYS = "orders.purge_idempotency_keys"

order_tasks = JobRegistry()


class SubmitPayload(JobPayload):
    order_id: uuid.UUID


class StorePayload(JobPayload):
    store_id: uuid.UUID


@order_tasks.handler(SUBMIT_JOB, timeout_s=SUBMIT_TIMEOUT_S, payload=SubmitPayload)
async def submit_order_job(ctx: JobContext, payload: SubmitPayload) -> None:
    async with job_connector(ctx) as connector:
        await submission.submit(ctx.database, connector, payload.order_id, clock=ctx.clock)


@order_tasks.handler(queue.ENQUEUE_QUEUES, timeout_s=120, payload=NoPayload)
async def enqueue_order_queues(ctx: JobContext, payload: NoPayload) -> None:
    await queue.enqueue_drains(ctx.database, ctx.job_id, clock=ctx.clock)


@order_tasks.handler(
    queue.DRAIN_JOB, timeout_s=queue.DRAIN_BUDGET_S + SUBMIT_TIMEOUT_S, payload=StorePayload
)
async def drain_order_queue(ctx: JobContext, payload: StorePayload) -> None:
    async with job_connector(ctx) as connector:
        await queue.drain(ctx.database, connector, payload.store_id, clock=ctx.clock)


@order_tasks.handler(tracking.ENQUEUE_POLLS, timeout_s=60, payload=NoPayload)
async def enqueue_order_polls(ctx: JobContext, payload: NoPayload) -> None:
    async with ctx.database.transaction() as session:
        await tracking.enqueue_polls(session, clock=ctx.clock)


@order_tasks.handler(tracking.POLL_JOB, timeout_s=300, payload=StorePayload)
async def poll_orders_job(ctx: JobContext, payload: StorePayload) -> None:
    async with job_connector(ctx) as connector:
        await tracking.poll_store(ctx.database, connector, payload.store_id, clock=ctx.clock)


@order_tasks.handler(PURGE_KEYS, timeout_s=300, payload=NoPayload)
async def purge_idempotency_keys(ctx: JobContext, payload: NoPayload) -> None:
    # An expired key is replaced when it is used again; this only keeps the table small.
    async with ctx.database.transaction() as session:
        await repository.purge_idempotency_keys(session, now=ctx.clock.now())


def order_schedules(settings: Settings) -> list[Schedule]:
    return [
        Schedule(PURGE_KEYS, every_s=3600),
        Schedule(queue.ENQUEUE_QUEUES, every_s=settings.order_queue_interval_s),
        Schedule(tracking.ENQUEUE_POLLS, every_s=tracking.POLL_EVERY_S),
    ]
