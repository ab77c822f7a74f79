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
from ridgeline.alerts.lifecycle import (
    ACKNOWLEDGED,
    FIRING,
    FLAP_WINDOW,
    RESOLVED,
    AlertMove,
    AlertState,
    check_move,
)
from ridgeline.alerts.schemas import AlertDetail, AlertEventOut, AlertOut
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.notification import AdminNotification, AlertEvent
from ridgeline.realtime import streams


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


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
    """Raises the alert, firing. With a `dedup_key`: an open alert with that key counts one more
    occurrence instead (its message and details become the latest), and one that resolved less
    than `FLAP_WINDOW` ago fires again (a flap) rather than making a new alert."""
    if dedup_key is not None:
        row = await repository.open_alert(session, organization_id, dedup_key)
        if row is None:
            recent = await repository.last_resolved_alert(session, organization_id, dedup_key)
            if recent is not None and recent.resolved_at and at - recent.resolved_at < FLAP_WINDOW:
                row = recent
                row.flaps += 1
                row.resolved_at = None
                row.acknowledged_at = None
                await _move(session, row, FIRING, AlertMove.FLAPPED, at=at)
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
        state=FIRING.value,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    await _record(session, row, None, FIRING, "raised", at=at, note=message[:500])
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
        row.details = {**row.details, "resolution": resolution}
        await _move(session, row, RESOLVED, AlertMove.CLEARED, at=at, note=resolution)
    return list(rows)


async def _move(
    session: AsyncSession,
    row: AdminNotification,
    to_state: AlertState,
    move: AlertMove,
    *,
    at: datetime,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    """One move of the lifecycle's table: recorded on the timeline and announced."""
    from_state = AlertState(row.state)
    check_move(from_state, to_state, move)
    row.state = to_state.value
    row.updated_at = at
    await _record(session, row, from_state, to_state, move.value, at=at, actor=actor, note=note)
    await _announce(session, row, at=at)


async def _record(
    session: AsyncSession,
    row: AdminNotification,
    from_state: AlertState | None,
    to_state: AlertState,
    move: str,
    *,
    at: datetime,
    actor: str | None = None,
    note: str | None = None,
) -> None:
    await repository.add_event(
        session,
        AlertEvent(
            organization_id=row.organization_id,
            alert_id=row.id,
            at=at,
            from_state=from_state.value if from_state is not None else None,
            to_state=to_state.value,
            move=move,
            actor=actor,
            note=note,
        ),
    )


def view(row: AdminNotification) -> AlertOut:
    return AlertOut(
        id=row.id,
        store_id=row.store_id,
        kind=row.kind,
        severity=row.severity,
        state=AlertState(row.state),
        title=row.title,
        message=row.message,
        details=row.details,
        created_at=row.created_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        occurrences=row.occurrences,
        last_occurred_at=row.last_occurred_at or row.created_at,
        flaps=row.flaps,
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
    if row.state == FIRING.value:
        row.acknowledged_at = at
        row.details = {**row.details, "acknowledged_by": str(operator_id)}
        await _move(
            session, row, ACKNOWLEDGED, AlertMove.ACKNOWLEDGED, at=at, actor=_actor(operator_id)
        )
    return view(row)


def _actor(operator_id: uuid.UUID) -> str:
    return f"operator:{operator_id}"


async def get_alert(session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID) -> AlertDetail:
    """The alert with its timeline, oldest first."""
    row = await repository.alert(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    events = await repository.events_of(session, scope, row.id)
    return AlertDetail(
        **view(row).model_dump(),
        timeline=[
            AlertEventOut(
                at=event.at,
                from_state=event.from_state,
                to_state=event.to_state,
                move=event.move,
                actor=event.actor,
                note=event.note,
            )
            for event in events
        ],
    )


async def resolve(
    session: AsyncSession,
    scope: TenantScope,
    alert_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    at: datetime,
) -> AlertOut:
    """An operator says the alert's cause is dealt with; resolving it again changes nothing.
    A condition seen again within the flap window fires it again (a flap)."""
    row = await repository.alert_for_update(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    if row.resolved_at is None:
        row.resolved_at = at
        row.details = {
            **row.details,
            "resolved_by": str(operator_id),
            "resolution": "resolved by an operator",
        }
        await _move(
            session,
            row,
            RESOLVED,
            AlertMove.RESOLVED_BY_OPERATOR,
            at=at,
            actor=_actor(operator_id),
        )
    return view(row)


async def _announce(session: AsyncSession, row: AdminNotification, *, at: datetime) -> None:
    data = view(row).model_dump(mode="json")
    await streams.append(
        session, streams.ops_stream(row.organization_id), "alert.changed", data, at=at
    )
