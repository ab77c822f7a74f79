"""Raising, listing, acknowledging and resolving operator alerts (`admin_notifications`).

An alert is raised by its rule (alerts/rules.py: the kind names the rule), in the caller's
transaction with the change it is about, and announced as `alert.changed` on the
organization's ops stream (`OpsChannel`), so a dashboard hears of it at once and a crash cannot
keep one change without the other. Every later move (alerts/lifecycle.py) is recorded on its
timeline and announced again. An alert raised with a `dedup_key` exists once while it is open:
raising it again counts an occurrence on the open one (a store failing every sync is one
alert, not one per run), and what fixes its cause resolves it (`resolve_alerts`).

A rule with a `for` raises its alert `pending`: it fires when `for` has elapsed with the
condition still there (`fire_due`, run by the `alerts.notify` job), and resolves quietly if the
condition clears first. A firing alert joins its notification group (alerts/grouping.py), which
decides who is told and when.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import grouping, repository
from ridgeline.alerts.lifecycle import (
    ACKNOWLEDGED,
    FIRING,
    FLAP_WINDOW,
    PENDING,
    RESOLVED,
    AlertMove,
    AlertState,
    check_move,
)
from ridgeline.alerts.rules import Severity, condition_met, rule_named, settings_for
from ridgeline.alerts.schemas import (
    AlertDeliveryOut,
    AlertDetail,
    AlertEventOut,
    AlertGroupOut,
    AlertOut,
)
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound
from ridgeline.models.alert_channel import AlertDelivery
from ridgeline.models.notification import AdminNotification, AlertEvent, AlertGroup
from ridgeline.realtime import streams

__all__ = ["Severity", "raise_alert", "resolve_alerts"]
SWEEP_BATCH = 500


async def raise_alert(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    store_id: uuid.UUID | None,
    kind: str,
    title: str,
    message: str,
    details: dict[str, Any],
    at: datetime,
    dedup_key: str | None = None,
    figure: float | None = None,
) -> AdminNotification | None:
    """Raises the alert of rule `kind` for this store, with the rule's settings for it.

    Nothing is raised when the rule is disabled there, or when `figure` (what the rule
    measures: consecutive failures, seconds, days left, ...) does not meet its threshold.
    With a `dedup_key`: an open alert with that key counts one more occurrence instead (its
    message and details become the latest), and one that resolved less than `FLAP_WINDOW` ago
    fires again (a flap) rather than making a new alert. Otherwise a new alert is `pending`
    for the rule's `for`, or firing at once."""
    rule = rule_named(kind)
    settings = await settings_for(session, organization_id, store_id, rule)
    if not settings.enabled:
        return None
    if not condition_met(rule, settings, figure):
        return None
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
    pending = settings.for_s > 0
    row = AdminNotification(
        id=uuid.uuid4(),
        organization_id=organization_id,
        store_id=store_id,
        kind=kind,
        severity=settings.severity.value,
        title=title[:300],
        message=message,
        details=details,
        dedup_key=dedup_key,
        occurrences=1,
        last_occurred_at=at,
        state=(PENDING if pending else FIRING).value,
        fires_at=at + timedelta(seconds=settings.for_s) if pending else None,
        created_at=at,
        updated_at=at,
    )
    session.add(row)
    await session.flush()
    if not pending:
        await grouping.attach(session, row, at=at)
    note = message[:500] if not pending else f"pending for {settings.for_s} s: {message[:450]}"
    await _record(session, row, None, AlertState(row.state), "raised", at=at, note=note)
    await _announce(session, row, at=at)
    return row


async def fire_due(session: AsyncSession, *, at: datetime) -> int:
    """Fires the pending alerts whose `for` has elapsed (their condition is still there: a
    cleared condition resolves its pending alert), and puts firing alerts raised while their
    group was closing into an open one. Returns how many alerts moved."""
    moved = 0
    for row in await repository.due_pending_alerts(session, at, SWEEP_BATCH):
        row.fires_at = None
        await _move(session, row, FIRING, AlertMove.FOR_ELAPSED, at=at)
        moved += 1
    for row in await repository.ungrouped_alerts(session, SWEEP_BATCH):
        row.group_id = None
        await grouping.attach(session, row, at=at)
        moved += 1
    return moved


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
    if to_state is FIRING:
        row.group_id = None  # a flap joins its rule's open group, not the closed one it left
        await grouping.attach(session, row, at=at)
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
        fires_at=row.fires_at,
        group_id=row.group_id,
        notified_at=row.notified_at,
        suppressed_by=row.suppressed_by,
    )


DELIVERIES_SHOWN = 50


def delivery_view(row: AlertDelivery) -> AlertDeliveryOut:
    return AlertDeliveryOut(
        id=row.id,
        channel_id=row.channel_id,
        state=str(row.notification.get("state", "")),
        status=row.status.value,
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
        sent_at=row.sent_at,
    )


@dataclass(frozen=True, slots=True)
class AlertFilters:
    store_id: uuid.UUID | None = None
    kind: str | None = None
    state: AlertState | None = None
    severity: Severity | None = None
    group_id: uuid.UUID | None = None


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
        severity=None if filters.severity is None else filters.severity.value,
        group_id=filters.group_id,
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
    await _acknowledge(session, row, operator_id=operator_id, at=at)
    return view(row)


async def _acknowledge(
    session: AsyncSession, row: AdminNotification, *, operator_id: uuid.UUID, at: datetime
) -> None:
    if row.state == FIRING.value:
        row.acknowledged_at = at
        row.details = {**row.details, "acknowledged_by": str(operator_id)}
        await _move(
            session, row, ACKNOWLEDGED, AlertMove.ACKNOWLEDGED, at=at, actor=_actor(operator_id)
        )


def _actor(operator_id: uuid.UUID) -> str:
    return f"operator:{operator_id}"


async def get_alert(session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID) -> AlertDetail:
    """The alert with its timeline, oldest first."""
    row = await repository.alert(session, scope, alert_id)
    if row is None:
        raise NotFound("alert", alert_id)
    events = await repository.events_of(session, scope, row.id)
    deliveries = (
        []
        if row.group_id is None
        else await repository.group_deliveries(session, scope, row.group_id, DELIVERIES_SHOWN)
    )
    return AlertDetail(
        **view(row).model_dump(),
        deliveries=[delivery_view(d) for d in deliveries],
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


# Notification groups.


def group_view(row: AlertGroup, counts: dict[str, int]) -> AlertGroupOut:
    return AlertGroupOut(
        id=row.id,
        rule=row.rule,
        group_key=row.group_key,
        open=row.closed_at is None,
        counts=counts,
        notifications=row.notifications,
        last_notified_at=row.last_notified_at,
        last_state=row.last_state,
        notified_channel_ids=[uuid.UUID(c) for c in row.notified_channel_ids],
        escalation_policy_id=row.escalation_policy_id,
        escalation_level=row.escalation_level,
        next_escalation_at=row.next_escalation_at,
        created_at=row.created_at,
        closed_at=row.closed_at,
    )


async def list_groups(
    session: AsyncSession, scope: TenantScope, page: PageRequest, *, open_only: bool
) -> tuple[list[AlertGroupOut], str | None]:
    """The caller's notification groups, newest first, each with its alerts counted by state."""
    statement = repository.groups(scope)
    if open_only:
        statement = statement.where(AlertGroup.closed_at.is_(None))
    result = await paginate(session, statement, AlertGroup, page, newest_first=True)
    counts = await repository.group_state_counts(session, scope, [g.id for g in result.items])
    return [group_view(g, counts.get(g.id, {})) for g in result.items], result.next_cursor


async def get_group(
    session: AsyncSession, scope: TenantScope, group_id: uuid.UUID
) -> AlertGroupOut:
    row = await repository.group(session, scope, group_id)
    if row is None:
        raise NotFound("alert group", group_id)
    counts = await repository.group_state_counts(session, scope, [row.id])
    return group_view(row, counts.get(row.id, {}))


async def acknowledge_group(
    session: AsyncSession,
    scope: TenantScope,
    group_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    at: datetime,
) -> AlertGroupOut:
    """Acknowledges every firing alert of the group the caller may see: one click for a
    regional outage, and its escalation stops at the next flush."""
    row = await repository.group(session, scope, group_id)
    if row is None:
        raise NotFound("alert group", group_id)
    for alert in await repository.firing_alerts_of_group(session, scope, row.id):
        await _acknowledge(session, alert, operator_id=operator_id, at=at)
    counts = await repository.group_state_counts(session, scope, [row.id])
    return group_view(row, counts.get(row.id, {}))
