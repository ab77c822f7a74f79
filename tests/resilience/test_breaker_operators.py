"""Operators' commands on a store's breaker, and how each transition is published: one log
line, one metric change, one event for the listeners."""

from __future__ import annotations

import uuid

import pytest
import structlog
from prometheus_client import REGISTRY

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import CircuitState
from ridgeline.resilience import CircuitBreakers, CircuitOpen, Transition
from ridgeline.resilience import breaker as breaker_module
from tests.resilience.factories import (
    CONFIG,
    call,
    calls,
    half_open_breaker,
    load_row,
    make_breaker,
    state_of,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, DISABLED = CircuitState.FORCED_OPEN, CircuitState.DISABLED


# Operators


async def test_forced_open_never_changes_by_itself(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    in_flight = await breaker.acquire()
    assert await breaker.force_open(actor="ops@example.com")
    await in_flight.record(False, 0.1)
    for _ in range(3):
        clock.advance(10 * CONFIG.max_wait_in_open_s)
        with pytest.raises(CircuitOpen) as refused:
            await breaker.acquire()
        assert (refused.value.state, refused.value.retry_at) == (FORCED_OPEN, None)
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.last_actor) == (FORCED_OPEN, "ops@example.com")


async def test_disabled_lets_every_call_through_and_records_nothing(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    assert await breaker.disable()
    row_before = await load_row(database, store_id)
    clock.advance(1)
    await calls(breaker, "f" * 30 + "F" * 10)
    row_after = await load_row(database, store_id)
    assert row_before is not None
    assert row_after is not None
    assert row_after.updated_at == row_before.updated_at  # not even touched
    assert (row_after.state, row_after.window, row_after.generation) == (
        DISABLED,
        [],
        row_before.generation,
    )


async def test_disabled_never_changes_by_itself(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    await breaker.disable()
    clock.advance(10 * CONFIG.max_wait_in_open_s)
    await calls(breaker, "fffff")
    assert await state_of(breaker) is DISABLED


@pytest.mark.parametrize("start", [OPEN, HALF_OPEN, FORCED_OPEN, DISABLED, CLOSED])
async def test_reset_closes_it_from_any_state_with_an_empty_window(
    database: Database, clock: FakeClock, store_id: uuid.UUID, start: CircuitState
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "sfff")
    if start is not CLOSED:
        await calls(breaker, "f")
    if start is HALF_OPEN:
        clock.advance(CONFIG.wait_in_open_s)
        await breaker.acquire()
    elif start is FORCED_OPEN:
        await breaker.force_open()
    elif start is DISABLED:
        await breaker.disable()
    assert await state_of(breaker) is start
    assert await breaker.reset() is (start is not CLOSED)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.calls_in_window, snapshot.wait_s) == (CLOSED, 0, 30.0)
    await call(breaker)


async def test_repeating_an_operator_command_changes_nothing(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    assert await breaker.force_open()
    before = await load_row(database, store_id)
    assert not await breaker.force_open()
    after = await load_row(database, store_id)
    assert before is not None
    assert after is not None
    assert (after.state, after.generation) == (before.state, before.generation)


# Publication: one log line, one metric change, one event per transition


def transitions_counted(store_id: uuid.UUID, from_state: str, to_state: str) -> float:
    value = REGISTRY.get_sample_value(
        "ridgeline_pos_circuit_transitions_total",
        {"store_id": str(store_id), "from_state": from_state, "to_state": to_state},
    )
    return value or 0.0


def state_gauge(store_id: uuid.UUID) -> dict[str, float | None]:
    return {
        state.value: REGISTRY.get_sample_value(
            "ridgeline_pos_circuit_state", {"store_id": str(store_id), "state": state.value}
        )
        for state in CircuitState
    }


async def test_each_transition_logs_once_counts_once_and_is_announced_once(
    database: Database, clock: FakeClock, store_id: uuid.UUID, monkeypatch: pytest.MonkeyPatch
) -> None:
    announced: list[Transition] = []
    breaker = make_breaker(database, clock, store_id, listeners=[announced.append])
    with structlog.testing.capture_logs() as logs:
        # A fresh logger: the module's may be cached with the process's configuration.
        monkeypatch.setattr(breaker_module, "log", structlog.get_logger(breaker_module.__name__))
        await calls(breaker, "fffff")  # closed -> open
        clock.advance(CONFIG.wait_in_open_s)
        for probe in [await breaker.acquire() for _ in range(3)]:  # open -> half_open
            await probe.record(True, 0.1)  # half_open -> closed
        await breaker.force_open(actor="ops")  # closed -> forced_open
        await breaker.force_open(actor="ops")  # no change
        await breaker.disable()  # forced_open -> disabled
        await breaker.reset()  # disabled -> closed
        await breaker.reset()  # no change

    expected = [
        ("closed", "open", "failure_rate_exceeded"),
        ("open", "half_open", "wait_elapsed"),
        ("half_open", "closed", "probes_succeeded"),
        ("closed", "forced_open", "forced_open"),
        ("forced_open", "disabled", "disabled"),
        ("disabled", "closed", "reset"),
    ]
    lines = [entry for entry in logs if entry["event"] == "circuit_breaker_transitioned"]
    assert [(e["from"], e["to"], e["reason"]) for e in lines] == expected
    assert {e["store_id"] for e in lines} == {str(store_id)}
    assert [e["log_level"] for e in lines[:3]] == ["warning", "info", "info"]
    assert lines[3]["actor"] == "ops"
    assert [(t.from_state, t.to_state, t.reason) for t in announced] == expected
    assert {t.store_id for t in announced} == {store_id}
    for from_state, to_state, _ in expected:
        assert transitions_counted(store_id, from_state, to_state) == 1.0
    assert transitions_counted(store_id, "open", "closed") == 0.0


async def test_the_state_gauge_follows_the_state(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "fffff")
    assert state_gauge(store_id) == {
        "closed": 0.0,
        "open": 1.0,
        "half_open": 0.0,
        "forced_open": 0.0,
        "disabled": 0.0,
    }
    await breaker.reset()
    assert state_gauge(store_id)["closed"] == 1.0
    assert state_gauge(store_id)["open"] == 0.0


async def test_a_failing_listener_breaks_neither_the_call_nor_the_other_listeners(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    def broken(_: Transition) -> None:
        raise RuntimeError("stream down")

    announced: list[Transition] = []
    breaker = make_breaker(database, clock, store_id, listeners=[broken, announced.append])
    await calls(breaker, "fffff")
    assert [t.to_state for t in announced] == [OPEN]


async def test_listeners_added_to_the_registry_later_are_called(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breakers = CircuitBreakers(database, clock, config=CONFIG)
    breaker = breakers.for_store(store_id)
    assert breakers.for_store(store_id) is breaker
    announced: list[Transition] = []
    breakers.add_listener(announced.append)
    await calls(breaker, "fffff")
    assert [t.to_state for t in announced] == [OPEN]
