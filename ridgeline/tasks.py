"""Every domain's background job handlers and periodic schedules, assembled for the worker.

A domain keeps its handlers in its own `tasks.py` (a `JobRegistry`, each handler registered with
its payload model) and its schedules beside them; this module only lists them.
"""

from __future__ import annotations

from ridgeline.alerts.tasks import (
    CHANNEL_CIPHER,
    OUTBOUND_POLICY,
    alert_schedules,
    alert_tasks,
    channel_cipher,
)
from ridgeline.audit.tasks import audit_schedules, audit_tasks
from ridgeline.auth.tasks import auth_schedules, auth_tasks
from ridgeline.config import Settings
from ridgeline.health.tasks import health_schedules, health_tasks
from ridgeline.jobs import JobRegistry, JobServices, Schedule
from ridgeline.jobs.tasks import job_schedules as job_table_schedules
from ridgeline.jobs.tasks import job_tasks
from ridgeline.orders.tasks import order_schedules, order_tasks
from ridgeline.outbound import OutboundPolicy
from ridgeline.pos.client import PosConnector
from ridgeline.pos.tasks import POS_CONNECTOR, pos_schedules, pos_tasks
from ridgeline.realtime.tasks import realtime_schedules, realtime_tasks
from ridgeline.status.tasks import status_schedules, status_tasks
from ridgeline.sync.tasks import sync_schedules, sync_tasks
from ridgeline.webhooks.tasks import webhook_tasks


def job_services(connector: PosConnector) -> JobServices:
    """The long-lived objects handlers share: one POS connector per process (its connection
    pool, rate-limit buckets and retry budgets)."""
    services = JobServices()
    services.provide(POS_CONNECTOR, connector)
    services.provide(CHANNEL_CIPHER, channel_cipher(connector.settings))
    services.provide(OUTBOUND_POLICY, OutboundPolicy.from_settings(connector.settings))
    return services


def job_registry() -> JobRegistry:
    registry = JobRegistry()
    domains = (
        job_tasks,
        pos_tasks,
        realtime_tasks,
        sync_tasks,
        order_tasks,
        webhook_tasks,
        health_tasks,
        alert_tasks,
        status_tasks,
        audit_tasks,
        auth_tasks,
    )
    for domain in domains:
        registry.include(domain)
    return registry


def job_schedules(settings: Settings) -> list[Schedule]:
    return [
        *job_table_schedules(),
        *pos_schedules(),
        *realtime_schedules(),
        *sync_schedules(),
        *order_schedules(settings),
        *health_schedules(),
        *alert_schedules(),
        *status_schedules(settings),
        *audit_schedules(settings),
        *auth_schedules(),
    ]
