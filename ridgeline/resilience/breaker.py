"""A store's circuit breaker, shared by every process through its `circuit_breakers` row.

    breaker = CircuitBreaker(store_id, BreakerConfig(), database, clock)
    permit = await breaker.acquire()          # raises CircuitOpen: do not call, fall back
    ...one attempt at the POS...
    await permit.record(success, duration_s)  # or permit.release() if the call never happened

The rules are in `breaker_machine`; this module runs them in short transactions and publishes
what changed. Deciding anything that can race (a half-open probe slot, an outcome, a command)
takes the row lock: `SELECT ... FOR UPDATE` on PostgreSQL, the write lock that `BEGIN IMMEDIATE`
takes on SQLite. So two processes never both get probe P+1, and each transition is made, logged,
counted and announced by exactly one process. A CLOSED or DISABLED breaker admits calls after a
plain read, without the lock: the only cost of reading a state that is changing at that instant
is one more call in flight, which a breaker allows anyway.

The breaker commits its own transactions (its state must be visible to other processes at once,
whatever becomes of the caller's unit of work); on SQLite, never call it while holding a write
transaction, or the two wait for each other until the busy timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.models.circuit_breaker import CircuitBreakerState, CircuitState
from ridgeline.resilience import breaker_machine as machine
from ridgeline.resilience import repository
from ridgeline.resilience.breaker_machine import Admission, BreakerConfig, Transition, WindowStats
from ridgeline.resilience.metrics import CIRCUIT_REJECTIONS, CIRCUIT_STATE, CIRCUIT_TRANSITIONS

log = structlog.get_logger(__name__)

R = TypeVar("R")
TransitionListener = Callable[[Transition], None]
# Called inside the transaction that makes the transition, so that what it writes (the event on
# the operators' stream) commits together with the new state or not at all.
TransitionJournal = Callable[[AsyncSession, Transition], Awaitable[None]]


class CircuitOpen(Exception):
    """The breaker refused the call: it never reached the POS. Fall back (cached catalog,
    queued order) and try again after `retry_at` (None: not before an operator acts)."""

    code = "CIRCUIT_OPEN"

    def __init__(self, store_id: uuid.UUID, state: CircuitState, retry_at: datetime | None) -> None:
        when = f"; retry after {retry_at.isoformat()}" if retry_at else ""
        super().__init__(f"circuit breaker of store {store_id} is {state}{when}")
        self.store_id = store_id
        self.state = state
        self.retry_at = retry_at

    def __repr__(self) -> str:
        return (
            f"CircuitOpen(store_id={self.store_id!s}, state={self.state!s}, "
            f"retry_at={self.retry_at!r})"
        )


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """What operators see (GET /stores/{id}/pos). Rates are None below `minimum_calls`."""

    store_id: uuid.UUID
    state: CircuitState
    calls_in_window: int
    failed_calls: int
    slow_calls: int
    failure_rate: float | None
    slow_call_rate: float | None
    open_until: datetime | None
    wait_s: float
    half_open_until: datetime | None
    probes_issued: int
    probes_succeeded: int
    state_changed_at: datetime | None
    last_reason: str | None
    last_actor: str | None


class Permit:
    """Leave to make one call. Report it exactly once: `record` its outcome, or `release` it if
    the call never reached the POS (cancelled before sending, a bug on our side)."""

    __slots__ = ("_done", "breaker", "generation", "state")

    def __init__(self, breaker: CircuitBreaker, state: CircuitState, generation: int) -> None:
        self.breaker = breaker
        self.state = state
        self.generation = generation
        self._done = False

    def _finish(self) -> None:
        if self._done:
            raise RuntimeError("a permit is recorded or released once")
        self._done = True

    async def record(self, success: bool, duration_s: float) -> None:
        self._finish()
        if self.state is CircuitState.DISABLED:
            return  # a disabled breaker records nothing
        outcome = machine.classify(self.breaker.config, success=success, duration_s=duration_s)
        await self.breaker._update(
            lambda row, now: (
                None,
                machine.record(
                    row, self.breaker.config, now, generation=self.generation, outcome=outcome
                ),
            )
        )

    async def release(self) -> None:
        self._finish()
        if self.state is not CircuitState.HALF_OPEN:
            return  # only a probe slot is worth giving back
        await self.breaker._update(
            lambda row, now: (
                None,
                machine.release(row, self.breaker.config, now, generation=self.generation),
            )
        )

    def __repr__(self) -> str:
        return (
            f"Permit(store_id={self.breaker.store_id!s}, state={self.state!s}, "
            f"generation={self.generation})"
        )


class CircuitBreaker:
    def __init__(
        self,
        store_id: uuid.UUID,
        config: BreakerConfig,
        database: Database,
        clock: Clock,
        *,
        listeners: Sequence[TransitionListener] = (),
        journal: TransitionJournal | None = None,
    ) -> None:
        self.store_id = store_id
        self.config = config
        self.database = database
        self.clock = clock
        self.journal = journal
        # Kept by reference: listeners added to a shared list later are called too.
        self.listeners = listeners

    async def acquire(self) -> Permit:
        """A permit for one call, or `CircuitOpen` when the breaker refuses it."""
        row = await self._read()
        now = self.clock.now()
        if row is None:
            return Permit(self, CircuitState.CLOSED, 0)
        self._observe(row.state)
        if row.state in (CircuitState.CLOSED, CircuitState.DISABLED):
            return Permit(self, row.state, row.generation)
        if row.state is CircuitState.FORCED_OPEN:
            raise self._rejected(row.state, None)
        if row.state is CircuitState.OPEN and row.open_until and now < row.open_until:
            raise self._rejected(row.state, row.open_until)

        def admit(row: CircuitBreakerState, now: datetime) -> tuple[Admission, list[Transition]]:
            admission = machine.admit(row, self.config, now)
            return admission, list(admission.transitions)

        admission = await self._update(admit)
        if not admission.granted:
            raise self._rejected(admission.state, admission.retry_at)
        return Permit(self, admission.state, admission.generation)

    async def force_open(self, *, actor: str | None = None) -> bool:
        """Stop every call until an operator resets it. False when it already was."""
        return await self._command(CircuitState.FORCED_OPEN, actor)

    async def disable(self, *, actor: str | None = None) -> bool:
        """Let every call through, recording nothing, until an operator resets it."""
        return await self._command(CircuitState.DISABLED, actor)

    async def reset(self, *, actor: str | None = None) -> bool:
        """Back to CLOSED with an empty window, from any state."""
        return await self._command(CircuitState.CLOSED, actor)

    async def snapshot(self) -> BreakerSnapshot:
        """The breaker as it stands, after any transition that time has made due."""
        row = await self._read()
        if row is None:  # never used: a fresh CLOSED breaker
            fresh = machine.new_row(self.store_id, self.config, self.clock.now())
            return replace(self._snapshot_of(fresh), state_changed_at=None)
        if self._time_transition_due(row):
            row = await self._update(
                lambda row, now: (row, machine.advance_time(row, self.config, now))
            )
        return self._snapshot_of(row)

    async def _command(self, target: CircuitState, actor: str | None) -> bool:

        def apply(row: CircuitBreakerState, now: datetime) -> tuple[bool, list[Transition]]:
            changes = machine.command(row, target, self.config, now, actor)
            return bool(changes), changes

        return await self._update(apply)

    def _time_transition_due(self, row: CircuitBreakerState) -> bool:
        now = self.clock.now()
        if row.state is CircuitState.OPEN:
            return row.open_until is not None and now >= row.open_until
        deadline = machine.half_open_deadline(row, self.config)
        return row.state is CircuitState.HALF_OPEN and deadline is not None and now >= deadline

    def _snapshot_of(self, row: CircuitBreakerState) -> BreakerSnapshot:
        stats = WindowStats.of(row.window)
        rated = stats.calls >= self.config.minimum_calls
        return BreakerSnapshot(
            store_id=self.store_id,
            state=row.state,
            calls_in_window=stats.calls,
            failed_calls=stats.failed,
            slow_calls=stats.slow,
            failure_rate=stats.failed / stats.calls if rated else None,
            slow_call_rate=stats.slow / stats.calls if rated else None,
            open_until=row.open_until,
            wait_s=row.wait_ms / 1000,
            half_open_until=machine.half_open_deadline(row, self.config),
            probes_issued=row.probes_issued,
            probes_succeeded=row.probes_succeeded,
            state_changed_at=row.state_changed_at,
            last_reason=row.last_reason,
            last_actor=row.last_actor,
        )

    def _rejected(self, state: CircuitState, retry_at: datetime | None) -> CircuitOpen:
        CIRCUIT_REJECTIONS.labels(str(self.store_id), state.value).inc()
        return CircuitOpen(self.store_id, state, retry_at)

    async def _read(self) -> CircuitBreakerState | None:
        async with self.database.transaction(write=False) as session:
            return await repository.breaker_state(session, self.store_id)

    async def _update(
        self,
        apply: Callable[[CircuitBreakerState, datetime], tuple[R, list[Transition]]],
    ) -> R:
        """Run `apply` on the locked row in one short transaction, then publish its
        transitions (only once they are committed)."""
        async with self.database.transaction() as session:
            row = await self._lock(session)
            now = self.clock.now()
            result, transitions = apply(row, now)
            row.updated_at = now
            state = row.state
            if self.journal is not None:
                for change in transitions:
                    await self.journal(session, change)
        self._observe(state)
        for change in transitions:
            self._publish(change)
        return result

    async def _lock(self, session: AsyncSession) -> CircuitBreakerState:
        row = await repository.locked_breaker(session, self.store_id)
        if row is not None:
            return row
        # First use: create the row, tolerating another process creating it at the same time
        # (PostgreSQL; on SQLite the write lock already serializes us).
        fresh = machine.new_row(self.store_id, self.config, self.clock.now())
        return await repository.create_breaker(session, fresh)

    def _observe(self, state: CircuitState) -> None:
        store = str(self.store_id)
        for each in CircuitState:
            CIRCUIT_STATE.labels(store, each.value).set(1 if each is state else 0)

    def _publish(self, change: Transition) -> None:
        opening = change.to_state in (CircuitState.OPEN, CircuitState.FORCED_OPEN)
        (log.warning if opening else log.info)(
            "circuit_breaker_transitioned",
            store_id=str(change.store_id),
            reason=change.reason.value,
            open_until=change.open_until.isoformat() if change.open_until else None,
            actor=change.actor,
            **{"from": change.from_state.value, "to": change.to_state.value},
        )
        CIRCUIT_TRANSITIONS.labels(
            str(change.store_id), change.from_state.value, change.to_state.value
        ).inc()
        for listener in self.listeners:
            try:
                listener(change)
            except Exception:
                # A broken subscriber must not break POS calls or hide the transition.
                log.exception("circuit_breaker_listener_failed", store_id=str(change.store_id))


class CircuitBreakers:
    """The breakers of this process, one per store, sharing a config and the listeners (the
    operators' event stream subscribes here)."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        config: BreakerConfig | None = None,
        journal: TransitionJournal | None = None,
    ) -> None:
        self.database = database
        self.clock = clock
        self.config = config or BreakerConfig()
        self.journal = journal
        self.listeners: list[TransitionListener] = []
        self._breakers: dict[uuid.UUID, CircuitBreaker] = {}

    def add_listener(self, listener: TransitionListener) -> None:
        self.listeners.append(listener)

    def for_store(self, store_id: uuid.UUID, config: BreakerConfig | None = None) -> CircuitBreaker:
        """The store's breaker; `config` (the store's own settings) replaces the default. Every
        process must use the same config for a store, since they share its state."""
        wanted = config or self.config
        breaker = self._breakers.get(store_id)
        if breaker is None or breaker.config != wanted:
            breaker = CircuitBreaker(
                store_id,
                wanted,
                self.database,
                self.clock,
                listeners=self.listeners,
                journal=self.journal,
            )
            self._breakers[store_id] = breaker
        return breaker
