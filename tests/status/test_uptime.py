"""Uptime is computed from the stored history: planted status changes, rolled up per day, give
the figures the page shows; history older than 90 days is forgotten."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import (
    ComponentStatus,
    StatusComponent,
    StatusComponentChange,
    StatusUptimeDay,
)
from ridgeline.status import service, uptime

OPERATIONAL = ComponentStatus.OPERATIONAL
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE
MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


async def plant(
    database: Database, key: str, changes: list[tuple[datetime, ComponentStatus]]
) -> StatusComponent:
    """A component whose whole history is `changes` (its row made at the first)."""
    first_at, first_status = changes[0]
    async with database.transaction() as session:
        row = StatusComponent(
            key=key,
            derived_status=first_status,
            reason="",
            evidence={},
            status=changes[-1][1],
            status_since=changes[-1][0],
            created_at=first_at,
            updated_at=first_at,
        )
        session.add(row)
        await session.flush()
        for when, status in changes:
            session.add(StatusComponentChange(component_id=row.id, at=when, status=status))
    return row


def test_seconds_in_a_day_follow_the_changes() -> None:
    day = date(2026, 11, 20)
    before = StatusComponentChange(at=at(day, 0) - timedelta(days=3), status=OPERATIONAL)
    within = [
        StatusComponentChange(at=at(day, 6), status=MAJOR),
        StatusComponentChange(at=at(day, 7), status=OPERATIONAL),
        StatusComponentChange(at=at(day, 12), status=PARTIAL),
        StatusComponentChange(at=at(day, 14), status=OPERATIONAL),
    ]
    seconds = uptime.seconds_in(before, within, at(day, 0), at(day, 0) + timedelta(days=1))
    assert seconds == {"operational": 21 * 3600, "major_outage": 3600, "partial_outage": 7200}
    # Downtime: the major hour in full, the partial two hours at 30%.
    assert uptime.downtime(seconds) == 3600 + 0.3 * 7200
    # A component first seen at noon has no data before it.
    assert uptime.seconds_in(None, within[2:], at(day, 0), at(day, 23)) == {
        "partial_outage": 7200,
        "operational": 9 * 3600,
    }


async def test_a_planted_history_gives_the_exact_uptime(
    database: Database, clock: FakeClock, client: httpx.AsyncClient
) -> None:
    today = clock.now().astimezone(UTC).date()
    ten_days_ago = today - timedelta(days=10)
    three_days_ago = today - timedelta(days=3)
    # Watched from ten days ago at midnight: a one-hour major outage three days ago, two hours
    # of partial outage and a degraded afternoon the day after, maintenance yesterday.
    history = [
        (at(ten_days_ago, 0), OPERATIONAL),
        (at(three_days_ago, 6), MAJOR),
        (at(three_days_ago, 7), OPERATIONAL),
        (at(three_days_ago + timedelta(days=1), 12), PARTIAL),
        (at(three_days_ago + timedelta(days=1), 14), DEGRADED),
        (at(three_days_ago + timedelta(days=1), 18), OPERATIONAL),
        (at(today - timedelta(days=1), 1), MAINTENANCE),
        (at(today - timedelta(days=1), 2), OPERATIONAL),
    ]
    row = await plant(database, "pos_treez", history)
    # Another component, watched only since this morning, all operational.
    await plant(database, "api", [(at(today, 0), OPERATIONAL)])

    async with database.transaction() as session:
        rows = list((await session.scalars(select(StatusComponent))).all())
        await uptime.roll_up(session, clock.now(), rows)
    async with database.transaction(write=False) as session:
        days = (
            await session.scalars(
                select(StatusUptimeDay).where(StatusUptimeDay.component_id == row.id)
            )
        ).all()
        found = await uptime.history(session, rows, today)
    # One row per day since the first change, today's up to now.
    assert sorted(d.day for d in days) == [ten_days_ago + timedelta(days=i) for i in range(11)]
    by_day = {d.day: d.seconds for d in days}
    assert by_day[three_days_ago] == {"operational": 23 * 3600, "major_outage": 3600}
    assert by_day[three_days_ago + timedelta(days=1)] == {
        "operational": 18 * 3600,
        "partial_outage": 7200,
        "degraded_performance": 4 * 3600,
    }

    observed = 10 * 86400 + (clock.now() - at(today, 0)).total_seconds()
    expected = 100 * (1 - (3600 + 0.3 * 7200) / observed)
    treez = found["pos_treez"]
    assert treez.percent is not None
    assert abs(treez.percent - expected) < 1e-6
    assert len(treez.days) == 90
    assert treez.days[0].uptime is None  # before the component was watched: no data
    assert treez.days[-4].worst is MAJOR
    assert treez.days[-3].worst is PARTIAL
    assert treez.days[-2].worst is MAINTENANCE
    assert treez.days[-2].uptime == 1.0  # maintenance is not downtime
    assert found["api"].percent == 100.0

    # The public API gives the same figures.
    body = (await client.get("/api/v1/status/uptime")).json()["data"]
    served = next(item for item in body if item["key"] == "pos_treez")
    assert abs(served["percent"] - expected) < 1e-6
    assert served["days"][-4]["worst"] == "major_outage"
    assert served["days"][-4]["downtime_s"] == 3600


async def test_history_older_than_90_days_is_forgotten(
    database: Database, clock: FakeClock
) -> None:
    today = clock.now().astimezone(UTC).date()
    long_ago = today - timedelta(days=120)
    row = await plant(
        database,
        "realtime",
        [
            (at(long_ago, 0), OPERATIONAL),
            (at(long_ago, 5), MAJOR),
            (at(long_ago, 6), OPERATIONAL),
            (at(today - timedelta(days=100), 0), DEGRADED),
        ],
    )
    async with database.transaction() as session:
        session.add(
            StatusUptimeDay(
                component_id=row.id,
                day=long_ago,
                seconds={"major_outage": 3600, "operational": 82800},
                updated_at=clock.now(),
            )
        )
    async with database.transaction() as session:
        await uptime.roll_up(session, clock.now(), [row])
    async with database.transaction(write=False) as session:
        oldest_day = await session.scalar(
            select(func.min(StatusUptimeDay.day)).where(StatusUptimeDay.component_id == row.id)
        )
        changes = (
            await session.scalars(
                select(StatusComponentChange).where(StatusComponentChange.component_id == row.id)
            )
        ).all()
        found = await uptime.history(session, [row], today)
    assert oldest_day == today - timedelta(days=89)
    # Only the change in force at the cut-off is kept: it says what the window starts with.
    assert [(c.status) for c in changes] == [DEGRADED]
    # 90 days of degraded performance: up all along.
    assert found["realtime"].percent == 100.0


async def test_evaluations_record_each_change_once(database: Database, clock: FakeClock) -> None:
    async with database.transaction() as session:
        await service.evaluate(session, clock.now())
    clock.advance(60)
    async with database.transaction() as session:
        await service.evaluate(session, clock.now())
    async with database.transaction(write=False) as session:
        count = await session.scalar(select(func.count()).select_from(StatusComponentChange))
    assert count == 8  # one per component: its first status; nothing changed since
