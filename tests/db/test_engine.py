"""The database handle: UTC-only timestamps, and SQLite writers that queue instead of failing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from ridgeline.db.engine import Database
from ridgeline.models import Organization, Store
from tests.factories import make_organization


async def test_timestamps_come_back_as_utc(database: Database) -> None:
    organization = await make_organization(database)
    async with database.transaction(write=False) as session:
        loaded = await session.get(Organization, organization.id)
        assert loaded is not None
        assert loaded.created_at.utcoffset() == timedelta(0)


async def test_other_time_zones_are_stored_as_the_same_instant(database: Database) -> None:
    organization = await make_organization(database)
    mountain = datetime(2026, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=-6)))
    async with database.transaction() as session:
        loaded = await session.get(Organization, organization.id)
        assert loaded is not None
        loaded.created_at = mountain
    async with database.transaction(write=False) as session:
        again = await session.get(Organization, organization.id)
        assert again is not None
        assert again.created_at == mountain
        assert again.created_at.hour == 18


async def test_naive_datetimes_are_refused(database: Database) -> None:
    naive = Organization(name="N", slug="naive", created_at=datetime(2026, 1, 1))
    async with database.transaction() as session:
        session.add(naive)
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()
        await session.rollback()


async def test_foreign_keys_are_enforced_and_sqlite_uses_wal(database: Database) -> None:
    orphan = Store(organization_id=uuid.uuid4(), name="Nowhere")
    async with database.transaction() as session:
        session.add(orphan)
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()
    if database.is_sqlite:
        async with database.transaction(write=False) as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_concurrent_read_then_write_transactions_all_commit(database: Database) -> None:
    """Each writer reads a count, then inserts: with deferred transactions on SQLite the later
    writers would fail with 'database is locked'; BEGIN IMMEDIATE makes them wait their turn."""

    async def read_then_write(n: int) -> None:
        async with database.transaction() as session:
            await session.scalar(select(func.count()).select_from(Organization))
            await asyncio.sleep(0.01)  # hold the transaction open while others start
            session.add(Organization(name=f"Org {n}", slug=f"concurrent-{n}"))

    await asyncio.gather(*(read_then_write(n) for n in range(8)))
    async with database.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 8
