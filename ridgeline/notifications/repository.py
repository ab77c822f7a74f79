"""Queries over operator alerts (`admin_notifications`), always through the tenant scope."""

from __future__ import annotations

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.notification import AdminNotification


def alerts(
    scope: TenantScope,
    *,
    store_id: uuid.UUID | None = None,
    kind: str | None = None,
    acknowledged: bool | None = None,
) -> Select[AdminNotification]:
    """The alerts `scope` may see, optionally of one store and kind, and only acknowledged
    (True) or only firing (False) ones."""
    statement = scoped(select(AdminNotification), AdminNotification, scope)
    if store_id is not None:
        statement = statement.where(AdminNotification.store_id == store_id)
    if kind is not None:
        statement = statement.where(AdminNotification.kind == kind)
    if acknowledged is False:
        statement = statement.where(AdminNotification.acknowledged_at.is_(None))
    elif acknowledged is True:
        statement = statement.where(AdminNotification.acknowledged_at.is_not(None))
    return statement


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
