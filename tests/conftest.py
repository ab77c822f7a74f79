"""Shared fixtures. The same suite runs on SQLite or PostgreSQL: `--db postgresql` (or
RIDGELINE_TEST_DB=postgresql) selects PostgreSQL at RIDGELINE_TEST_PG_URL."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ridgeline.api.rate_limits import BUDGET_NAMES
from ridgeline.app import app_services, create_app
from ridgeline.auth import passwords
from ridgeline.auth import service as auth_service
from ridgeline.clock import FakeClock
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db import migrate
from ridgeline.db.base import Base
from ridgeline.db.engine import Database
from ridgeline.monitoring.logging import configure_logging

# The POS simulator's fixtures, shared by every folder whose tests reach it.
from tests.simulated_pos import (  # noqa: F401
    connector,
    control,
    harness,
    harness_seed,
    simulator_seed,
)

PG_ADMIN_URL = os.environ.get(
    "RIDGELINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default=os.environ.get("RIDGELINE_TEST_DB", "sqlite"),
        help="database the suite runs against",
    )


def pytest_configure(config: pytest.Config) -> None:
    # JSON logs, as in production (structlog's default console renderer is slow on tracebacks).
    configure_logging(Settings(env=Environment.TEST, log_format=LogFormat.JSON))


def pytest_report_header(config: pytest.Config) -> str:
    return f"ridgeline test database: {config.getoption('--db')}"


def _pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated database for this test session, dropped at the end."""
    if request.config.getoption("--db") == "sqlite":
        path = tmp_path_factory.mktemp("db") / "ridgeline.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        yield url
        return
    name = f"ridgeline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = _pg_conninfo(PG_ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Every test's requests come from one address and one key, on a fake clock that only moves when
# the test moves it: with the default budgets a route walk (hundreds of requests) would be
# refused. The limits stay on, so every request goes through them and carries their headers,
# with budgets no test reaches; tests/api/test_rate_limits.py tests the defaults.
UNREACHED_API_RATE_LIMITS: dict[str, str] = {
    f"api_rate_limit_{name}": "1000000/60s burst 100000" for name in BUDGET_NAMES
}
# The same for a server the suite starts as a process (its environment).
UNREACHED_API_RATE_LIMITS_ENV: dict[str, str] = {
    f"RIDGELINE_{name.upper()}": value for name, value in UNREACHED_API_RATE_LIMITS.items()
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        run_worker_in_process=False,
        log_format=LogFormat.JSON,
        job_poll_interval_s=0.05,
    ).model_copy(update=UNREACHED_API_RATE_LIMITS)


async def empty_all_tables(database: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with database.transaction() as session:
        if database.is_postgresql:
            await session.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                await session.execute(text(f"DELETE FROM {table}"))  # noqa: S608


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test database, emptied after each test so that tests never see each other's rows."""
    db = Database(settings.database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        yield db
    finally:
        await empty_all_tables(db)
        await db.dispose()


# Argon2 is slow on purpose (~0.1 s a check) and tests sign the same factory password in many
# times. The check is a pure function of (hash, password), so its answers are remembered for the
# session without changing what any request does.
_remembered_verify = functools.cache(passwords.verify_password)


@pytest.fixture(autouse=True)
def remembered_password_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_service, "verify_password", _remembered_verify)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def app(settings: Settings, database: Database, clock: FakeClock) -> AsyncIterator[FastAPI]:
    """The app without its lifespan (tests drive it through ASGITransport): what the lifespan
    would close at shutdown is closed here."""
    application = create_app(settings, database=database, clock=clock)
    yield application
    await app_services(application).pos_connector.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
