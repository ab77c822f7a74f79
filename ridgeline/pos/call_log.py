"""The POS call log (`pos_calls`), written in batches where an operation asks for it.

Each attempt the resilient client makes is recorded here, with what it does to the store's
connection state (health/), in the same transaction. A call made inside `batched()` (a sync's
fetch: one call per page) waits in this process's buffer; the buffer is written in one
transaction when the block ends, when its oldest call has waited `flush_after_s`, when
`max_rows` wait, and when the connector closes (`aclose`). Any other call is written as it is
made, with whatever is waiting: an operator's test, a recovery probe or an order see their own
calls at once. A crash loses at most what was waiting: `flush_after_s` worth of calls, never
more than `max_rows`. `flush_after_s = 0` turns batching off. A write that fails (the database
busy or away) keeps its calls for the next one, tried again after `retry_after_s`; a batch is
dropped, with an error line, only after `WRITE_ATTEMPTS` failed writes in a row, so a passing
database hiccup loses neither the rows nor what they do to the store's connection state.
See docs/resilience.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

import structlog

from ridgeline.db.engine import Database
from ridgeline.health import service as health
from ridgeline.pos import repository

log = structlog.get_logger(__name__)

# Whether the current task's calls may wait in the buffer (set by `PosCallLog.batched`).
_BATCHING: ContextVar[bool] = ContextVar("pos_call_log_batching", default=False)
# Failed writes in a row after which the waiting calls are dropped.
WRITE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One attempt of one call to a store's POS, as the client saw it."""

    organization_id: uuid.UUID
    store_id: uuid.UUID
    vendor: str
    endpoint: str
    method: str
    status: int | None
    outcome: str
    error: str | None
    duration_ms: float
    attempt: int
    at: datetime
    # The stored credentials the call was made with: a refusal marks these (health/).
    credentials: str | None


class PosCallLog:
    def __init__(
        self,
        database: Database,
        *,
        flush_after_s: float,
        max_rows: int,
        retry_after_s: float = 1.0,
    ) -> None:
        self.database = database
        self.flush_after_s = flush_after_s
        self.max_rows = max_rows
        self.retry_after_s = retry_after_s
        self._pending: list[CallRecord] = []
        self._failed_writes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[int]] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """Calls made in the block (by this task) wait in the buffer; what waits is written when
        the block ends, however it ends."""
        token = _BATCHING.set(True)
        try:
            yield
        finally:
            _BATCHING.reset(token)
            await self.flush()

    async def record(self, call: CallRecord) -> None:
        """Adds the call to the log; never raises (the log is for people: failing to write it
        must not change a call's outcome)."""
        self._pending.append(call)
        batching = _BATCHING.get() and self.flush_after_s > 0
        if not batching or len(self._pending) >= self.max_rows:
            await self.flush()
        else:
            self._schedule(self.flush_after_s)

    def _schedule(self, delay_s: float) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(delay_s, self._flush_in_background)

    def _flush_in_background(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self, *, last: bool = False) -> int:
        """Writes every waiting call in one transaction; returns how many were written. When the
        write fails the calls wait again, ahead of newer ones, and a retry is timed; they are
        dropped, with an error log line saying how many, at the `WRITE_ATTEMPTS`-th failure in a
        row or when this is the `last` flush (closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        calls, self._pending = self._pending, []
        if not calls:
            return 0
        try:
            await _write(self.database, calls)
        except Exception as exc:
            self._failed_writes += 1
            if last or self._failed_writes >= WRITE_ATTEMPTS:
                log.exception("pos_call_log_failed", calls=len(calls), attempts=self._failed_writes)
                self._failed_writes = 0
                return 0
            log.warning(
                "pos_call_log_write_retried",
                calls=len(calls),
                attempt=self._failed_writes,
                error=type(exc).__name__,
                retry_after_s=self.retry_after_s,
            )
            self._pending[:0] = calls
            self._schedule(self.retry_after_s)
            return 0
        self._failed_writes = 0
        return len(calls)

    async def aclose(self) -> None:
        """Writes what is waiting (the connector's `aclose`: the end of a process or a job);
        a failure now drops it, as nothing would be left to try again."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        await self.flush(last=True)


async def _write(database: Database, calls: Sequence[CallRecord]) -> None:
    by_store: dict[uuid.UUID, list[CallRecord]] = {}
    for call in calls:
        by_store.setdefault(call.store_id, []).append(call)
    async with database.transaction() as session:
        await repository.insert_calls(
            session,
            [
                {
                    "id": uuid.uuid4(),
                    "organization_id": call.organization_id,
                    "store_id": call.store_id,
                    "vendor": call.vendor,
                    "endpoint": call.endpoint,
                    "method": call.method,
                    "status": call.status,
                    "outcome": call.outcome,
                    "error": call.error,
                    "duration_ms": call.duration_ms,
                    "attempt": call.attempt,
                    "at": call.at,
                }
                for call in calls
            ],
        )
        # The stores' connection state follows their calls, in the same transaction; stores in
        # id order, so that two flushes never lock the same stores in opposite orders.
        for store_id in sorted(by_store):
            await health.observe_calls(
                session,
                store_id,
                [
                    health.ObservedCall(call.outcome, call.status, call.at, call.credentials)
                    for call in by_store[store_id]
                ],
            )
