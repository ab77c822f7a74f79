"""Prometheus metrics of catalog syncs (`ridgeline_sync_*`)."""

from __future__ import annotations

from prometheus_client import Counter

from ridgeline.monitoring.statsd import timed_operation

SYNC_RUNS = Counter(
    "ridgeline_sync_runs_total", "Finished sync runs by kind and status.", ["kind", "status"]
)
SYNC_RUN_DURATION = timed_operation(
    "sync_run",
    "ridgeline_sync_run_duration_seconds",
    "Duration of a sync run, lock to finish.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
SYNC_RECORDS = Counter(
    "ridgeline_sync_records_total",
    "Records seen by syncs, by outcome (created, updated, deactivated, unchanged, invalid).",
    ["kind", "outcome"],
)
