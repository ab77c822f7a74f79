"""Migrations run up and down on the selected database, and /readyz tells when they are behind."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ridgeline.app import create_app
from ridgeline.config import Environment, Settings
from ridgeline.db import migrate
from ridgeline.db.base import Base
from ridgeline.db.engine import Database
from tests.conftest import PG_ADMIN_URL, _pg_conninfo


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, of the kind the suite runs on."""
    if request.config.getoption("--db") == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"ridgeline_migrations_{uuid.uuid4().hex[:8]}"
    admin = _pg_conninfo(PG_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _tables(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()
    return set(names)


async def test_upgrade_creates_every_table_and_downgrade_removes_them(
    empty_database_url: str,
) -> None:
    migrate.upgrade(empty_database_url)
    assert await _tables(empty_database_url) >= set(Base.metadata.tables)
    migrate.downgrade(empty_database_url, "base")
    assert await _tables(empty_database_url) <= {"alembic_version"}
    migrate.upgrade(empty_database_url)  # and up again, as after a rollback
    assert await _tables(empty_database_url) >= set(Base.metadata.tables)


async def test_readyz_fails_until_migrated(empty_database_url: str) -> None:
    settings = Settings(env=Environment.TEST, database_url=empty_database_url)
    database = Database(empty_database_url)
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            behind = await client.get("/readyz")
            assert behind.status_code == 503
            error = behind.json()["error"]
            assert error["code"] == "NOT_READY"
            assert error["details"]["migrations"] == {
                "current": None,
                "head": migrate.head_revision(),
            }
            assert (await client.get("/healthz")).status_code == 200
            migrate.upgrade(empty_database_url)
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["data"]["migrations"]["current"] == migrate.head_revision()
    finally:
        await database.dispose()


async def test_readyz_fails_when_the_database_is_unreachable() -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    settings = Settings(env=Environment.TEST, database_url=url)
    database = Database(url)
    app = create_app(settings, database=database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["details"]["database"] == "unreachable"
    finally:
        await database.dispose()


def test_models_and_migrations_agree(empty_database_url: str) -> None:
    """Autogenerate finds nothing to do after upgrading: no model change lacks a migration."""
    migrate.upgrade(empty_database_url)
    engine = create_engine(migrate.sync_url(empty_database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


async def test_two_migrations_at_once_take_turns(empty_database_url: str) -> None:
    """Two deploys migrating the same new database together: the second waits for the first's
    lock, then finds nothing to do; neither fails."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def deploy() -> None:
        start.wait()
        try:
            migrate.upgrade(empty_database_url)
        except BaseException as exc:
            failures.append(exc)

    deploys = [threading.Thread(target=deploy) for _ in range(2)]
    for thread in deploys:
        thread.start()
    for thread in deploys:
        thread.join(timeout=120)
    assert failures == []
    assert await _tables(empty_database_url) >= set(Base.metadata.tables)
    engine = create_async_engine(empty_database_url)
    try:
        async with engine.connect() as connection:
            assert await migrate.current_revision(connection) == migrate.head_revision()
    finally:
        await engine.dispose()
