"""Slow statements are logged with their shape, never their values, and counted."""

from __future__ import annotations

import structlog
from prometheus_client import REGISTRY
from sqlalchemy import bindparam, text

from ridgeline.db.engine import Database

SECRET = "s3cret-value-7781"


def _count(operation: str) -> float:
    value = REGISTRY.get_sample_value(
        "ridgeline_db_slow_statements_total", {"operation": operation}
    )
    return value or 0.0


async def test_a_statement_over_the_threshold_is_logged_without_its_values(
    database: Database,
) -> None:
    watched = Database(database.url, slow_statement_ms=0)
    before = _count("SELECT")
    try:
        with structlog.testing.capture_logs() as logs:
            async with watched.transaction(write=False) as session:
                statement = text("SELECT :value   AS  echoed").bindparams(
                    bindparam("value", SECRET)
                )
                assert await session.scalar(statement) == SECRET
    finally:
        await watched.dispose()
    slow = [entry for entry in logs if entry["event"] == "db_slow_statement"]
    [entry] = [e for e in slow if "echoed" in e["statement"]]
    assert entry["operation"] == "SELECT"
    assert "AS echoed" in entry["statement"]  # whitespace collapsed
    assert entry["duration_ms"] >= 0
    assert SECRET not in repr(slow)
    assert _count("SELECT") >= before + 1


async def test_only_statements_over_the_threshold_are_logged(database: Database) -> None:
    watched = Database(database.url, slow_statement_ms=200)
    try:
        with structlog.testing.capture_logs() as logs:
            async with watched.transaction(write=False) as session:
                await session.execute(text("SELECT 1"))
                if watched.is_postgresql:
                    await session.execute(text("SELECT pg_sleep(0.3)"))
    finally:
        await watched.dispose()
    slow = [entry["statement"] for entry in logs if entry["event"] == "db_slow_statement"]
    # SQLite has no sleep: there, nothing was slow.
    assert slow == (["SELECT pg_sleep(0.3)"] if database.is_postgresql else [])
