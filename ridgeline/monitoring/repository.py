"""Queries of monitoring: `process_reports`, a system table (no tenant) of each process's latest
performance report; and the platform-wide counts behind the fleet gauges."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.health import StoreHealth
from ridgeline.models.notification import AdminNotification
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.process_report import ProcessReport

# The fleet gauges count every tenant's rows: they are platform figures, with no tenant label.
EVERYONE = TenantScope.everything()


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


# Fleet figures (monitoring/fleet.py): cheap GROUP BY counts over the whole platform, every
# tenant at once; nothing here leaves the process except as a count.


async def store_counts_by_state(session: AsyncSession) -> dict[str, int]:
    """Stores the connection state machine has judged, by state."""
    statement = (
        scoped(select(StoreHealth), StoreHealth, EVERYONE)
        .with_only_columns(StoreHealth.state, func.count())
        .group_by(StoreHealth.state)
    )
    return {str(state): int(count) for state, count in (await session.execute(statement)).all()}


async def order_counts_by_status(
    session: AsyncSession, statuses: Collection[OrderStatus]
) -> dict[str, int]:
    """Orders in each of `statuses` (the open ones: terminal orders pile up for ever, and
    counting them would cost more with every day)."""
    statement = (
        scoped(select(Order), Order, EVERYONE)
        .with_only_columns(Order.status, func.count())
        .where(Order.status.in_(list(statuses)))
        .group_by(Order.status)
    )
    return {str(status): int(count) for status, count in (await session.execute(statement)).all()}


async def open_alert_counts(session: AsyncSession) -> dict[tuple[str, str], int]:
    """Alerts not resolved, by (state, severity)."""
    statement = (
        scoped(select(AdminNotification), AdminNotification, EVERYONE)
        .with_only_columns(AdminNotification.state, AdminNotification.severity, func.count())
        .where(AdminNotification.resolved_at.is_(None))
        .group_by(AdminNotification.state, AdminNotification.severity)
    )
    rows = (await session.execute(statement)).all()
    return {(str(state), str(severity)): int(count) for state, severity, count in rows}
