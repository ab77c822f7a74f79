"""The database handle: one async engine, and sessions that commit at the caller's boundary.

SQLite runs in WAL mode with a busy timeout. Its default deferred transactions take the write lock
only at the first write, and a reader that then writes can fail at once with SQLITE_BUSY whatever
the timeout; so every session opened for writing starts with `BEGIN IMMEDIATE`, which queues
writers on the busy timeout instead. Read-only sessions keep deferred transactions and never block.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from ridgeline.config import Settings
from ridgeline.monitoring.pool import MeasuredPool
from ridgeline.monitoring.statements import watch_statements

log = structlog.get_logger(__name__)

T = TypeVar("T")

_WRITE_OPTION = "ridgeline_write"
# A transaction PostgreSQL gave up to a lock conflict is run again this many times at most.
CONFLICT_ATTEMPTS = 3
# Where a session notes the streams it appended to (stream id -> last offset) until it commits.
APPENDED_STREAMS = "ridgeline.appended_streams"

# Set on a session that enqueued a job due now, until it commits.
ENQUEUED_JOBS = "ridgeline.enqueued_jobs"

# Called after a commit that appended to streams, with {stream id: last offset}. Runs inside the
# commit (synchronously, on the event loop's thread): listeners only hand the news on.
CommitListener = Callable[[Mapping[str, int]], None]
# Called after a commit that enqueued a job due now (same rules): a worker of this process wakes.
JobListener = Callable[[], None]


class Database:
    def __init__(
        self,
        url: str,
        *,
        sqlite_busy_timeout_ms: int = 5000,
        echo: bool = False,
        slow_statement_ms: float | None = None,
        pool_size: int | None = None,
        max_overflow: int | None = None,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect_name = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        memory = parsed.database in (None, "", ":memory:")
        if self.is_sqlite:
            if not memory:
                Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
                # SQLAlchemy's own default for a SQLite file: a pool of 5, overflow 10.
                kwargs.update(poolclass=MeasuredPool, pool_size=pool_size or 5)
                kwargs.update(max_overflow=10 if max_overflow is None else max_overflow)
        else:
            kwargs.update(poolclass=MeasuredPool, pool_size=pool_size or 10, pool_pre_ping=True)
            kwargs.update(max_overflow=10 if max_overflow is None else max_overflow)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_busy_timeout_ms)
        if slow_statement_ms is not None:
            watch_statements(self.engine, slow_statement_ms)
        self._write_engine = self.engine.execution_options(**{_WRITE_OPTION: True})
        self.commit_listeners: list[CommitListener] = []
        self.job_listeners: list[JobListener] = []
        session_class = _session_class_announcing_to(self.commit_listeners, self.job_listeners)
        self._read_sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=session_class
        )
        self._write_sessions = async_sessionmaker(
            self._write_engine, expire_on_commit=False, sync_session_class=session_class
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database every process and command uses: the settings' URL, busy timeout and
        slow-statement threshold."""
        return cls(
            settings.database_url,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            slow_statement_ms=settings.slow_statement_ms,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect_name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.dialect_name == "postgresql"

    def session(self, *, write: bool = True) -> AsyncSession:
        """A new session; the caller commits or rolls back (see `transaction`)."""
        return self._write_sessions() if write else self._read_sessions()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits when the block ends and rolls back on error."""
        async with self.session(write=write) as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def retrying(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = CONFLICT_ATTEMPTS
    ) -> T:
        """`work` in a write transaction, run again from the start in a new one when PostgreSQL
        gives the transaction up to a lock conflict (a deadlock's victim, a serialization
        failure): jobs that judge a store's health, record a sync run and raise alerts take the
        same rows in orders that can cross. `work` must do nothing outside the database that a
        second run would repeat. SQLite's busy timeout is not run again: it already waited."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction() as session:
                    return await work(session)
            except DBAPIError as error:
                if attempt == attempts or self.is_sqlite or not is_database_busy(error):
                    raise
                log.warning("db_transaction_retried", attempt=attempt, error=str(error.orig))
                await asyncio.sleep(random.uniform(0.0, 0.05) * attempt)  # noqa: S311 - jitter
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def refresh_statistics(self) -> None:
        """SQLite: `ANALYZE`, so the planner knows the tables' sizes after a bulk change.
        PostgreSQL's autovacuum does this by itself."""
        if not self.is_sqlite:
            return
        async with self.transaction() as session:
            await session.execute(text("ANALYZE"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _session_class_announcing_to(
    listeners: list[CommitListener], job_listeners: list[JobListener]
) -> type[Session]:
    """A Session class of this Database's own, whose commits tell `listeners` which streams got
    new messages (see `realtime.streams.append_many`) and `job_listeners` that a job is due (see
    `jobs.enqueue`); a rollback forgets both."""

    class AnnouncingSession(Session):
        pass

    @event.listens_for(AnnouncingSession, "after_commit")
    def _announce(session: Session) -> None:
        appended: dict[str, int] | None = session.info.pop(APPENDED_STREAMS, None)
        if appended:
            for listener in listeners:
                listener(appended)
        if session.info.pop(ENQUEUED_JOBS, False):
            for job_listener in job_listeners:
                job_listener()

    @event.listens_for(AnnouncingSession, "after_rollback")
    def _forget(session: Session) -> None:
        session.info.pop(APPENDED_STREAMS, None)
        session.info.pop(ENQUEUED_JOBS, None)

    return AnnouncingSession


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        # Take transaction control from the driver so that the "begin" hook below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


# PostgreSQL: deadlock detected, lock not available, serialization failure.
_BUSY_SQLSTATES = frozenset({"40P01", "55P03", "40001"})


def is_database_busy(exc: BaseException) -> bool:
    """Whether `exc` says the database could not take the transaction now (SQLite's write lock
    past its busy timeout, a PostgreSQL lock or serialization conflict): the transaction rolled
    back whole, and the same request may simply be sent again."""
    cause: BaseException | None = exc
    for _ in range(8):  # the chain is short; a cycle must not hang a request
        if cause is None:
            return False
        if getattr(cause, "sqlstate", None) in _BUSY_SQLSTATES:
            return True
        text_ = str(cause).lower()
        if "database is locked" in text_ or "database table is locked" in text_:
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False
