"""Uptime: each component's status changes rolled up into seconds per status per UTC day, kept
90 days, and the percentage the page shows (docs/status-page.md#uptime).

Downtime counts a major outage in full and a partial outage at 30% (Statuspage's weighting: a
partial outage affects some users). Degraded performance and maintenance are up. A day counts
only the time the component was watched: before its first recorded status there is no data,
and a day without data is left out of the percentage rather than counted as up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.status import (
    ComponentStatus,
    StatusComponent,
    StatusComponentChange,
    StatusUptimeDay,
)
from ridgeline.status import repository

DAYS = 90
PARTIAL_WEIGHT = 0.3
STATUSES = tuple(status.value for status in ComponentStatus)


@dataclass(frozen=True, slots=True)
class UptimeDay:
    day: date
    seconds: dict[str, float]  # by status; empty: no data

    @property
    def observed_s(self) -> float:
        return sum(self.seconds.values())

    @property
    def downtime_s(self) -> float:
        return downtime(self.seconds)

    @property
    def uptime(self) -> float | None:
        observed = self.observed_s
        return None if observed <= 0 else 1 - self.downtime_s / observed

    @property
    def worst(self) -> ComponentStatus | None:
        """The worst status the component was in that day (None: no data)."""
        for status in (
            ComponentStatus.MAJOR_OUTAGE,
            ComponentStatus.PARTIAL_OUTAGE,
            ComponentStatus.DEGRADED_PERFORMANCE,
            ComponentStatus.UNDER_MAINTENANCE,
            ComponentStatus.OPERATIONAL,
        ):
            if self.seconds.get(status.value, 0) > 0:
                return status
        return None


@dataclass(frozen=True, slots=True)
class ComponentUptime:
    key: str
    days: list[UptimeDay]  # oldest first, DAYS of them, ending today

    @property
    def percent(self) -> float | None:
        """Uptime over the days with data, in percent (None: no data at all)."""
        observed = sum(day.observed_s for day in self.days)
        if observed <= 0:
            return None
        return 100 * (1 - sum(day.downtime_s for day in self.days) / observed)


def downtime(seconds: dict[str, Any]) -> float:
    major = float(seconds.get(ComponentStatus.MAJOR_OUTAGE.value, 0) or 0)
    partial = float(seconds.get(ComponentStatus.PARTIAL_OUTAGE.value, 0) or 0)
    return major + PARTIAL_WEIGHT * partial


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def seconds_in(
    before: StatusComponentChange | None,
    within: Sequence[StatusComponentChange],
    start: datetime,
    end: datetime,
) -> dict[str, float]:
    """Seconds spent in each status in [start, end), from the change in force at `start` (if
    any) and the changes inside the range, in time order."""
    seconds: dict[str, float] = {}
    current = before.status.value if before is not None else None
    at = start
    for change in within:
        if current is not None and change.at > at:
            seconds[current] = seconds.get(current, 0.0) + (change.at - at).total_seconds()
        current, at = change.status.value, max(at, change.at)
    if current is not None and end > at:
        seconds[current] = seconds.get(current, 0.0) + (end - at).total_seconds()
    return {status: round(value, 3) for status, value in seconds.items() if value > 0}


async def roll_up(
    session: AsyncSession, now: datetime, components: Iterable[StatusComponent]
) -> None:
    """Writes each component's figures from its last rolled-up day (again: it may have ended
    since) through today, so days when no evaluation ran are filled in too; forgets days and
    changes older than DAYS."""
    today = now.astimezone(UTC).date()
    oldest = today - timedelta(days=DAYS - 1)
    for component in components:
        latest = await repository.latest_uptime_day(session, component.id)
        if latest is None:
            first = await repository.first_change_at(session, component.id)
            latest = first.astimezone(UTC).date() if first is not None else today
        day = max(latest, oldest)
        while day <= today:
            await _roll_up_day(session, component, day, now)
            day += timedelta(days=1)
        await repository.delete_changes_before(session, component.id, day_start(oldest))
    await repository.delete_uptime_days_before(session, oldest)
    await repository.flush(session)


async def _roll_up_day(
    session: AsyncSession, component: StatusComponent, day: date, now: datetime
) -> None:
    start = day_start(day)
    end = min(start + timedelta(days=1), now)
    before, within = await repository.changes_between(session, component.id, start, end)
    seconds = seconds_in(before, within, start, end)
    row = await repository.uptime_day(session, component.id, day)
    if row is None:
        if seconds:
            repository.add(
                session,
                StatusUptimeDay(
                    component_id=component.id, day=day, seconds=seconds, updated_at=now
                ),
            )
    elif row.seconds != seconds:
        row.seconds = seconds
        row.updated_at = now


async def history(
    session: AsyncSession, components: Sequence[StatusComponent], today: date
) -> dict[str, ComponentUptime]:
    """Each component's last DAYS days, from the stored day rows."""
    first = today - timedelta(days=DAYS - 1)
    stored: dict[tuple[Any, date], dict[str, Any]] = {
        (row.component_id, row.day): row.seconds
        for row in await repository.uptime_days(session, first, today)
    }
    found: dict[str, ComponentUptime] = {}
    for component in components:
        days = []
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            raw = stored.get((component.id, day), {})
            days.append(
                UptimeDay(day, {k: float(v) for k, v in raw.items() if k in STATUSES and v})
            )
        found[component.key] = ComponentUptime(component.key, days)
    return found
