"""Queries of the status page: its own tables (system tables, no tenant) and the platform-wide
figures its rules read from every tenant's rows (only ever as counts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.health import StoreHealth
from ridgeline.models.notification import AdminNotification
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.status import (
    IncidentKind,
    IncidentStatus,
    StatusComponent,
    StatusComponentChange,
    StatusIncident,
    StatusIncidentUpdate,
    StatusUptimeDay,
)
from ridgeline.models.store import Store

# The rules judge the whole platform; what they read leaves here only as counts.
EVERYONE = TenantScope.everything()

CLOSED_STATUSES = (IncidentStatus.RESOLVED, IncidentStatus.COMPLETED)


# Components and their history.


async def components(session: AsyncSession) -> Sequence[StatusComponent]:
    return (await session.scalars(select(StatusComponent))).all()


async def components_for_update(session: AsyncSession) -> Sequence[StatusComponent]:
    """Every component row, locked on PostgreSQL (one evaluator writes at a time)."""
    statement = select(StatusComponent).order_by(StatusComponent.key).with_for_update()
    return (await session.scalars(statement)).all()


async def component_by_key(
    session: AsyncSession, key: str, *, for_update: bool = False
) -> StatusComponent | None:
    statement = select(StatusComponent).where(StatusComponent.key == key)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


def add(session: AsyncSession, row: object) -> None:
    session.add(row)


async def flush(session: AsyncSession) -> None:
    await session.flush()


async def changes_between(
    session: AsyncSession, component_id: uuid.UUID, start: datetime, end: datetime
) -> tuple[StatusComponentChange | None, Sequence[StatusComponentChange]]:
    """The change in force at `start` (the last one before it) and those in [start, end)."""
    before = (
        await session.scalars(
            select(StatusComponentChange)
            .where(StatusComponentChange.component_id == component_id)
            .where(StatusComponentChange.at < start)
            .order_by(StatusComponentChange.at.desc())
            .limit(1)
        )
    ).one_or_none()
    within = (
        await session.scalars(
            select(StatusComponentChange)
            .where(StatusComponentChange.component_id == component_id)
            .where(StatusComponentChange.at >= start, StatusComponentChange.at < end)
            .order_by(StatusComponentChange.at, StatusComponentChange.id)
        )
    ).all()
    return before, within


async def first_change_at(session: AsyncSession, component_id: uuid.UUID) -> datetime | None:
    statement = select(func.min(StatusComponentChange.at)).where(
        StatusComponentChange.component_id == component_id
    )
    first: datetime | None = await session.scalar(statement)
    return first


async def delete_changes_before(
    session: AsyncSession, component_id: uuid.UUID, before: datetime
) -> int:
    """Deletes the component's changes older than `before`, except the last of them (the
    status in force at `before`)."""
    keep = await session.scalar(
        select(StatusComponentChange.id)
        .where(StatusComponentChange.component_id == component_id)
        .where(StatusComponentChange.at < before)
        .order_by(StatusComponentChange.at.desc())
        .limit(1)
    )
    if keep is None:
        return 0
    result = await session.execute(
        delete(StatusComponentChange).where(
            StatusComponentChange.component_id == component_id,
            StatusComponentChange.at < before,
            StatusComponentChange.id != keep,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def uptime_day(
    session: AsyncSession, component_id: uuid.UUID, day: date
) -> StatusUptimeDay | None:
    return await session.get(StatusUptimeDay, (component_id, day))


async def latest_uptime_day(session: AsyncSession, component_id: uuid.UUID) -> date | None:
    statement = select(func.max(StatusUptimeDay.day)).where(
        StatusUptimeDay.component_id == component_id
    )
    latest: date | None = await session.scalar(statement)
    return latest


async def uptime_days(session: AsyncSession, since: date, until: date) -> Sequence[StatusUptimeDay]:
    """Every component's day rows from `since` to `until`, both included."""
    statement = select(StatusUptimeDay).where(
        StatusUptimeDay.day >= since, StatusUptimeDay.day <= until
    )
    return (await session.scalars(statement)).all()


async def delete_uptime_days_before(session: AsyncSession, before: date) -> int:
    result = await session.execute(delete(StatusUptimeDay).where(StatusUptimeDay.day < before))
    return int(getattr(result, "rowcount", 0) or 0)


# What the rules read: every tenant's rows, counted.


async def store_connections(session: AsyncSession) -> Sequence[tuple[str, str, str, bool]]:
    """(pos_provider, state, cause, catalog_stale) of every store with a POS that the
    connection state machine has judged."""
    statement = (
        scoped(select(Store), Store, EVERYONE)
        .join(StoreHealth, StoreHealth.store_id == Store.id)
        .where(Store.pos_provider.is_not(None))
        .with_only_columns(
            Store.pos_provider, StoreHealth.state, StoreHealth.cause, StoreHealth.catalog_stale
        )
    )
    return [
        (str(provider), str(state), str(cause), bool(stale))
        for provider, state, cause, stale in (await session.execute(statement)).all()
    ]


async def answering_stores_with_waiting_orders(
    session: AsyncSession, *, answering: Sequence[str], created_before: datetime
) -> int:
    """Stores in the `answering` connection states with an order still waiting for the POS
    (received or queued) that was placed before `created_before`."""
    statement = (
        scoped(select(Order), Order, EVERYONE)
        .join(StoreHealth, StoreHealth.store_id == Order.store_id)
        .where(
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.QUEUED)),
            Order.created_at < created_before,
            StoreHealth.state.in_(answering),
        )
        .with_only_columns(func.count(func.distinct(Order.store_id)))
    )
    return int(await session.scalar(statement) or 0)


async def open_alert_rules(
    session: AsyncSession, organization_id: uuid.UUID
) -> Sequence[tuple[str, str, uuid.UUID, datetime]]:
    """(rule, severity, alert id, created_at) of the organization's firing or acknowledged
    alerts."""
    scope = TenantScope(organization_id=organization_id)
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .where(AdminNotification.state.in_(("firing", "acknowledged")))
        .with_only_columns(
            AdminNotification.kind,
            AdminNotification.severity,
            AdminNotification.id,
            AdminNotification.created_at,
        )
        .order_by(AdminNotification.created_at)
    )
    return [tuple(row) for row in (await session.execute(statement)).all()]  # type: ignore[misc]


# Incidents and maintenance.


async def incident(
    session: AsyncSession, incident_id: uuid.UUID, *, for_update: bool = False
) -> StatusIncident | None:
    statement = select(StatusIncident).where(StatusIncident.id == incident_id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).one_or_none()


async def open_incidents(
    session: AsyncSession, *, published_only: bool, for_update: bool = False
) -> Sequence[StatusIncident]:
    """Incidents and maintenance not yet resolved or completed, oldest first."""
    statement = select(StatusIncident).where(StatusIncident.status.not_in(CLOSED_STATUSES))
    if published_only:
        statement = statement.where(StatusIncident.published_at.is_not(None))
    statement = statement.order_by(StatusIncident.created_at, StatusIncident.id)
    if for_update:
        statement = statement.with_for_update()
    return (await session.scalars(statement)).all()


async def open_incident_from(session: AsyncSession, source: str) -> StatusIncident | None:
    """The open incident (draft or published) that `source` proposed, if any."""
    statement = (
        select(StatusIncident)
        .where(StatusIncident.source == source)
        .where(StatusIncident.status.not_in(CLOSED_STATUSES))
        .limit(1)
    )
    return (await session.scalars(statement)).one_or_none()


def incidents_query(*, kind: IncidentKind | None, published_only: bool) -> Select[StatusIncident]:
    """Incidents (or only one kind), for cursor paging by creation."""
    statement = select(StatusIncident)
    if kind is not None:
        statement = statement.where(StatusIncident.kind == kind)
    if published_only:
        statement = statement.where(StatusIncident.published_at.is_not(None))
    return statement


def drafts_query() -> Select[StatusIncident]:
    return select(StatusIncident).where(
        StatusIncident.published_at.is_(None), StatusIncident.status.not_in(CLOSED_STATUSES)
    )


async def updates_of(
    session: AsyncSession, incident_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[StatusIncidentUpdate]]:
    """Each incident's updates, newest first (as Statuspage lists them)."""
    found: dict[uuid.UUID, list[StatusIncidentUpdate]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    statement = (
        select(StatusIncidentUpdate)
        .where(StatusIncidentUpdate.incident_id.in_(incident_ids))
        .order_by(StatusIncidentUpdate.display_at.desc(), StatusIncidentUpdate.created_at.desc())
    )
    for update in (await session.scalars(statement)).all():
        found[update.incident_id].append(update)
    return found
