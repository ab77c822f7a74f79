"""Raising, listing, acknowledging and resolving operator alerts (`admin_notifications`).

An alert is raised in the caller's transaction, with the change it is about, and announced as
`alert.changed` on the organization's ops stream (`OpsChannel`), so a dashboard hears of it at
once and a crash cannot keep one change without the other. Acknowledging and resolving announce
it again. An alert raised with a `dedup_key` exists once while it is open: raising it again
counts an occurrence on the open one (a store failing every sync is one alert, not one per run),
and what fixes its cause resolves it (`resolve_alerts`). The alerts issue adds rules, grouping,
escalation and channels on top of these rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.alerts.schemas import AlertOut
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.notification import AdminNotification
from ridgeline.realtime import streams


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


async def raise_alert(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    store_id: uuid.UUID | None,
    kind: str,
    severity: Severity,
    title: str,
    message: str,
    details: dict[str, Any],
    at: datetime,
    dedup_key: str | None = None,
) -> AdminNotification:
    """Raises the alert, or, when an open alert has the same `dedup_key`, counts one more
    occurrence on it (its message and details become the latest)."""
    if dedup_key is not None:
        row = await repository.open_alert(session, organization_id, dedup_key)
        if row is not None:
            row.occurrences += 1
            row.last_occurred_at = at
            row.message = message
            row.details = details
            row.updated_at = at
            return row
    row = AdminNotification(
        id=uuid.uuid4(),
        organization_id=organization_id,
        store_id=store_id,
        kind=kind,
        severity=severity.value,
        title=title[:300],
        message=message,
        details=details,
        dedup_key=dedup_key,
        occurrences=1,
        last_occurred_at=at,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    await _announce(session, row, at=at)
    return row


async def resolve_alerts(
    session: AsyncSession,
    organization_id: uuid.UUID,
    dedup_prefix: str,
    *,
    at: datetime,
    resolution: str,
) -> list[AdminNotification]:
    """Resolves the organization's open alerts whose dedup key starts with `dedup_prefix`
    (what fixed their cause says `resolution`), and announces each."""
    rows = await repository.open_alerts_with_prefix(session, organization_id, dedup_prefix)
    for row in rows:
        row.resolved_at = at
        row.updated_at = at
        row.details = {**row.details, "resolution": resolution}
        await _announce(session, row, at=at)
    return list(rows)


def _state(row: AdminNotification) -> AlertState:
    if row.resolved_at is not None:
        return AlertState.RESOLVED
    return AlertState.ACKNOWLEDGED if row.acknowledged_at else AlertState.FIRING


def view(row: AdminNotification) -> AlertOut:
    return AlertOut(
        id=row.id,
        store_id=row.store_id,
        kind=row.kind,
        severity=row.severity,
        state=_state(row),
        title=row.title,
        message=row.message,
        details=row.details,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        occurrences=row.occurrences,
        last_occurred_at=row.last_occurred_at or row.created_at,
    )


@dataclass(frozen=True, slots=True)
class AlertFilters:
    store_id: uuid.UUID | None = None
    kind: str | None = None
    state: AlertState | None = None


@dataclass(frozen=True, slots=True)
class AlertPage:
    items: list[AlertOut]
    next_cursor: str | None


async def list_alerts(
    session: AsyncSession, scope: TenantScope, page: PageRequest, filters: AlertFilters
) -> AlertPage:
    """The caller's alerts, newest first (by `created_at`, then id)."""
    statement = repository.alerts(
        scope,
        store_id=filters.store_id,
        kind=filters.kind,
        state=None if filters.state is None else filters.state.value,
    )
    result = await paginate(session, statement, AdminNotification, page, newest_first=True)
    return AlertPage([view(row) for row in result.items], result.next_cursor)


async def acknowledge(
    session: AsyncSession,
    scope: TenantScope,
    alert_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    at: datetime,
) -> AlertOut:
    """Marks the alert seen; acknowledging it again changes nothing."""
    row = await repository.alert_for_update(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    if row.acknowledged_at is None:
        row.acknowledged_at = at
        row.updated_at = at
        row.details = {**row.details, "acknowledged_by": str(operator_id)}
        await _announce(session, row, at=at)
    return view(row)


async def get_alert(session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID) -> AlertOut:
    row = await repository.alert(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    return view(row)


async def resolve(
    session: AsyncSession,
    scope: TenantScope,
    alert_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    at: datetime,
) -> AlertOut:
    """An operator says the alert's cause is dealt with; resolving it again changes nothing.
    A condition that is still there raises a new alert the next time it is seen."""
    row = await repository.alert_for_update(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    if row.resolved_at is None:
        row.resolved_at = at
        row.updated_at = at
        row.details = {
            **row.details,
            "resolved_by": str(operator_id),
            "resolution": "resolved by an operator",
        }
        await _announce(session, row, at=at)
    return view(row)


async def _announce(session: AsyncSession, row: AdminNotification, *, at: datetime) -> None:
    data = view(row).model_dump(mode="json")
    await streams.append(
        session, streams.ops_stream(row.organization_id), "alert.changed", data, at=at
    )
