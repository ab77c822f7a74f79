"""The durable job queue: jobs are rows in `jobs`, claimed by workers under a lease.

See docs/jobs.md for the model and the handler contract.
"""

from ridgeline.jobs.queue import (
    DEFAULT_MAX_ATTEMPTS,
    Backoff,
    ClaimedJob,
    RecordedFailure,
    claim,
    complete,
    defer,
    enqueue,
    extend_lease,
    fail,
)
from ridgeline.jobs.registry import (
    HandlerTimedOut,
    JobContext,
    JobHandler,
    JobPayload,
    JobRegistry,
    JobServices,
    MissingService,
    NoPayload,
    PermanentFailure,
    RetryLater,
    ServiceKey,
)
from ridgeline.jobs.schedule import Schedule, Scheduler
from ridgeline.jobs.service import (
    count_jobs_by_status,
    get_job,
    list_jobs,
    purge_succeeded,
    retry_dead,
)
from ridgeline.jobs.worker import Worker

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "Backoff",
    "ClaimedJob",
    "HandlerTimedOut",
    "JobContext",
    "JobHandler",
    "JobPayload",
    "JobRegistry",
    "JobServices",
    "MissingService",
    "NoPayload",
    "PermanentFailure",
    "RecordedFailure",
    "RetryLater",
    "Schedule",
    "Scheduler",
    "ServiceKey",
    "Worker",
    "claim",
    "complete",
    "count_jobs_by_status",
    "defer",
    "enqueue",
    "extend_lease",
    "fail",
    "get_job",
    "list_jobs",
    "purge_succeeded",
    "retry_dead",
]
