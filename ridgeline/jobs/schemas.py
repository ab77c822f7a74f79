from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ridgeline.models.job import JobStatus


class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    status: JobStatus
    payload: dict[str, Any]
    priority: int
    run_at: datetime
    attempts: int
    max_attempts: int
    locked_by: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    finished_at: datetime | None
    dedupe_key: str | None
    created_at: datetime
    updated_at: datetime


class JobQueueSummary(BaseModel):
    counts: dict[JobStatus, int] = Field(description="Jobs in each status, zero included.")
    counts_by_kind: dict[str, dict[JobStatus, int]] = Field(
        description="For each kind in the table, its jobs in each status it has."
    )
    due: int = Field(
        description="Jobs due now that no worker has started (queued, or failed and due again)."
    )
    oldest_due_at: datetime | None = Field(
        description="When the job waiting longest became due; null when none waits."
    )
