"""`Database.retrying`: a transaction PostgreSQL makes a deadlock's victim runs again from the
start and both sides finish; any other error, and SQLite's busy timeout, are not run again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.engine import Database, is_database_busy
from tests.factories import make_organization

Work = Callable[[AsyncSession], Awaitable[str]]


def two_crossing_transactions(runs: Counter[str]) -> tuple[Work, Work]:
    """Two units of work that lock the same two rows in opposite orders, each waiting (on its
    first run) until the other holds its first row: a deadlock, unless one runs again."""
    holding = {"left": asyncio.Event(), "right": asyncio.Event()}

    def work(name: str, first: str, second: str, other: str) -> Work:
        async def run(session: AsyncSession) -> str:
            runs[name] += 1
            await lock(session, first)
            if runs[name] == 1:
                holding[name].set()
                await asyncio.wait_for(holding[other].wait(), 10)
            await lock(session, second)
            return name

        return run

    return work("left", "a", "b", "right"), work("right", "b", "a", "left")


async def lock(session: AsyncSession, name: str) -> None:
    await session.execute(
        text("SELECT slug FROM organizations WHERE slug = :slug FOR UPDATE"), {"slug": name}
    )


@pytest.fixture
async def crossing(
    request: pytest.FixtureRequest, database: Database
) -> tuple[Counter[str], Work, Work]:
    """Runs per side, and the two crossing units of work over two organizations' rows."""
    if request.config.getoption("--db") != "postgresql":
        pytest.skip("row locks and deadlocks are PostgreSQL's; runs in the `--db postgresql` pass")
    await make_organization(database, "a")
    await make_organization(database, "b")
    runs: Counter[str] = Counter()
    return (runs, *two_crossing_transactions(runs))


async def test_a_deadlock_victim_runs_again_and_both_finish(
    database: Database, crossing: tuple[Counter[str], Work, Work]
) -> None:
    runs, left, right = crossing
    with structlog.testing.capture_logs() as logs:
        done = await asyncio.wait_for(
            asyncio.gather(database.retrying(left), database.retrying(right)), 30
        )
    assert sorted(done) == ["left", "right"]
    assert sorted(runs.values()) == [1, 2]  # the victim ran twice
    [retried] = [entry for entry in logs if entry["event"] == "db_transaction_retried"]
    assert retried["attempt"] == 1


async def test_without_it_the_victim_fails(
    database: Database, crossing: tuple[Counter[str], Work, Work]
) -> None:
    """What `retrying` is for (and that the crossing transactions above do deadlock)."""
    _, left, right = crossing

    async def once(work: Work) -> str:
        async with database.transaction() as session:
            return await work(session)

    results = await asyncio.wait_for(
        asyncio.gather(once(left), once(right), return_exceptions=True), 30
    )
    failed = [result for result in results if isinstance(result, BaseException)]
    assert len(failed) == 1
    assert isinstance(failed[0], DBAPIError)
    assert is_database_busy(failed[0])


async def test_other_errors_are_not_run_again(database: Database) -> None:
    runs = 0

    async def duplicate(session: AsyncSession) -> None:
        nonlocal runs
        runs += 1
        await session.execute(
            text(
                "INSERT INTO organizations (id, name, slug, created_at, updated_at) "
                "SELECT id, name, slug, created_at, updated_at FROM organizations"
            )
        )

    await make_organization(database, "taken")
    with pytest.raises(IntegrityError):
        await database.retrying(duplicate)
    assert runs == 1

    async def broken(session: AsyncSession) -> None:
        nonlocal runs
        runs += 1
        raise ValueError("not the database's")

    with pytest.raises(ValueError, match="not the database's"):
        await database.retrying(broken)
    assert runs == 2
