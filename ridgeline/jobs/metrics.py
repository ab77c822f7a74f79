"""Prometheus metrics of the job queue, shared by the worker and the lease sweep in `queue`."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import Counter, Histogram

from ridgeline.monitoring.statsd import timed_operation


class JobOutcome(StrEnum):
    """How one run of a job ended, as counted in `ridgeline_jobs_finished_total`."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # will run again after its backoff
    DEAD = "dead"  # out of attempts, permanent failure or unknown kind
    DEFERRED = "deferred"  # the handler asked to run again later (RetryLater)
    LEASE_LOST = "lease_lost"  # another worker reclaimed it; this run's outcome was discarded


JOBS_FINISHED = Counter(
    "ridgeline_jobs_finished",
    "Job runs that ended, by kind and outcome.",
    ["kind", "outcome"],
)
JOBS_RECLAIMED = Counter(
    "ridgeline_jobs_reclaimed",
    "Running jobs whose lease expired (their worker died or stalled) and were taken back.",
    ["kind"],
)
JOB_RUN_SECONDS = timed_operation(
    "job_run",
    "ridgeline_jobs_run_duration_seconds",
    "Wall time of one run of a job's handler, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
JOB_START_DELAY = Histogram(
    "ridgeline_jobs_start_delay_seconds",
    "From when a job was due (its run_at) to when a worker claimed it, by kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
