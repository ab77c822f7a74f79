"""Schema migrations: apply them, and tell whether a database is at the latest revision.

Alembic runs on a synchronous engine (the stdlib sqlite3 driver, or psycopg in sync mode) so that
migrating never needs an event loop; the async application checks the revision on its own engine.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

log = structlog.get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The PostgreSQL advisory lock key that migrations take (any constant no other code uses).
MIGRATION_LOCK_KEY = 0x52494447  # "RIDG"


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def sync_url(url: str) -> str:
    """The synchronous driver URL for an async database URL."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


@cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creating the SQLite file if needed).

    One migration at a time: two deploys that migrate together take turns on a lock (on
    PostgreSQL an advisory lock held by the migrating transaction, on SQLite a lock file beside
    the database), and the second finds the work done."""
    parsed = make_url(url)
    sqlite_file = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if sqlite_file:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(sync_url(url))
    try:
        with contextlib.ExitStack() as locks:
            if sqlite_file:
                locks.enter_context(_file_lock(Path(f"{parsed.database}.migrate-lock")))
            with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    _wait_for_advisory_lock(connection)
                config = _alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if connection.dialect.name == "sqlite":
                    _refresh_sqlite_statistics(connection)
    finally:
        engine.dispose()


def _refresh_sqlite_statistics(connection: Connection) -> None:
    """SQLite has no autovacuum: without `ANALYZE` its planner guesses, and it guesses a
    store's index over the primary key for a page of products by id (docs/benchmarks.md,
    "Catalog list"). Each upgrade (every deploy) refreshes the statistics, sampling at most
    1,000 rows per index so that it stays quick on a large database."""
    connection.execute(text("PRAGMA analysis_limit = 1000"))
    connection.execute(text("ANALYZE"))


def _wait_for_advisory_lock(connection: Connection) -> None:
    """Takes the migration lock for this transaction, saying so when another migration has it."""
    taken = connection.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
    ).scalar_one()
    if not taken:
        log.info("migration_waiting", reason="another migration holds the lock")
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("migration_waiting", reason="another migration holds the lock")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def downgrade(url: str, revision: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    has_table = await connection.run_sync(
        lambda sync: sync.dialect.has_table(sync, "alembic_version")
    )
    if not has_table:
        return None
    result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar_one_or_none()
