"""A write the database cannot take in time (SQLite's one writer held past its busy timeout, a
PostgreSQL deadlock or serialization conflict) answers 503 `DATABASE_BUSY` with Retry-After,
not 500: nothing was saved, and the same request may be sent again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import psycopg.errors
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from ridgeline.config import Settings
from ridgeline.db.engine import Database, is_database_busy
from ridgeline.models import Order
from tests.assertions import assert_error
from tests.orders.conftest import KioskClient, add_product, bare_tenant, count, order_body, place


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # A writer gives up after 100 ms instead of 5 s.
    return settings.model_copy(update={"sqlite_busy_timeout_ms": 100})


def test_busy_errors_are_told_from_others() -> None:
    locked = OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
    deadlock = OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))
    serialization = OperationalError(
        "UPDATE", {}, psycopg.errors.SerializationFailure("could not serialize access")
    )
    assert all(is_database_busy(exc) for exc in (locked, deadlock, serialization))
    other = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: orders"))
    assert not is_database_busy(other)
    assert not is_database_busy(RuntimeError("boom"))


async def test_a_conflict_answers_503_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async def conflicting() -> None:
        raise OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected"))

    app.add_api_route("/test/conflict", conflicting, methods=["POST"])
    response = await client.post("/test/conflict")
    assert_error(response, 503, "DATABASE_BUSY")
    assert response.headers["Retry-After"] == "1"


async def test_an_order_while_sqlite_is_locked_is_503_and_the_retry_goes_through(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    if not database.is_sqlite:
        pytest.skip("SQLite's single writer; PostgreSQL writers do not wait on one lock")
    tenant = await bare_tenant(database)
    kiosk = KioskClient(tenant.kiosk, tenant.kiosk_key)
    item = await add_product(database, tenant.store)
    path = make_url(settings.database_url).database
    assert path is not None
    holder = sqlite3.connect(Path(path), isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        response = await place(client, kiosk, order_body(item.line()), key="busy-1")
        assert_error(response, 503, "DATABASE_BUSY")
        assert response.headers["Retry-After"] == "1"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert await count(database, Order) == 0
    retried = await place(client, kiosk, order_body(item.line()), key="busy-1")
    assert retried.status_code == 201, retried.text
    assert await count(database, Order) == 1
