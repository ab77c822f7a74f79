"""Queries of the audit trail: reading events with filters, the store's organization for a
new event, and the retention purge. Nothing here updates an event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult, paginate
from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.audit import AuditEvent
from ridgeline.models.operator import Operator
from ridgeline.models.store import Store


@dataclass(frozen=True, slots=True)
class AuditFilter:
    store_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    # An exact action ("store.update"), or a prefix ending in "." ("store.") for a family.
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


async def list_events(
    session: AsyncSession, scope: TenantScope, page: PageRequest, filters: AuditFilter
) -> PageResult[AuditEvent]:
    """One page of the events `scope` may see, newest first."""
    statement = scoped(select(AuditEvent), AuditEvent, scope)
    if filters.store_id is not None:
        statement = statement.where(AuditEvent.store_id == filters.store_id)
    if filters.actor_id is not None:
        statement = statement.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action is not None:
        if filters.action.endswith("."):
            statement = statement.where(
                AuditEvent.action.startswith(filters.action, autoescape=True)
            )
        else:
            statement = statement.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        statement = statement.where(AuditEvent.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(AuditEvent.created_at < filters.until)
    return await paginate(session, statement, AuditEvent, page, newest_first=True)


async def operator_emails(
    session: AsyncSession, operator_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The current email of each of these operators that still exists. Unscoped on purpose:
    the ids come from events the caller may already read, and an event's actor (a platform
    admin acting on a store, say) is part of what the caller is shown."""
    if not operator_ids:
        return {}
    rows = await session.execute(
        select(Operator.id, Operator.email).where(Operator.id.in_(operator_ids))
    )
    return dict(rows.all())


async def store_organization(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> uuid.UUID | None:
    """The organization of a store the caller has just acted on, in the caller's scope."""
    statement = scoped(select(Store.organization_id), Store, scope).where(Store.id == store_id)
    return await session.scalar(statement)


async def delete_events_before(session: AsyncSession, before: datetime, *, limit: int) -> int:
    """Deletes up to `limit` of every tenant's events older than `before` (the retention);
    returns how many."""
    batch = select(AuditEvent.id).where(AuditEvent.created_at < before).limit(limit)
    ids = list((await session.scalars(batch)).all())
    if ids:
        await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    return len(ids)
