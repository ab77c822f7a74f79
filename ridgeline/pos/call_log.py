"""The POS call log (`pos_calls`), written in batches where an operation asks for it.

Each attempt the resilient client makes is recorded here, with what it does to the store's
connection state (health/), in the same transaction. A call made inside `batched()` (a sync's
fetch: one call per page) waits in this process's buffer; the buffer is written in one
transaction when the block ends, when its oldest call has waited `flush_after_s`, when
`max_rows` wait, and when the connector closes (`aclose`). Any other call is written as it is
made, with whatever is waiting: an operator's test, a recovery probe or an order see their own
calls at once. A crash loses at most what was waiting: `flush_after_s` worth of calls, never
more than `max_rows`. `flush_after_s = 0` turns batching off. See docs/resilience.md.
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
    def __init__(self, database: Database, *, flush_after_s: float, max_rows: int) -> None:
        self.database = database
        self.flush_after_s = flush_after_s
        self.max_rows = max_rows
        self._pending: list[CallRecord] = []
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
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.flush_after_s, self._flush_in_background)

    def _flush_in_background(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def flush(self) -> int:
        """Writes every waiting call in one transaction; returns how many were written (0 when
        the write failed: those rows are dropped, with an error log line saying how many)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        calls, self._pending = self._pending, []
        if not calls:
            return 0
        try:
            await _write(self.database, calls)
        except Exception:
            log.exception("pos_call_log_failed", calls=len(calls))
            return 0
        return len(calls)

    async def aclose(self) -> None:
        """Writes what is waiting (the connector's `aclose`: the end of a process or a job)."""
        if self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)
        await self.flush()


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
