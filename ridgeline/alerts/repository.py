"""Queries over operator alerts (`admin_notifications`) and their notification channels and
deliveries, always through the tenant scope."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.alert_channel import AlertChannel, AlertDelivery, AlertDeliveryAttempt
from ridgeline.models.notification import AdminNotification, AlertEvent


def alerts(
    scope: TenantScope,
    *,
    store_id: uuid.UUID | None = None,
    kind: str | None = None,
    state: str | None = None,
) -> Select[AdminNotification]:
    """The alerts `scope` may see, optionally of one store and kind, and in one state
    (`firing`: open and not acknowledged, `acknowledged`: open and acknowledged, `resolved`)."""
    statement = scoped(select(AdminNotification), AdminNotification, scope)
    if store_id is not None:
        statement = statement.where(AdminNotification.store_id == store_id)
    if kind is not None:
        statement = statement.where(AdminNotification.kind == kind)
    if state is not None:
        statement = statement.where(AdminNotification.state == state)
    return statement


async def open_alert(
    session: AsyncSession, organization_id: uuid.UUID, dedup_key: str
) -> AdminNotification | None:
    """The organization's open (unresolved) alert with this dedup key, locked on PostgreSQL."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .where(
            AdminNotification.dedup_key == dedup_key,
            AdminNotification.resolved_at.is_(None),
        )
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def last_resolved_alert(
    session: AsyncSession, organization_id: uuid.UUID, dedup_key: str
) -> AdminNotification | None:
    """The organization's most recently resolved alert with this dedup key (for flaps)."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .where(
            AdminNotification.dedup_key == dedup_key,
            AdminNotification.resolved_at.is_not(None),
        )
        .order_by(AdminNotification.resolved_at.desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def add_event(session: AsyncSession, event: AlertEvent) -> None:
    """Adds the event as the alert's next step (the caller holds the alert's row)."""
    scope = TenantScope(organization_id=event.organization_id)
    statement = (
        scoped(select(AlertEvent), AlertEvent, scope)
        .with_only_columns(func.count())
        .where(AlertEvent.alert_id == event.alert_id)
    )
    event.seq = int(await session.scalar(statement) or 0) + 1
    session.add(event)
    await session.flush()


async def events_of(
    session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID
) -> Sequence[AlertEvent]:
    statement = (
        scoped(select(AlertEvent), AlertEvent, scope)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(AlertEvent.seq)
    )
    return (await session.scalars(statement)).all()


async def open_alerts_with_prefix(
    session: AsyncSession, organization_id: uuid.UUID, dedup_prefix: str
) -> Sequence[AdminNotification]:
    """The organization's open alerts whose dedup key starts with `dedup_prefix`."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .where(
            AdminNotification.dedup_key.startswith(dedup_prefix, autoescape=True),
            AdminNotification.resolved_at.is_(None),
        )
        .order_by(AdminNotification.created_at)
        .with_for_update()
    )
    return (await session.scalars(statement)).all()


async def alert(
    session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID
) -> AdminNotification | None:
    statement = scoped(select(AdminNotification), AdminNotification, scope).where(
        AdminNotification.id == alert_id
    )
    return (await session.scalars(statement)).one_or_none()


async def alert_for_update(
    session: AsyncSession, scope: TenantScope, alert_id: uuid.UUID
) -> AdminNotification | None:
    """The alert, if `scope` may see it, locked on PostgreSQL until the transaction ends."""
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .where(AdminNotification.id == alert_id)
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def open_alerts_of_store(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[AdminNotification]:
    """The store's unresolved alerts, newest first."""
    statement = (
        alerts(scope, store_id=store_id)
        .where(AdminNotification.resolved_at.is_(None))
        .order_by(AdminNotification.created_at.desc())
    )
    return (await session.scalars(statement)).all()


# Notification channels and their deliveries (alerts/channels.py, alerts/delivery.py).


def channels(scope: TenantScope) -> Select[AlertChannel]:
    return scoped(select(AlertChannel), AlertChannel, scope)


async def channel(
    session: AsyncSession, scope: TenantScope, channel_id: uuid.UUID
) -> AlertChannel | None:
    statement = channels(scope).where(AlertChannel.id == channel_id)
    return (await session.scalars(statement)).one_or_none()


async def enabled_channels(
    session: AsyncSession,
    organization_id: uuid.UUID,
    channel_ids: Collection[uuid.UUID] | None = None,
) -> Sequence[AlertChannel]:
    """The organization's enabled channels (only those of `channel_ids` when given)."""
    statement = channels(TenantScope(organization_id=organization_id)).where(
        AlertChannel.enabled.is_(True)
    )
    if channel_ids is not None:
        statement = statement.where(AlertChannel.id.in_(list(channel_ids)))
    return (await session.scalars(statement.order_by(AlertChannel.created_at))).all()


def deliveries(scope: TenantScope, channel_id: uuid.UUID) -> Select[AlertDelivery]:
    return scoped(select(AlertDelivery), AlertDelivery, scope).where(
        AlertDelivery.channel_id == channel_id
    )


async def delivery_for_update(
    session: AsyncSession, organization_id: uuid.UUID, delivery_id: uuid.UUID
) -> AlertDelivery | None:
    """The delivery, locked on PostgreSQL until the transaction ends."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(AlertDelivery), AlertDelivery, scope)
        .where(AlertDelivery.id == delivery_id)
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


async def delivery(
    session: AsyncSession, organization_id: uuid.UUID, delivery_id: uuid.UUID
) -> AlertDelivery | None:
    scope = TenantScope(organization_id=organization_id)
    statement = scoped(select(AlertDelivery), AlertDelivery, scope).where(
        AlertDelivery.id == delivery_id
    )
    return (await session.scalars(statement)).one_or_none()


async def attempts_of(
    session: AsyncSession, scope: TenantScope, delivery_ids: Collection[uuid.UUID]
) -> Sequence[AlertDeliveryAttempt]:
    if not delivery_ids:
        return []
    statement = (
        scoped(select(AlertDeliveryAttempt), AlertDeliveryAttempt, scope)
        .where(AlertDeliveryAttempt.delivery_id.in_(list(delivery_ids)))
        .order_by(AlertDeliveryAttempt.delivery_id, AlertDeliveryAttempt.attempt)
    )
    return (await session.scalars(statement)).all()


async def add_attempt(session: AsyncSession, attempt: AlertDeliveryAttempt) -> None:
    session.add(attempt)
    await session.flush()


async def add_row(session: AsyncSession, row: AlertChannel | AlertDelivery) -> None:
    session.add(row)
    await session.flush()


async def remove_channel(session: AsyncSession, row: AlertChannel) -> None:
    await session.delete(row)
    await session.flush()
