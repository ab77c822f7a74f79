from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, StrEnumType


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the last attempt failed; it runs again at run_at
    DEAD = "dead"  # out of attempts; last_error says why


class Job(EntityMixin, Base):
    """A unit of background work. The row is the job: nothing about it lives only in memory.

    A worker owns a running job while `lease_expires_at` is in the future and `lease_token`
    matches its own; once the lease has expired any worker may claim it again.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claimable", "status", "run_at"),)

    kind: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[JobStatus] = mapped_column(StrEnumType(JobStatus, 16), default=JobStatus.QUEUED)
    priority: Mapped[int] = mapped_column(default=0)  # lower runs first
    run_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    lease_token: Mapped[str | None] = mapped_column(String(64), default=None)
    locked_by: Mapped[str | None] = mapped_column(String(200), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set for jobs that must exist at most once (a periodic schedule's slot, a store's sync).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    # The W3C `traceparent` of the span that queued the job (docs/monitoring.md#traces): the job's
    # span continues that trace. None when tracing was off.
    trace_context: Mapped[str | None] = mapped_column(String(55), default=None)
