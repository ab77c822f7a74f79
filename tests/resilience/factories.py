"""Breakers with small, readable parameters, and one-line calls through them."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ridgeline.clock import Clock, FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import CircuitBreakerState, CircuitState
from ridgeline.resilience import BreakerConfig, CircuitBreaker, TransitionListener

# N=10, M=5, T=50%, slow > 1 s with a 60% slow-call threshold, P=3, waits 30 s -> 60 -> 100.
CONFIG = BreakerConfig(
    window_size=10,
    minimum_calls=5,
    failure_rate_threshold=0.5,
    slow_call_duration_s=1.0,
    slow_call_rate_threshold=0.6,
    wait_in_open_s=30.0,
    wait_multiplier=2.0,
    max_wait_in_open_s=100.0,
    permitted_calls_in_half_open=3,
    max_wait_in_half_open_s=20.0,
)


def make_breaker(
    database: Database,
    clock: Clock,
    store_id: uuid.UUID,
    config: BreakerConfig = CONFIG,
    listeners: list[TransitionListener] | None = None,
) -> CircuitBreaker:
    return CircuitBreaker(store_id, config, database, clock, listeners=listeners or [])


async def call(breaker: CircuitBreaker, *, ok: bool = True, duration_s: float = 0.1) -> None:
    """One call through the breaker (raises CircuitOpen when refused)."""
    permit = await breaker.acquire()
    await permit.record(ok, duration_s)


async def calls(breaker: CircuitBreaker, outcomes: str) -> None:
    """A call per character: `s` succeeded, `f` failed, `S` succeeded slowly, `F` failed
    slowly."""
    for code in outcomes:
        await call(breaker, ok=code in "sS", duration_s=5.0 if code.isupper() else 0.1)


async def load_row(database: Database, store_id: uuid.UUID) -> CircuitBreakerState | None:
    async with database.transaction(write=False) as session:
        return await session.scalar(
            select(CircuitBreakerState).where(CircuitBreakerState.store_id == store_id)
        )


async def state_of(breaker: CircuitBreaker) -> CircuitState:
    return (await breaker.snapshot()).state


async def open_breaker(database: Database, clock: FakeClock, store_id: uuid.UUID) -> CircuitBreaker:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "fffff")
    assert await state_of(breaker) is CircuitState.OPEN
    return breaker


async def half_open_breaker(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> CircuitBreaker:
    breaker = await open_breaker(database, clock, store_id)
    clock.advance(CONFIG.wait_in_open_s)
    return breaker
