"""The retention purge: events older than the setting go, in batches; newer ones stay."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from ridgeline.audit import service
from ridgeline.audit.tasks import PURGE_EVENTS, audit_schedules, audit_tasks
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import JobRegistry, Worker, enqueue
from ridgeline.models import AuditEvent


def test_the_schedule_carries_the_retention_setting(settings: Settings) -> None:
    [schedule] = audit_schedules(settings.model_copy(update={"audit_retention_days": 30}))
    assert (schedule.kind, dict(schedule.payload)) == (PURGE_EVENTS, {"retention_days": 30})
    assert Settings().audit_retention_days == 400


async def test_events_past_retention_are_purged_in_batches(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "PURGE_BATCH", 2)  # 5 old events: three batches
    ages_days = [500, 450, 401, 401, 400.5, 399, 10]
    async with database.transaction() as session:
        for age in ages_days:
            session.add(
                AuditEvent(
                    actor_id=uuid.uuid4(),
                    actor_role="org_admin",
                    action="store.update",
                    changes={"before": {}, "after": {"age": age}},
                    created_at=clock.now() - timedelta(days=age),
                )
            )
        await enqueue(session, PURGE_EVENTS, {"retention_days": 400}, clock=clock)
    registry = JobRegistry()
    registry.include(audit_tasks)
    await Worker(database, registry, clock=clock, rng=random.Random(1)).run_until_idle()
    async with database.transaction(write=False) as session:
        kept = (await session.scalars(select(AuditEvent))).all()
    assert sorted(event.changes["after"]["age"] for event in kept) == [10, 399]
