"""The `pos.process_event` job: processes one stored POS event, once.

An order event is locked and its `processed_at` checked, acted on and set in one transaction, so
a job that runs twice (a lease lost to a crash, a duplicate enqueue) processes it once. A product
event's POS reads run between two transactions (no transaction stays open across a POS call):
the event is marked processed after its reads, so a crash during them runs the job, and the
reads, again; a second run of the job finds the first's reads (a run that started after the
event arrived) and reads nothing more (processing.py).
"""

from __future__ import annotations

import uuid

import structlog

from ridgeline.jobs import JobContext, JobPayload, JobRegistry, RetryLater
from ridgeline.models.pos_event import PosEvent
from ridgeline.pos.tasks import job_connector
from ridgeline.webhooks import repository
from ridgeline.webhooks.processing import Outcome, catch_up, process_event
from ridgeline.webhooks.service import PROCESS_EVENT_JOB

log = structlog.get_logger(__name__)

webhook_tasks = JobRegistry()


class EventPayload(JobPayload):
    event_id: uuid.UUID


# Long enough for the reads of a large store's changes and stock (a sync run's own timeout is
# 30 min; a read of that length is left to the schedule's runs by the next attempt).
PROCESS_EVENT_TIMEOUT_S = 600.0


@webhook_tasks.handler(PROCESS_EVENT_JOB, timeout_s=PROCESS_EVENT_TIMEOUT_S, payload=EventPayload)
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
            if outcome.catch_up is None:
                _mark_processed(event, outcome, ctx)
        if outcome.catch_up is not None:
            async with job_connector(ctx) as connector:
                outcome = await catch_up(ctx.database, connector, outcome.catch_up, clock=ctx.clock)
            async with ctx.database.transaction() as session:
                event = await repository.event_for_processing(session, event_id)
                if event is None or event.processed_at is not None:
                    return  # deleted with its store, or a second run of this job was first
                _mark_processed(event, outcome, ctx)
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


def _mark_processed(event: PosEvent, outcome: Outcome, ctx: JobContext) -> None:
    event.processed_at = ctx.clock.now()
    event.outcome = outcome.description[:200]
    event.error = outcome.error


async def _record_failure(ctx: JobContext, event_id: uuid.UUID, error: str) -> None:
    async with ctx.database.transaction() as session:
        event = await repository.event_for_processing(session, event_id)
        if event is not None and event.processed_at is None:
            event.processed_at = ctx.clock.now()
            event.error = error
    log.error("pos_event_failed", event_id=str(event_id), error=error)
