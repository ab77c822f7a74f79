"""The status page's rules at work: each evaluation observes the platform, judges every
component (status/rules.py), applies overrides, maintenance and open incidents, records each
change of status (the history uptime is computed from) and proposes draft incidents.

What a component shows, first match wins:
1. an operator's override, until it expires;
2. `under_maintenance` while a published maintenance that names it is in progress;
3. the worse of the rules' status and the statuses that open published incidents declare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts.platform import platform_organization_id
from ridgeline.jobs import repository as jobs_repository
from ridgeline.models.health import StoreConnectionState
from ridgeline.models.status import (
    ComponentStatus,
    IncidentImpact,
    IncidentKind,
    IncidentStatus,
    StatusComponent,
    StatusComponentChange,
    StatusIncident,
    StatusIncidentUpdate,
)
from ridgeline.monitoring import repository as monitoring_repository
from ridgeline.monitoring.performance import LIVE_WITHIN
from ridgeline.status import repository, uptime
from ridgeline.status.components import BY_KEY, COMPONENTS, SEVERITY, worse
from ridgeline.status.rules import (
    ORDER_STUCK_S,
    PLATFORM_ALERTS,
    Finding,
    Observations,
    ProcessView,
    VendorStores,
    evaluate_all,
)

log = structlog.get_logger(__name__)

ANSWERING = (StoreConnectionState.CONNECTED.value, StoreConnectionState.DEGRADED.value)
DOWN = (StoreConnectionState.ERROR.value, StoreConnectionState.OFFLINE.value)
# Causes that are the store's own, not its vendor's (health/state.py).
OWN_FAULT_CAUSES = frozenset({"credentials_refused", "breaker_forced_open"})
IN_PROGRESS = (IncidentStatus.IN_PROGRESS, IncidentStatus.VERIFYING)

IMPACT_OF_STATUS = {
    ComponentStatus.OPERATIONAL: IncidentImpact.NONE,
    ComponentStatus.UNDER_MAINTENANCE: IncidentImpact.NONE,
    ComponentStatus.DEGRADED_PERFORMANCE: IncidentImpact.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: IncidentImpact.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: IncidentImpact.CRITICAL,
}

DRAFT_BODY = "We are investigating reports of a problem with {name}. Updates will follow here."
DRAFT_WITHDRAWN = "Recovered before it was published; no longer proposed."
MAINTENANCE_STARTED = "Scheduled maintenance is in progress. We will post updates as it goes."
MAINTENANCE_COMPLETED = "The scheduled maintenance has been completed."


@dataclass(frozen=True, slots=True)
class Evaluation:
    changed: list[str]
    drafted: list[str]


# Observation: what the rules read.


async def observe(session: AsyncSession, now: datetime) -> Observations:
    vendors: dict[str, dict[str, int]] = {}
    answering = sync_failing = 0
    for provider, state, cause, stale in await repository.store_connections(session):
        counts = vendors.setdefault(
            provider, {"total": 0, "connected": 0, "degraded": 0, "down": 0, "own_fault": 0}
        )
        if state not in (*ANSWERING, *DOWN):
            continue  # paused or unconfigured: nothing to judge
        counts["total"] += 1
        if cause in OWN_FAULT_CAUSES:
            counts["own_fault"] += 1
        elif state in DOWN:
            counts["down"] += 1
        else:
            counts[state] += 1
        if state in ANSWERING:
            answering += 1
            if stale or cause == "sync_failing":
                sync_failing += 1
    stuck = await repository.answering_stores_with_waiting_orders(
        session, answering=ANSWERING, created_before=now - timedelta(seconds=ORDER_STUCK_S)
    )
    _, oldest_due = await jobs_repository.due_backlog(session, now)
    processes = [
        _process_view(row.report)
        for row in await monitoring_repository.reports_updated_since(session, now - LIVE_WITHIN)
        if row.role in ("api", "embedded")
    ]
    firing: frozenset[str] = frozenset()
    platform_id = await platform_organization_id(session, create=False)
    if platform_id is not None:
        firing = frozenset(
            rule for rule, *_ in await repository.open_alert_rules(session, platform_id)
        )
    return Observations(
        vendors={name: VendorStores(**counts) for name, counts in vendors.items()},
        answering_stores=answering,
        sync_failing_stores=sync_failing,
        order_stuck_stores=stuck,
        oldest_due_job_s=(now - oldest_due).total_seconds() if oldest_due is not None else None,
        processes=tuple(processes),
        firing_platform_alerts=firing,
    )


def _process_view(report: dict[str, object]) -> ProcessView:
    http = report.get("http")
    overall = http.get("overall") if isinstance(http, dict) else None
    overall = overall if isinstance(overall, dict) else {}
    realtime = report.get("realtime")
    realtime = realtime if isinstance(realtime, dict) else {}
    p95 = overall.get("p95_s")
    connected = realtime.get("backplane_connected")
    backplane = realtime.get("backplane")
    return ProcessView(
        requests=int(overall.get("count") or 0),
        errors=int(overall.get("errors") or 0),
        p95_s=float(p95) if isinstance(p95, int | float) else None,
        backplane=backplane if isinstance(backplane, str) else None,
        backplane_connected=connected if isinstance(connected, bool) else None,
    )


# Evaluation: the periodic job's work (status/tasks.py).


async def evaluate(session: AsyncSession, now: datetime) -> Evaluation:
    """Observes, judges every component, applies what operators declared, records changes,
    rolls up today's uptime and proposes or withdraws draft incidents."""
    observed = await observe(session, now)
    findings = evaluate_all(observed)
    rows = await ensure_components(session, now)
    for key, finding in findings.items():
        row = rows[key]
        row.derived_status = finding.status
        row.reason = finding.reason
        row.evidence = finding.evidence
        row.evaluated_at = now
        if row.override_until is not None and row.override_until <= now:
            log.info("status_override_expired", component=key, status=row.override_status)
            row.override_status = row.override_until = None
            row.override_reason = row.override_by = None
    await transition_maintenance(session, now)
    changed = await apply_statuses(session, now, rows)
    drafted = await _propose_drafts(session, now, rows, findings)
    await uptime.roll_up(session, now, rows.values())
    return Evaluation(changed=changed, drafted=drafted)


async def ensure_components(session: AsyncSession, now: datetime) -> dict[str, StatusComponent]:
    """Every component's row by key, made (operational from `now`) where missing."""
    rows = {row.key: row for row in await repository.components_for_update(session)}
    for spec in COMPONENTS:
        if spec.key in rows:
            continue
        row = StatusComponent(
            key=spec.key,
            derived_status=ComponentStatus.OPERATIONAL,
            reason="",
            evidence={},
            status=ComponentStatus.OPERATIONAL,
            status_since=now,
        )
        repository.add(session, row)
        await repository.flush(session)
        repository.add(
            session,
            StatusComponentChange(component_id=row.id, at=now, status=row.status),
        )
        rows[spec.key] = row
    return rows


async def apply_statuses(
    session: AsyncSession, now: datetime, rows: dict[str, StatusComponent] | None = None
) -> list[str]:
    """Sets each component's shown status from its override, maintenance, open incidents and
    rules; records a change for each that moved. Returns their keys."""
    if rows is None:
        rows = await ensure_components(session, now)
    incidents = await repository.open_incidents(session, published_only=True)
    changed: list[str] = []
    for key, row in rows.items():
        if key not in BY_KEY:
            continue  # a component this version no longer has
        shown = shown_status(row, incidents, now)
        if shown is row.status:
            continue
        log.info("status_component_changed", component=key, from_status=row.status, to_status=shown)
        row.status = shown
        row.status_since = now
        repository.add(session, StatusComponentChange(component_id=row.id, at=now, status=shown))
        changed.append(key)
    if changed:
        await repository.flush(session)
    return changed


def shown_status(
    row: StatusComponent, incidents: Sequence[StatusIncident], now: datetime
) -> ComponentStatus:
    if row.override_status is not None and (row.override_until is None or row.override_until > now):
        return row.override_status
    status = row.derived_status
    for incident in incidents:
        if row.key not in incident.components:
            continue
        if incident.kind is IncidentKind.MAINTENANCE:
            if incident.status in IN_PROGRESS:
                return ComponentStatus.UNDER_MAINTENANCE
            continue
        declared = incident.components.get(row.key)
        if isinstance(declared, str) and declared in ComponentStatus.__members__.values():
            status = worse(status, ComponentStatus(declared))
    return status


async def transition_maintenance(session: AsyncSession, now: datetime) -> None:
    """Published maintenance with automatic transitions starts and completes on its window."""
    for incident in await repository.open_incidents(session, published_only=True):
        if incident.kind is not IncidentKind.MAINTENANCE or not incident.auto_transition:
            continue
        start, end = incident.scheduled_for, incident.scheduled_until
        if incident.status is IncidentStatus.SCHEDULED and start is not None and start <= now:
            if end is not None and end <= now:
                record_update(
                    session, incident, IncidentStatus.COMPLETED, MAINTENANCE_COMPLETED, now
                )
            else:
                record_update(
                    session, incident, IncidentStatus.IN_PROGRESS, MAINTENANCE_STARTED, now
                )
        elif incident.status in IN_PROGRESS and end is not None and end <= now:
            record_update(session, incident, IncidentStatus.COMPLETED, MAINTENANCE_COMPLETED, now)
    await repository.flush(session)


def record_update(
    session: AsyncSession,
    incident: StatusIncident,
    status: IncidentStatus,
    body: str,
    now: datetime,
    *,
    actor: str | None = None,
    affected: list[dict[str, str]] | None = None,
) -> StatusIncidentUpdate:
    """Moves `incident` to `status` with an update saying `body` (added to its session)."""
    incident.status = status
    incident.updated_at = now
    if status in (IncidentStatus.MONITORING, IncidentStatus.VERIFYING):
        incident.monitoring_at = incident.monitoring_at or now
    if status in (IncidentStatus.RESOLVED, IncidentStatus.COMPLETED):
        incident.resolved_at = now
    if status is IncidentStatus.IN_PROGRESS:
        incident.started_at = incident.started_at or now
    update = StatusIncidentUpdate(
        incident_id=incident.id,
        status=status,
        body=body,
        created_at=now,
        display_at=now,
        affected_components=affected or [],
        created_by=actor,
    )
    repository.add(session, update)
    return update


async def _propose_drafts(
    session: AsyncSession,
    now: datetime,
    rows: dict[str, StatusComponent],
    findings: dict[str, Finding],
) -> list[str]:
    """A draft incident for each component the rules find in a major outage and each critical
    platform alert that bears on a component; drafts whose cause cleared are withdrawn."""
    proposals: dict[str, tuple[str, ComponentStatus]] = {}
    for key, finding in findings.items():
        if finding.status is ComponentStatus.MAJOR_OUTAGE:
            proposals[f"component:{key}"] = (key, finding.status)
    platform_id = await platform_organization_id(session, create=False)
    if platform_id is not None:
        for rule, severity, alert_id, _ in await repository.open_alert_rules(session, platform_id):
            if severity != "critical":
                continue
            for key, least in PLATFORM_ALERTS.get(rule, ()):
                proposals.setdefault(f"alert:{alert_id}", (key, worse(least, findings[key].status)))
    drafted: list[str] = []
    for source, (key, status) in proposals.items():
        if await repository.open_incident_from(session, source) is not None:
            continue
        spec = BY_KEY[key]
        incident = StatusIncident(
            kind=IncidentKind.INCIDENT,
            name=f"{spec.name}: {status.value.replace('_', ' ')}",
            status=IncidentStatus.INVESTIGATING,
            impact=IMPACT_OF_STATUS[status],
            components={key: status.value},
            source=source,
            created_by="ridgeline",
            created_at=now,
            updated_at=now,
        )
        repository.add(session, incident)
        await repository.flush(session)
        record_update(
            session,
            incident,
            IncidentStatus.INVESTIGATING,
            DRAFT_BODY.format(name=spec.name),
            now,
            actor="ridgeline",
            affected=[_affected(rows[key], status)],
        )
        log.info("status_incident_drafted", source=source, component=key, status=status)
        drafted.append(source)
    for incident in await repository.open_incidents(session, published_only=False):
        if incident.published_at is None and incident.source and incident.source not in proposals:
            record_update(
                session, incident, IncidentStatus.RESOLVED, DRAFT_WITHDRAWN, now, actor="ridgeline"
            )
    await repository.flush(session)
    return drafted


def _affected(row: StatusComponent, new_status: ComponentStatus) -> dict[str, str]:
    return {"key": row.key, "old_status": row.status.value, "new_status": new_status.value}


def worst_status(statuses: Iterable[ComponentStatus]) -> ComponentStatus:
    found = ComponentStatus.OPERATIONAL
    for status in statuses:
        if SEVERITY.get(status, 0) > SEVERITY.get(found, 0):
            found = status
    return found
