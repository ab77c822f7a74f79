from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import Schedule, Scheduler
from ridgeline.models.job import Job

# 2026-01-01T00:00:00Z is a multiple of 60 s and of 3600 s since the epoch.
START = datetime(2026, 1, 1, tzinfo=UTC)


async def scheduled_keys(database: Database) -> list[str | None]:
    async with database.transaction(write=False) as session:
        return list((await session.scalars(select(Job.dedupe_key).order_by(Job.dedupe_key))).all())


def test_a_slot_is_the_number_of_whole_periods_since_the_epoch() -> None:
    schedule = Schedule("health.check", every_s=60)
    slot = int(START.timestamp()) // 60
    assert schedule.slot(START) == slot
    assert schedule.slot(datetime(2026, 1, 1, 0, 0, 59, tzinfo=UTC)) == slot
    assert schedule.slot(datetime(2026, 1, 1, 0, 1, tzinfo=UTC)) == slot + 1
    assert schedule.dedupe_key(slot) == f"health.check@{slot}"


def test_schedules_refuse_bad_definitions() -> None:
    with pytest.raises(ValueError, match="every_s"):
        Schedule("x", every_s=0)
    with pytest.raises(ValueError, match="same kind"):
        Scheduler([Schedule("x", every_s=60), Schedule("x", every_s=30)])


async def test_many_schedulers_enqueue_each_slot_once(database: Database) -> None:
    clock = FakeClock(START)
    schedule = Schedule("health.check", every_s=60, payload={"deep": True}, priority=2)
    # Three worker processes, each with its own in-memory scheduler.
    schedulers = [Scheduler([schedule]) for _ in range(3)]
    first_slot = schedule.slot(START)

    inserted = [await scheduler.tick(database, clock=clock) for scheduler in schedulers]
    assert [len(jobs) for jobs in inserted] == [1, 0, 0]
    job = inserted[0][0]
    assert (job.kind, job.payload, job.priority) == ("health.check", {"deep": True}, 2)

    clock.advance(30)  # same slot: no new job, and no write either
    for scheduler in schedulers:
        assert await scheduler.tick(database, clock=clock) == []

    clock.advance(30)
    for scheduler in reversed(schedulers):
        await scheduler.tick(database, clock=clock)
    clock.advance(60)
    for scheduler in schedulers:
        await scheduler.tick(database, clock=clock)

    assert await scheduled_keys(database) == [
        f"health.check@{first_slot}",
        f"health.check@{first_slot + 1}",
        f"health.check@{first_slot + 2}",
    ]


async def test_a_scheduler_ticks_every_schedule_independently(database: Database) -> None:
    clock = FakeClock(START)
    scheduler = Scheduler([Schedule("fast", every_s=60), Schedule("slow", every_s=3600)])
    assert len(await scheduler.tick(database, clock=clock)) == 2
    clock.advance(60)
    assert [job.kind for job in await scheduler.tick(database, clock=clock)] == ["fast"]
    clock.advance(3540)
    assert sorted(job.kind for job in await scheduler.tick(database, clock=clock)) == [
        "fast",
        "slow",
    ]
