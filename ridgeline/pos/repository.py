"""Queries of the POS domain: the call log."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.base import table_of
from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.pos_call import PosCall


async def latest_calls(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, limit: int
) -> Sequence[PosCall]:
    """The store's last `limit` POS calls, newest first."""
    statement = (
        scoped(select(PosCall), PosCall, scope)
        .where(PosCall.store_id == store_id)
        .order_by(PosCall.at.desc(), PosCall.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def delete_calls_before(session: AsyncSession, before: datetime) -> None:
    """Deletes every store's POS calls made before `before` (the log's retention)."""
    await session.execute(delete(PosCall).where(PosCall.at < before))


async def insert_calls(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """Adds call log rows (column name to value, ids included, every row the same columns) in
    one executemany."""
    await session.execute(insert(table_of(PosCall)), rows)
