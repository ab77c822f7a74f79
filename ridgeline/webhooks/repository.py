"""Queries of POS events. The webhook endpoint and the processing job act for the system (the
token, or the job, names the store); operators read through their scope."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, decode_cursor, encode_cursor
from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.pos_event import PosEvent
from ridgeline.models.store import Store


async def insert_event(
    session: AsyncSession,
    store: Store,
    *,
    source: str,
    external_id: str,
    event_type: str,
    payload: dict[str, Any],
    received_at: datetime,
) -> uuid.UUID | None:
    """Stores the event unless (source, external_id) is stored already: its id, or None for a
    duplicate. ON CONFLICT, not IntegrityError: a failed INSERT aborts a PostgreSQL transaction."""
    values = {
        "id": uuid.uuid4(),
        "organization_id": store.organization_id,
        "store_id": store.id,
        "source": source,
        "external_id": external_id,
        "event_type": event_type,
        "payload": payload,
        "received_at": received_at,
    }
    dialect = session.get_bind().dialect.name
    create = pg_insert(PosEvent) if dialect == "postgresql" else sqlite_insert(PosEvent)
    statement = (
        create.values(**values)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(PosEvent.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def event_by_external_id(
    session: AsyncSession, source: str, external_id: str
) -> PosEvent | None:
    statement = scoped(select(PosEvent), PosEvent, TenantScope.everything()).where(
        PosEvent.source == source, PosEvent.external_id == external_id
    )
    return (await session.scalars(statement)).one_or_none()


async def event_for_processing(session: AsyncSession, event_id: uuid.UUID) -> PosEvent | None:
    """The event, locked until the transaction ends (PostgreSQL; a SQLite writer holds the
    database), so that two runs of its job process it one after the other."""
    statement = (
        scoped(select(PosEvent), PosEvent, TenantScope.everything())
        .where(PosEvent.id == event_id)
        .with_for_update()
    )
    return (await session.scalars(statement)).one_or_none()


def store_events(
    scope: TenantScope, store_id: uuid.UUID, *, processed: bool | None = None
) -> Select[PosEvent]:
    statement = scoped(select(PosEvent), PosEvent, scope).where(PosEvent.store_id == store_id)
    if processed is not None:
        done = PosEvent.processed_at.is_not(None)
        statement = statement.where(done if processed else ~done)
    return statement


async def page_of_events(
    session: AsyncSession, statement: Select[PosEvent], page: PageRequest
) -> tuple[Sequence[PosEvent], str | None]:
    """One page in the order they arrived, with the cursor of the next. `paginate` pages on
    `created_at`; an event's time is `received_at`, so the same cursor over that."""
    if page.cursor is not None:
        after_time, after_id = decode_cursor(page.cursor)
        statement = statement.where(
            or_(
                PosEvent.received_at > after_time,
                and_(PosEvent.received_at == after_time, PosEvent.id > after_id),
            )
        )
    statement = statement.order_by(PosEvent.received_at, PosEvent.id).limit(page.limit + 1)
    rows = list((await session.scalars(statement)).all())
    if len(rows) <= page.limit:
        return rows, None
    last = rows[page.limit - 1]
    return rows[: page.limit], encode_cursor(last.received_at, last.id)
