"""Queries over operator alerts (`admin_notifications`) and their notification channels and
deliveries, always through the tenant scope."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Row, Select, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.alert_channel import AlertChannel, AlertDelivery, AlertDeliveryAttempt
from ridgeline.models.health import StoreConnectionState, StoreHealth
from ridgeline.models.kiosk import Kiosk, KioskApiKey, KioskKeyPurpose, KioskStatus
from ridgeline.models.notification import (
    AdminNotification,
    AlertEscalationPolicy,
    AlertEvent,
    AlertGroup,
    AlertRuleOverride,
    AlertSilence,
)
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.organization import Organization
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState

EVERYONE = TenantScope.everything()


def alerts(
    scope: TenantScope,
    *,
    store_id: uuid.UUID | None = None,
    kind: str | None = None,
    state: str | None = None,
    severity: str | None = None,
    group_id: uuid.UUID | None = None,
) -> Select[AdminNotification]:
    """The alerts `scope` may see, optionally of one store, rule (`kind`), state, severity and
    notification group."""
    statement = scoped(select(AdminNotification), AdminNotification, scope)
    if store_id is not None:
        statement = statement.where(AdminNotification.store_id == store_id)
    if kind is not None:
        statement = statement.where(AdminNotification.kind == kind)
    if state is not None:
        statement = statement.where(AdminNotification.state == state)
    if severity is not None:
        statement = statement.where(AdminNotification.severity == severity)
    if group_id is not None:
        statement = statement.where(AdminNotification.group_id == group_id)
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
        .order_by(AdminNotification.id)  # one lock order for every path that locks several
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


async def every_channel(session: AsyncSession) -> Sequence[AlertChannel]:
    """Every organization's channels, locked (re-encrypting their configs)."""
    statement = channels(EVERYONE).order_by(AlertChannel.id).with_for_update()
    return (await session.scalars(statement)).all()


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


# Rules, groups, silences and escalation policies (alerts/rules.py, alerts/grouping.py).


async def rule_overrides(
    session: AsyncSession, organization_id: uuid.UUID, rule: str, store_id: uuid.UUID | None
) -> Sequence[AlertRuleOverride]:
    """The organization's override of `rule`, and the store's when `store_id` is given."""
    statement = scoped(
        select(AlertRuleOverride), AlertRuleOverride, TenantScope(organization_id=organization_id)
    ).where(AlertRuleOverride.rule == rule)
    if store_id is None:
        statement = statement.where(AlertRuleOverride.store_id.is_(None))
    else:
        statement = statement.where(
            or_(AlertRuleOverride.store_id.is_(None), AlertRuleOverride.store_id == store_id)
        )
    return (await session.scalars(statement)).all()


def overrides(scope: TenantScope) -> Select[AlertRuleOverride]:
    return scoped(select(AlertRuleOverride), AlertRuleOverride, scope)


async def override(
    session: AsyncSession,
    scope: TenantScope,
    organization_id: uuid.UUID,
    rule: str,
    store_id: uuid.UUID | None,
) -> AlertRuleOverride | None:
    """The organization's (`store_id` None) or the store's override of `rule`, locked."""
    statement = (
        overrides(scope)
        .where(
            AlertRuleOverride.organization_id == organization_id,
            AlertRuleOverride.rule == rule,
            AlertRuleOverride.store_id.is_(None)
            if store_id is None
            else AlertRuleOverride.store_id == store_id,
        )
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


def silences(scope: TenantScope) -> Select[AlertSilence]:
    return scoped(select(AlertSilence), AlertSilence, scope)


async def silence(
    session: AsyncSession, scope: TenantScope, silence_id: uuid.UUID, *, lock: bool = False
) -> AlertSilence | None:
    statement = silences(scope).where(AlertSilence.id == silence_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def active_silences(
    session: AsyncSession, organization_id: uuid.UUID, at: datetime
) -> Sequence[AlertSilence]:
    """The organization's silences in force at `at`."""
    statement = silences(TenantScope(organization_id=organization_id)).where(
        AlertSilence.starts_at <= at,
        AlertSilence.ends_at > at,
        AlertSilence.ended_at.is_(None),
    )
    return (await session.scalars(statement.order_by(AlertSilence.created_at))).all()


def policies(scope: TenantScope) -> Select[AlertEscalationPolicy]:
    return scoped(select(AlertEscalationPolicy), AlertEscalationPolicy, scope)


async def policy(
    session: AsyncSession, scope: TenantScope, policy_id: uuid.UUID, *, lock: bool = False
) -> AlertEscalationPolicy | None:
    statement = policies(scope).where(AlertEscalationPolicy.id == policy_id)
    if lock:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def policies_of(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[AlertEscalationPolicy]:
    statement = policies(TenantScope(organization_id=organization_id)).order_by(
        AlertEscalationPolicy.created_at, AlertEscalationPolicy.id
    )
    return (await session.scalars(statement)).all()


def groups(scope: TenantScope) -> Select[AlertGroup]:
    return scoped(select(AlertGroup), AlertGroup, scope)


async def group(
    session: AsyncSession, scope: TenantScope, group_id: uuid.UUID
) -> AlertGroup | None:
    statement = groups(scope).where(AlertGroup.id == group_id)
    return (await session.scalars(statement)).one_or_none()


async def open_group(
    session: AsyncSession, organization_id: uuid.UUID, group_key: str
) -> AlertGroup | None:
    """The organization's open group with this key (not locked: only the flush locks one)."""
    statement = groups(TenantScope(organization_id=organization_id)).where(
        AlertGroup.group_key == group_key, AlertGroup.closed_at.is_(None)
    )
    return (await session.scalars(statement)).one_or_none()


async def add_if_absent(
    session: AsyncSession, row: AlertGroup | AlertRuleOverride | Organization
) -> bool:
    """Inserts the row; False when another transaction inserted the same unique key first (on
    PostgreSQL this waits for that one to commit; the caller then reads its row)."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def open_group_ids(session: AsyncSession, limit: int) -> Sequence[uuid.UUID]:
    """Every organization's open groups, oldest first (the flush's work list)."""
    statement = (
        groups(EVERYONE)
        .with_only_columns(AlertGroup.id)
        .where(AlertGroup.closed_at.is_(None))
        .order_by(AlertGroup.created_at, AlertGroup.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def group_to_flush(session: AsyncSession, group_id: uuid.UUID) -> AlertGroup | None:
    """The open group, locked; None when another worker is flushing it (or it closed)."""
    statement = (
        groups(EVERYONE)
        .where(AlertGroup.id == group_id, AlertGroup.closed_at.is_(None))
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def alerts_to_announce(
    session: AsyncSession, group: AlertGroup
) -> Sequence[AdminNotification]:
    """The group's alerts a notification is about: the open ones, and those that resolved
    after people heard of them (oldest first)."""
    scope = TenantScope(organization_id=group.organization_id)
    statement = (
        alerts(scope, group_id=group.id)
        .where(
            or_(
                AdminNotification.resolved_at.is_(None),
                AdminNotification.notified_at.is_not(None),
            )
        )
        .order_by(AdminNotification.created_at, AdminNotification.id)
    )
    return (await session.scalars(statement)).all()


async def store_down_alerts(
    session: AsyncSession, organization_id: uuid.UUID, kinds: Collection[str], since: datetime
) -> Sequence[AdminNotification]:
    """The organization's alerts of these kinds (a store's POS down) that are open, or that
    resolved after `since`."""
    statement = alerts(TenantScope(organization_id=organization_id)).where(
        AdminNotification.kind.in_(list(kinds)),
        or_(
            AdminNotification.state.in_(("firing", "acknowledged")),
            AdminNotification.resolved_at > since,
        ),
    )
    return (await session.scalars(statement)).all()


async def mark_alerts(
    session: AsyncSession, alert_ids: Collection[uuid.UUID], **values: object
) -> None:
    """Sets the flush's own columns (`notified_at`, `suppressed_by`) on these alerts, leaving
    `updated_at` alone: the alert itself did not change."""
    if alert_ids:
        await session.execute(
            update(AdminNotification)
            .where(AdminNotification.id.in_(list(alert_ids)))
            .values(updated_at=AdminNotification.updated_at, **values)
            .execution_options(synchronize_session=False)
        )


async def due_pending_alerts(
    session: AsyncSession, at: datetime, limit: int
) -> Sequence[AdminNotification]:
    """Pending alerts whose `for` has elapsed, every organization's, locked (skipping those
    another transaction holds)."""
    statement = (
        alerts(EVERYONE, state="pending")
        .where(AdminNotification.fires_at <= at)
        .order_by(AdminNotification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(statement)).all()


async def ungrouped_alerts(session: AsyncSession, limit: int) -> Sequence[AdminNotification]:
    """Firing or acknowledged alerts in no open group: raised while their group was closing.
    The flush puts them in a group of their own rule."""
    closed = scoped(select(AlertGroup.id), AlertGroup, EVERYONE).where(
        AlertGroup.closed_at.is_not(None)
    )
    statement = (
        alerts(EVERYONE)
        .where(
            AdminNotification.state.in_(("firing", "acknowledged")),
            or_(AdminNotification.group_id.is_(None), AdminNotification.group_id.in_(closed)),
        )
        .order_by(AdminNotification.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(statement)).all()


async def group_deliveries(
    session: AsyncSession, scope: TenantScope, group_id: uuid.UUID, limit: int
) -> Sequence[AlertDelivery]:
    statement = (
        scoped(select(AlertDelivery), AlertDelivery, scope)
        .where(AlertDelivery.group_id == group_id)
        .order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def add(session: AsyncSession, row: object) -> None:
    session.add(row)
    await session.flush()


async def remove(session: AsyncSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


# Configuration API (alerts/config_service.py).


async def overrides_of(
    session: AsyncSession, organization_id: uuid.UUID, store_id: uuid.UUID | None
) -> Sequence[AlertRuleOverride]:
    """The organization's overrides of every rule, and the store's when `store_id` is given."""
    statement = scoped(
        select(AlertRuleOverride), AlertRuleOverride, TenantScope(organization_id=organization_id)
    )
    if store_id is None:
        statement = statement.where(AlertRuleOverride.store_id.is_(None))
    else:
        statement = statement.where(
            or_(AlertRuleOverride.store_id.is_(None), AlertRuleOverride.store_id == store_id)
        )
    return (await session.scalars(statement)).all()


def silences_in_state(scope: TenantScope, state: str | None, at: datetime) -> Select[AlertSilence]:
    """The silences `scope` sees, only those `pending`, `active` or `expired` at `at` when
    `state` is given (None: all of them)."""
    statement = silences(scope)
    if state == "pending":
        statement = statement.where(
            AlertSilence.ended_at.is_(None), AlertSilence.starts_at > at, AlertSilence.ends_at > at
        )
    elif state == "active":
        statement = statement.where(
            AlertSilence.ended_at.is_(None),
            AlertSilence.starts_at <= at,
            AlertSilence.ends_at > at,
        )
    elif state == "expired":
        statement = statement.where(
            or_(AlertSilence.ended_at.is_not(None), AlertSilence.ends_at <= at)
        )
    return statement


async def group_state_counts(
    session: AsyncSession, scope: TenantScope, group_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """How many alerts of each group are in each state."""
    if not group_ids:
        return {}
    statement = (
        alerts(scope)
        .with_only_columns(AdminNotification.group_id, AdminNotification.state, func.count())
        .where(AdminNotification.group_id.in_(list(group_ids)))
        .group_by(AdminNotification.group_id, AdminNotification.state)
    )
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for group_id, state, count in (await session.execute(statement)).all():
        if group_id is not None:
            counts.setdefault(group_id, {})[state] = int(count)
    return counts


async def firing_alerts_of_group(
    session: AsyncSession, scope: TenantScope, group_id: uuid.UUID
) -> Sequence[AdminNotification]:
    """The group's firing alerts `scope` may see, locked (in id order, as every path that
    locks several alerts)."""
    statement = (
        alerts(scope, group_id=group_id, state="firing")
        .order_by(AdminNotification.id)
        .with_for_update()
    )
    return (await session.scalars(statement)).all()


async def lock_policies(session: AsyncSession, organization_id: uuid.UUID) -> None:
    """Serializes changes to the organization's escalation policies (one default policy, a
    rule in one policy at most: checked, then written, under this lock)."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(Organization.id), Organization, scope)
        .where(Organization.id == organization_id)
        .with_for_update()
    )
    await session.execute(statement)


# Evaluated rules (alerts/evaluation.py).


async def evaluated_rule_overrides(
    session: AsyncSession, rules: Collection[str]
) -> Sequence[AlertRuleOverride]:
    """Every organization's and store's overrides of these rules."""
    statement = overrides(EVERYONE).where(AlertRuleOverride.rule.in_(list(rules)))
    return (await session.scalars(statement)).all()


async def open_alert_keys(
    session: AsyncSession, kinds: Collection[str]
) -> Sequence[Row[uuid.UUID, str, str | None]]:
    """Every organization's open alerts of these rules: (organization, rule, dedup key)."""
    statement = (
        alerts(EVERYONE)
        .with_only_columns(
            AdminNotification.organization_id, AdminNotification.kind, AdminNotification.dedup_key
        )
        .where(
            AdminNotification.kind.in_(list(kinds)),
            AdminNotification.resolved_at.is_(None),
            AdminNotification.dedup_key.is_not(None),
        )
    )
    return (await session.execute(statement)).all()


async def waiting_orders_by_store(
    session: AsyncSession, statuses: Collection[OrderStatus]
) -> Sequence[Row[uuid.UUID, uuid.UUID, str, StoreConnectionState | None, int, datetime | None]]:
    """Every store with orders in `statuses`: (organization, store, store name, health state,
    how many, when the oldest was placed)."""
    statement = (
        scoped(select(Order), Order, EVERYONE)
        .with_only_columns(
            Order.organization_id,
            Order.store_id,
            Store.name,
            StoreHealth.state,
            func.count(),
            func.min(Order.created_at),
        )
        .join(Store, Store.id == Order.store_id)
        .outerjoin(StoreHealth, StoreHealth.store_id == Order.store_id)
        .where(Order.status.in_(list(statuses)))
        .group_by(Order.organization_id, Order.store_id, Store.name, StoreHealth.state)
    )
    return (await session.execute(statement)).all()


async def oldest_order_reference(
    session: AsyncSession,
    organization_id: uuid.UUID,
    store_id: uuid.UUID,
    statuses: Collection[OrderStatus],
) -> str | None:
    """The reference of the store's oldest order in `statuses`."""
    statement = (
        scoped(select(Order.reference), Order, TenantScope(organization_id=organization_id))
        .where(Order.store_id == store_id, Order.status.in_(list(statuses)))
        .order_by(Order.created_at, Order.id)
        .limit(1)
    )
    return (await session.scalars(statement)).first()


async def sync_freshness_by_store(
    session: AsyncSession,
) -> Sequence[
    Row[
        uuid.UUID,
        uuid.UUID,
        str,
        StoreConnectionState | None,
        datetime | None,
        int,
        datetime | None,
        datetime,
    ]
]:
    """Every store with a POS and a sync state: (organization, store, store name, health state,
    last successful sync, stale-after seconds, POS configured at, store created at)."""
    statement = (
        scoped(select(StoreSyncState), StoreSyncState, EVERYONE)
        .with_only_columns(
            StoreSyncState.organization_id,
            StoreSyncState.store_id,
            Store.name,
            StoreHealth.state,
            StoreSyncState.last_success_at,
            StoreSyncState.stale_after_s,
            Store.pos_config_updated_at,
            Store.created_at,
        )
        .join(Store, Store.id == StoreSyncState.store_id)
        .outerjoin(StoreHealth, StoreHealth.store_id == StoreSyncState.store_id)
        .where(Store.pos_provider.is_not(None))
    )
    return (await session.execute(statement)).all()


async def kiosk_contact_by_store(
    session: AsyncSession,
) -> Sequence[Row[uuid.UUID, uuid.UUID, str, int, datetime | None]]:
    """Every store with active kiosks: (organization, store, store name, how many active
    kiosks, the most recent contact of any of them)."""
    statement = (
        scoped(select(Kiosk), Kiosk, EVERYONE)
        .with_only_columns(
            Kiosk.organization_id,
            Kiosk.store_id,
            Store.name,
            func.count(),
            func.max(Kiosk.last_seen_at),
        )
        .join(Store, Store.id == Kiosk.store_id)
        .where(Kiosk.status == KioskStatus.ACTIVE)
        .group_by(Kiosk.organization_id, Kiosk.store_id, Store.name)
    )
    return (await session.execute(statement)).all()


async def kiosks_with_expiring_keys(
    session: AsyncSession,
) -> Sequence[Row[uuid.UUID, uuid.UUID, str, uuid.UUID, str, datetime | None]]:
    """Every active kiosk whose unrevoked kiosk keys (diagnostic keys do not count) all have an
    expiry: (organization, store, store name, kiosk, kiosk name, the latest expiry). A kiosk
    with a key that never expires, or with no unrevoked kiosk key, is not listed."""
    never_expiring = func.count(case((KioskApiKey.expires_at.is_(None), 1)))
    statement = (
        scoped(select(Kiosk), Kiosk, EVERYONE)
        .with_only_columns(
            Kiosk.organization_id,
            Kiosk.store_id,
            Store.name,
            Kiosk.id,
            Kiosk.name,
            func.max(KioskApiKey.expires_at),
        )
        .join(Store, Store.id == Kiosk.store_id)
        .join(KioskApiKey, KioskApiKey.kiosk_id == Kiosk.id)
        .where(
            Kiosk.status == KioskStatus.ACTIVE,
            KioskApiKey.purpose == KioskKeyPurpose.KIOSK,
            KioskApiKey.revoked_at.is_(None),
        )
        .group_by(Kiosk.organization_id, Kiosk.store_id, Store.name, Kiosk.id, Kiosk.name)
        .having(never_expiring == 0)
    )
    return (await session.execute(statement)).all()


async def organization_by_slug(session: AsyncSession, slug: str) -> uuid.UUID | None:
    statement = scoped(select(Organization.id), Organization, EVERYONE).where(
        Organization.slug == slug
    )
    return (await session.scalars(statement)).one_or_none()
