"""The `pos.process_event` job: processes one stored POS event, once.

The event is locked and its `processed_at` checked, acted on and set in one transaction, so a
job that runs twice (a lease lost to a crash, a duplicate enqueue) processes it once.
"""

from __future__ import annotations

import uuid

import structlog

from ridgeline.jobs import JobContext, JobPayload, JobRegistry, RetryLater
from ridgeline.webhooks import repository
from ridgeline.webhooks.processing import process_event
from ridgeline.webhooks.service import PROCESS_EVENT_JOB

log = structlog.get_logger(__name__)

webhook_tasks = JobRegistry()


class EventPayload(JobPayload):
    event_id: uuid.UUID


@webhook_tasks.handler(PROCESS_EVENT_JOB, timeout_s=60, payload=EventPayload)
async def process_pos_event(ctx: JobContext, payload: EventPayload) -> None:
    event_id = payload.event_id
    try:
        async with ctx.database.transaction() as session:
            event = await repository.event_for_processing(session, event_id)
            if event is None:  # its store was deleted
                log.info("pos_event_gone", event_id=str(event_id))
                return
            if event.processed_at is not None:
                log.info("pos_event_already_processed", event_id=str(event_id))
                return
            outcome = await process_event(
                session, event, clock=ctx.clock, enqueued_at=ctx.enqueued_at
            )
            event.processed_at = ctx.clock.now()
            event.outcome = outcome.description[:200]
            event.error = outcome.error
    except RetryLater:
        raise
    except Exception as exc:
        # Retried by the queue; on its last attempt the event is marked failed for operators.
        if ctx.is_last_attempt:
            await _record_failure(ctx, event_id, f"{type(exc).__name__}: {exc}")
        raise
    log.info(
        "pos_event_processed",
        event_id=str(event_id),
        store_id=str(event.store_id),
        event_type=event.event_type,
        outcome=outcome.description,
        error=outcome.error,
    )


async def _record_failure(ctx: JobContext, event_id: uuid.UUID, error: str) -> None:
    async with ctx.database.transaction() as session:
        event = await repository.event_for_processing(session, event_id)
        if event is not None and event.processed_at is None:
            event.processed_at = ctx.clock.now()
            event.error = error
    log.error("pos_event_failed", event_id=str(event_id), error=error)
