"""Queries over operator alerts (`admin_notifications`), always through the tenant scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.notification import AdminNotification


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
    if state == "resolved":
        statement = statement.where(AdminNotification.resolved_at.is_not(None))
    elif state is not None:
        statement = statement.where(AdminNotification.resolved_at.is_(None))
        acknowledged = AdminNotification.acknowledged_at
        statement = statement.where(
            acknowledged.is_not(None) if state == "acknowledged" else acknowledged.is_(None)
        )
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
