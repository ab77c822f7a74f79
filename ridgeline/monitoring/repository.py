"""Queries over `process_reports`, a system table (no tenant): each process's latest
performance report."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.process_report import ProcessReport


async def upsert_report(
    session: AsyncSession,
    *,
    process_key: str,
    role: str,
    started_at: datetime,
    updated_at: datetime,
    report: dict[str, Any],
) -> None:
    """Writes the process's row, or replaces the report of the row it already has."""
    values = {
        "process_key": process_key,
        "role": role,
        "started_at": started_at,
        "updated_at": updated_at,
        "report": report,
    }
    changes = {"role": role, "updated_at": updated_at, "report": report}
    if session.get_bind().dialect.name == "postgresql":
        pg_insert = postgresql.insert(ProcessReport).values(id=uuid.uuid4(), **values)
        await session.execute(
            pg_insert.on_conflict_do_update(index_elements=["process_key"], set_=changes)
        )
    else:
        lite_insert = sqlite.insert(ProcessReport).values(id=uuid.uuid4(), **values)
        await session.execute(
            lite_insert.on_conflict_do_update(index_elements=["process_key"], set_=changes)
        )


async def reports_updated_since(session: AsyncSession, since: datetime) -> Sequence[ProcessReport]:
    """The reports written at `since` or later, oldest process first."""
    statement = (
        select(ProcessReport)
        .where(ProcessReport.updated_at >= since)
        .order_by(ProcessReport.started_at, ProcessReport.process_key)
    )
    return (await session.scalars(statement)).all()


async def delete_reports_before(session: AsyncSession, before: datetime) -> int:
    """Deletes the reports last written before `before` (processes long gone); how many."""
    result = await session.execute(delete(ProcessReport).where(ProcessReport.updated_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
