"""Each store's queue of orders waiting for its POS, and their deadline.

An order whose first attempt meets a passing failure (the POS down, the breaker open, a
timeout) is `queued`; an order placed while its store has queued orders waits behind them
without calling the POS. Every `order_queue_interval_s` the `orders.enqueue_queues` schedule
fails the orders past their deadline and queues one `orders.drain` job per store with waiting
orders, which sends them oldest first and stops when the POS is away (the breaker open), or when
the order in front failed `DRAIN_TRIES_PER_ORDER` times in a row: the next tick tries again. So
the orders reach the POS in the order they were placed, whatever the number of processes (each
attempt holds the order's lease, submission.py). A drain runs before first attempts
(`DRAIN_PRIORITY`): while a store has a queue, its new orders' own jobs only queue them behind it.

An order not at the POS by its deadline (`submit_deadline_at`, from `order_submit_deadline_s`
when it was placed) ends `failed` with the reason and the last error; the kiosk hears of it on
the order's stream and operators get an `order_failed` alert (docs/reliability.md point 9).
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from ridgeline.jobs import repository as jobs_repository
from ridgeline.models.job import Job
from ridgeline.models.order import OrderStatus, TransitionSource
from ridgeline.orders import repository
from ridgeline.orders.repository import EVERYWHERE
from ridgeline.orders.service import SUBMIT_PRIORITY
from ridgeline.orders.status import transition
from ridgeline.orders.submission import (
    SUBMITTABLE,
    Outcome,
    alert_order_ended,
    attempt,
    enqueue_stray_check,
)
from ridgeline.pos.client import PosConnector

log = structlog.get_logger(__name__)

ENQUEUE_QUEUES = "orders.enqueue_queues"
DRAIN_JOB = "orders.drain"
# A `received` order this old has lost its own job's first attempt (a crash, a bug being
# retried): the store's queue sends it too, in its place.
STRANDED_AFTER = timedelta(seconds=60)
# One drain sends at most this many orders, for at most this long; the next tick goes on.
DRAIN_MAX_ORDERS = 200
DRAIN_BUDGET_S = 240.0
# A timeout or a 5xx now and then is not an outage: the breaker, which judges each call with its
# retries, says when the POS is away. This bound only keeps an order that the POS keeps failing
# from holding the drain: it is tried this often in a row before the drain waits for the next
# tick. (At 3, against a POS failing 30% of calls at random, a BLAZE order, three calls per
# attempt, half of them deferred, ended the drain about one time in eight.)
DRAIN_TRIES_PER_ORDER = 6
# Jobs run by priority (lower first), then by time. A drain goes before the first-attempt jobs
# (SUBMIT_PRIORITY) of orders placed meanwhile, which only queue those orders behind it: during
# the chaos run's burst of orders the drains waited over 2 min behind nearly 3,000 of them. Both
# are urgent (below jobs.queue.URGENT_BELOW): routine work never takes a worker's last slot.
DRAIN_PRIORITY = SUBMIT_PRIORITY - 1
EXPIRE_BATCH = 500


async def enqueue_drains(database: Database, job_id: uuid.UUID, *, clock: Clock) -> int:
    """The schedule's work: fail what is past its deadline, then one drain per store with
    orders waiting. Returns the number of drains queued."""
    await expire_overdue(database, clock=clock)
    now = clock.now()
    async with database.transaction() as session:
        store_ids = await repository.stores_with_waiting_orders(
            session, received_before=now - STRANDED_AFTER
        )
        # A drain not yet started will see every order waiting now: no second one behind it
        # (a worker that fell behind would otherwise collect one per tick).
        waiting = await jobs_repository.queued_jobs(session, DRAIN_JOB)
        store_ids -= {_store_of(job) for job in waiting}
        for store_id in store_ids:
            # One drain per store per tick; a drain still running from the last tick and this
            # one take turns through the orders' leases.
            await enqueue(
                session,
                DRAIN_JOB,
                {"store_id": str(store_id)},
                clock=clock,
                dedupe_key=f"{DRAIN_JOB}:{store_id}:{job_id}",
                max_attempts=1,
                priority=DRAIN_PRIORITY,
            )
    return len(store_ids)


def _store_of(job: Job) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(job.payload.get("store_id")))
    except ValueError:
        return None  # not one of ours; the job fails on its own


async def drain(
    database: Database, connector: PosConnector, store_id: uuid.UUID, *, clock: Clock
) -> int:
    """Sends the store's waiting orders to its POS, oldest first. Stops when the breaker is open
    (the POS is away: the next tick tries again), when the order in front fails
    `DRAIN_TRIES_PER_ORDER` times in a row, or when another run holds it. Returns how many
    reached an end (submitted or rejected)."""
    sent = failures = 0
    started = time.monotonic()
    while sent < DRAIN_MAX_ORDERS and time.monotonic() - started < DRAIN_BUDGET_S:
        await expire_overdue(database, clock=clock, store_id=store_id)
        head = await _head(database, store_id)
        if head is None:
            break
        outcome = await attempt(database, connector, head, clock=clock)
        if outcome in (Outcome.UNAVAILABLE, Outcome.BUSY):
            break
        if outcome is Outcome.DEFERRED:
            failures += 1
            if failures >= DRAIN_TRIES_PER_ORDER:
                break
            continue  # the same order again (looked up first): one failure is not an outage
        failures = 0
        sent += 1
    if sent:
        log.info("order_queue_drained", store_id=str(store_id), sent=sent)
    return sent


async def _head(database: Database, store_id: uuid.UUID) -> uuid.UUID | None:
    async with database.transaction(write=False) as session:
        return await repository.queue_head(session, store_id, SUBMITTABLE)


async def expire_overdue(
    database: Database, *, clock: Clock, store_id: uuid.UUID | None = None
) -> int:
    """Fails the waiting orders past their deadline (all stores', or one store's) whose lease is
    free: an attempt that is out decides its order's fate first."""
    now = clock.now()
    async with database.transaction(write=False) as session:
        overdue = await repository.overdue_orders(
            session, SUBMITTABLE, now=now, store_id=store_id, limit=EXPIRE_BATCH
        )
    failed = 0
    for order_id in overdue:
        async with database.transaction() as session:
            failed += await _fail_overdue(session, order_id, now, clock=clock)
    return failed


async def _fail_overdue(
    session: AsyncSession, order_id: uuid.UUID, now: datetime, *, clock: Clock
) -> int:
    order = await repository.order(session, EVERYWHERE, order_id, for_update=True)
    if (
        order is None
        or order.status not in SUBMITTABLE
        or order.submit_deadline_at is None
        or order.submit_deadline_at > now
        or (order.submit_lease_until is not None and order.submit_lease_until > now)
    ):
        return 0
    last = f"; last error: {order.failure_reason}" if order.failure_reason else ""
    reason = (
        f"not accepted by the POS before its deadline {order.submit_deadline_at.isoformat()}"
        f" ({order.submit_attempts} attempt(s)){last}"
    )[:2000]
    order.failure_reason = reason
    await transition(
        session, order, OrderStatus.FAILED, source=TransitionSource.WORKER, at=now, reason=reason
    )
    await alert_order_ended(session, order, kind="order_failed", reason=reason, at=now)
    await enqueue_stray_check(session, order, clock=clock)
    log.warning(
        "order_failed",
        order_id=str(order.id),
        store_id=str(order.store_id),
        attempts=order.submit_attempts,
        reason=reason,
    )
    return 1
