"""Fleet gauges: how many stores, jobs, orders and alerts are in each state, read from the
database by `refresh_fleet_metrics` (the `/metrics` exposition calls it, at most every few
seconds).

These figures are the shared database's, not the process's: every process exposes the same
values, so a dashboard aggregates them across processes with `max()`, never `sum()`
(docs/monitoring.md#metrics).

Every known label value is set on each refresh, to 0 when nothing is in it, so a state that
empties reads 0 instead of keeping its last count; values the code does not know (a row written
by a newer release) are left out, which keeps the labels bounded.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts.lifecycle import AlertState
from ridgeline.alerts.rules import Severity
from ridgeline.jobs import repository as jobs_repository
from ridgeline.models.health import StoreConnectionState
from ridgeline.models.job import JobStatus
from ridgeline.models.order import OrderStatus
from ridgeline.models.status import ComponentStatus
from ridgeline.monitoring import repository
from ridgeline.status import repository as status_repository
from ridgeline.status.components import COMPONENTS

STORES = Gauge(
    "ridgeline_stores",
    "Stores in each connection state (fleet-wide, from the database: aggregate with max()).",
    ["state"],
)
JOBS = Gauge(
    "ridgeline_jobs",
    "Jobs in each status (fleet-wide, from the database: aggregate with max()).",
    ["status"],
)
JOBS_DUE = Gauge(
    "ridgeline_jobs_due",
    "Jobs due that no worker has started: queued, or failed and due to retry (fleet-wide).",
)
JOBS_OLDEST_DUE_AGE = Gauge(
    "ridgeline_jobs_oldest_due_age_seconds",
    "How long the job waiting longest past its due time has waited; 0 when none waits.",
)
ORDERS = Gauge(
    "ridgeline_orders",
    "Open orders in each status (fleet-wide, from the database: aggregate with max()).",
    ["status"],
)
ALERTS = Gauge(
    "ridgeline_alerts",
    "Unresolved alerts by state and severity (fleet-wide, from the database: use max()).",
    ["state", "severity"],
)
STATUS_COMPONENTS = Gauge(
    "ridgeline_status_component",
    "1 for each status page component's shown status, 0 for its other statuses.",
    ["component", "status"],
)

# Orders that still need something to happen; terminal ones are counted as they end, by
# `ridgeline_orders_status_changes_total`.
OPEN_ORDER_STATUSES = (
    OrderStatus.RECEIVED,
    OrderStatus.QUEUED,
    OrderStatus.SUBMITTED,
    OrderStatus.ACCEPTED,
    OrderStatus.READY,
)
OPEN_ALERT_STATES = (AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED)


async def refresh_fleet_metrics(session: AsyncSession, now: datetime) -> None:
    """Sets the fleet gauges from a handful of GROUP BY counts in `session` (read-only).

    Raises what the database raises; the caller decides whether a scrape answers without them.
    """
    stores = await repository.store_counts_by_state(session)
    jobs = await jobs_repository.job_counts_by_status(session)
    due, oldest_due_at = await jobs_repository.due_backlog(session, now)
    orders = await repository.order_counts_by_status(session, OPEN_ORDER_STATUSES)
    alerts = await repository.open_alert_counts(session)
    shown = {row.key: row.status for row in await status_repository.components(session)}
    # Set only once every query answered: a failure leaves the previous figures whole.
    for state in StoreConnectionState:
        STORES.labels(state=state.value).set(stores.get(state.value, 0))
    for status in JobStatus:
        JOBS.labels(status=status.value).set(jobs.get(status, 0))
    JOBS_DUE.set(due)
    JOBS_OLDEST_DUE_AGE.set(
        max(0.0, (now - oldest_due_at).total_seconds()) if oldest_due_at is not None else 0.0
    )
    for order_status in OPEN_ORDER_STATUSES:
        ORDERS.labels(status=order_status.value).set(orders.get(order_status.value, 0))
    for alert_state in OPEN_ALERT_STATES:
        for severity in Severity:
            count = alerts.get((alert_state.value, severity.value), 0)
            ALERTS.labels(state=alert_state.value, severity=severity.value).set(count)
    for spec in COMPONENTS:
        current = shown.get(spec.key, ComponentStatus.OPERATIONAL)
        for component_status in ComponentStatus:
            STATUS_COMPONENTS.labels(component=spec.key, status=component_status.value).set(
                1 if component_status is current else 0
            )
