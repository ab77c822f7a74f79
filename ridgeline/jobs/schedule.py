"""Periodic jobs. Time is cut into slots of `every_s` seconds since the epoch; each slot of a
schedule is enqueued with the dedupe key `"{kind}@{slot}"`, so however many worker processes tick,
the database keeps one job per slot.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.jobs.queue import enqueue
from ridgeline.models.job import Job

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str
    every_s: float
    payload: Mapping[str, Any] = field(default_factory=dict, hash=False)
    priority: int = 0
    # Few attempts: the next slot runs the work again anyway.
    max_attempts: int = 3

    def __post_init__(self) -> None:
        if self.every_s <= 0:
            raise ValueError(f"every_s must be > 0, got {self.every_s}")

    def slot(self, at: datetime) -> int:
        return math.floor(at.timestamp() / self.every_s)

    def dedupe_key(self, slot: int) -> str:
        return f"{self.kind}@{slot}"


class Scheduler:
    """Enqueues each schedule's current slot once; a worker calls `tick` on every poll.

    It remembers the last slot it enqueued per schedule, so it writes once per slot, not once per
    poll; the dedupe key makes that once across all processes.
    """

    def __init__(self, schedules: Iterable[Schedule]) -> None:
        self.schedules = tuple(schedules)
        kinds = [schedule.kind for schedule in self.schedules]
        if len(set(kinds)) != len(kinds):
            # Slots of two schedules of one kind would share dedupe keys and swallow each other.
            raise ValueError(f"two schedules have the same kind: {sorted(kinds)}")
        self._last_slot: dict[str, int] = {}

    async def tick(self, database: Database, *, clock: Clock) -> list[Job]:
        """Enqueues the schedules whose slot changed; returns the jobs this call inserted."""
        now = clock.now()
        due = [
            (schedule, slot)
            for schedule in self.schedules
            if self._last_slot.get(schedule.kind) != (slot := schedule.slot(now))
        ]
        if not due:
            return []
        inserted: list[Job] = []
        async with database.transaction() as session:
            for schedule, slot in due:
                job = await enqueue(
                    session,
                    schedule.kind,
                    schedule.payload,
                    clock=clock,
                    priority=schedule.priority,
                    max_attempts=schedule.max_attempts,
                    dedupe_key=schedule.dedupe_key(slot),
                )
                if job is not None:
                    inserted.append(job)
        for schedule, slot in due:
            self._last_slot[schedule.kind] = slot
        for job in inserted:
            log.info("schedule_enqueued", job_id=str(job.id), kind=job.kind, key=job.dedupe_key)
        return inserted
