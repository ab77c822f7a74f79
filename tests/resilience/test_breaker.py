"""The circuit breaker per store (reliability.md point 5), state shared through the database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import CircuitState, Store
from ridgeline.resilience import CircuitOpen, Permit
from tests.resilience.factories import (
    CONFIG,
    call,
    calls,
    half_open_breaker,
    load_row,
    make_breaker,
    open_breaker,
    state_of,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


# CLOSED


@pytest.mark.parametrize("first_calls", ["ffff", "FFFF", "fFfF"])
async def test_closed_whatever_the_first_m_minus_1_calls_were(
    database: Database, clock: FakeClock, store_id: uuid.UUID, first_calls: str
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, first_calls)  # M - 1 = 4 calls, all failed (and slow)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.calls_in_window, snapshot.failure_rate) == (CLOSED, 4, None)
    await call(breaker, ok=False)  # the M-th call is the first that can open it
    assert await state_of(breaker) is OPEN


async def test_opens_at_exactly_the_failure_threshold(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "sssff")
    assert await state_of(breaker) is CLOSED  # 2/5 = 40% < 50%
    await call(breaker, ok=False)
    snapshot = await breaker.snapshot()  # 3/6 = 50%
    assert (snapshot.state, snapshot.last_reason, snapshot.failure_rate) == (
        OPEN,
        "failure_rate_exceeded",
        0.5,
    )


async def test_stays_closed_just_below_the_threshold(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "ssssssffff")
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.failure_rate) == (CLOSED, 0.4)


async def test_the_window_holds_only_the_last_n_calls(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "ssssssffff" + "s" * 10)  # the four failures slide out
    snapshot = await breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls) == (10, 0)
    await calls(breaker, "ffff")
    assert await state_of(breaker) is CLOSED  # 4/10 in the window, 8/24 over all
    await call(breaker, ok=False)
    assert await state_of(breaker) is OPEN  # 5/10


async def test_slow_calls_open_it(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    await calls(breaker, "SSssS")  # all succeeded; 3/5 = 60% slower than 1 s
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.failed_calls) == (
        OPEN,
        "slow_call_rate_exceeded",
        0,
    )
    assert snapshot.slow_call_rate == pytest.approx(0.6)


async def test_a_call_exactly_at_the_slow_duration_is_not_slow(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    for _ in range(5):
        await call(breaker, duration_s=CONFIG.slow_call_duration_s)
    assert (await breaker.snapshot()).slow_calls == 0


# OPEN


async def test_open_fails_fast_with_the_store_and_the_retry_time(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    opened_at = clock.now()
    breaker = await open_breaker(database, clock, store_id)
    clock.advance(CONFIG.wait_in_open_s - 0.001)
    with pytest.raises(CircuitOpen) as refused:
        await breaker.acquire()
    assert refused.value.store_id == store_id
    assert refused.value.state is OPEN
    assert refused.value.retry_at == opened_at + timedelta(seconds=CONFIG.wait_in_open_s)
    assert refused.value.code == "CIRCUIT_OPEN"
    assert str(store_id) in repr(refused.value)


async def test_open_fails_fast_without_calling(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await open_breaker(database, clock, store_id)
    reached_pos = 0

    async def pos_call() -> None:
        nonlocal reached_pos
        permit = await breaker.acquire()
        reached_pos += 1
        await permit.record(True, 0.1)

    for _ in range(20):
        with pytest.raises(CircuitOpen):
            await pos_call()
    assert reached_pos == 0
    assert await state_of(breaker) is OPEN  # refused calls are not outcomes


# HALF_OPEN


async def test_after_the_wait_it_half_opens(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    permit = await breaker.acquire()
    assert permit.state is HALF_OPEN
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.probes_issued) == (
        HALF_OPEN,
        "wait_elapsed",
        1,
    )


async def test_half_open_admits_exactly_p_probes(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    results = await asyncio.gather(*(breaker.acquire() for _ in range(10)), return_exceptions=True)
    permits = [r for r in results if isinstance(r, Permit)]
    refused = [r for r in results if isinstance(r, CircuitOpen)]
    assert (len(permits), len(refused)) == (CONFIG.permitted_calls_in_half_open, 7)
    assert {r.state for r in refused} == {HALF_OPEN}
    # The refusals say when half-open will have ended at the latest.
    deadline = (await breaker.snapshot()).half_open_until
    assert {r.retry_at for r in refused} == {deadline}


async def test_probe_p_plus_one_is_refused_even_after_some_probes_succeeded(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    probes = [await breaker.acquire() for _ in range(3)]
    await probes[0].record(True, 0.1)
    with pytest.raises(CircuitOpen):
        await breaker.acquire()


async def test_all_probes_succeeding_closes_it_with_an_empty_window(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    probes = [await breaker.acquire() for _ in range(3)]
    for probe in probes[:2]:
        await probe.record(True, 0.1)
    assert await state_of(breaker) is HALF_OPEN  # not before the last probe
    await probes[2].record(True, 0.1)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.calls_in_window) == (
        CLOSED,
        "probes_succeeded",
        0,
    )
    await calls(breaker, "ffff")  # the window starts again: M calls before it can open
    assert await state_of(breaker) is CLOSED


async def test_probe_failure_reopens_with_backed_off_wait(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    waits = []
    for _ in range(3):
        first, second = await breaker.acquire(), await breaker.acquire()
        await first.record(False, 0.1)
        assert await state_of(breaker) is HALF_OPEN  # 1 of 3 probes: under the 50% threshold
        await second.record(False, 0.1)  # 2 of 3: at or over it whatever the third does
        snapshot = await breaker.snapshot()
        assert (snapshot.state, snapshot.last_reason) == (OPEN, "probe_failed")
        assert snapshot.open_until == clock.now() + timedelta(seconds=snapshot.wait_s)
        waits.append(snapshot.wait_s)
        clock.advance(snapshot.wait_s)
    assert waits == [60.0, 100.0, 100.0]  # x2, then capped at max_wait_in_open_s
    for probe in [await breaker.acquire() for _ in range(3)]:
        await probe.record(True, 0.1)
    await calls(breaker, "fffff")
    assert (await breaker.snapshot()).wait_s == 30.0  # closing reset the backoff


async def test_failed_probes_reaching_the_threshold_reopen_it_while_others_are_in_flight(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    first, second, third = [await breaker.acquire() for _ in range(3)]
    await first.record(False, 0.1)
    await second.record(False, 0.1)
    assert await state_of(breaker) is OPEN
    await third.record(True, 0.1)  # an outcome of the old half-open is dropped
    assert await state_of(breaker) is OPEN


async def test_probes_failing_under_the_threshold_close_it(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    """Resilience4j: the probes' failure rate is held against the same threshold, so one
    sporadic failure among three probes (33% < 50%) does not keep a working POS away."""
    breaker = await half_open_breaker(database, clock, store_id)
    probes = [await breaker.acquire() for _ in range(3)]
    for probe, ok in zip(probes, [False, True, True], strict=True):
        await probe.record(ok, 0.1)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason) == (CLOSED, "probes_succeeded")


async def test_slow_probes_reopen_it(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    probes = [await breaker.acquire() for _ in range(3)]
    for probe, duration in zip(probes, [5.0, 5.0, 0.1], strict=True):
        await probe.record(True, duration)  # 2/3 slow >= 60%
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.wait_s) == (OPEN, "probes_slow", 60.0)


async def test_half_open_times_out_to_open(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    hanging = [await breaker.acquire() for _ in range(3)]
    clock.advance(CONFIG.max_wait_in_half_open_s - 0.001)
    assert await state_of(breaker) is HALF_OPEN
    clock.advance(0.001)
    with pytest.raises(CircuitOpen) as refused:
        await breaker.acquire()
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.wait_s) == (
        OPEN,
        "half_open_timed_out",
        60.0,
    )
    assert refused.value.retry_at == snapshot.open_until
    for probe in hanging:  # they finally answer: too late to count
        await probe.record(True, 25.0)
    assert await state_of(breaker) is OPEN


async def test_half_open_timeout_is_seen_without_any_call(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    await breaker.acquire()
    clock.advance(CONFIG.max_wait_in_half_open_s)
    assert await state_of(breaker) is OPEN  # the operator's view applies due transitions


async def test_half_open_closes_at_its_end_when_every_probe_issued_succeeded(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    """A store with little traffic may send fewer than P probes before half-open ends: if
    all that came succeeded, the POS is back (the breaker does not re-open on silence)."""
    breaker = await half_open_breaker(database, clock, store_id)
    probe = await breaker.acquire()
    await probe.record(True, 0.1)
    clock.advance(CONFIG.max_wait_in_half_open_s)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason) == (CLOSED, "probes_succeeded")
    assert snapshot.wait_s == CONFIG.wait_in_open_s


async def test_half_open_without_any_probe_reopens_with_the_same_wait(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    before = (await breaker.snapshot()).wait_s  # the snapshot makes it half-open
    assert await state_of(breaker) is HALF_OPEN
    clock.advance(CONFIG.max_wait_in_half_open_s)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason, snapshot.wait_s) == (OPEN, "no_probes", before)


async def test_a_slow_lone_probe_at_the_end_of_half_open_reopens(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    probe = await breaker.acquire()
    await probe.record(True, CONFIG.slow_call_duration_s + 1)
    clock.advance(CONFIG.max_wait_in_half_open_s)
    snapshot = await breaker.snapshot()
    assert (snapshot.state, snapshot.last_reason) == (OPEN, "probes_slow")


async def test_a_released_probe_frees_its_slot(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = await half_open_breaker(database, clock, store_id)
    probes = [await breaker.acquire() for _ in range(3)]
    await probes[0].release()
    replacement = await breaker.acquire()
    assert replacement.state is HALF_OPEN
    with pytest.raises(CircuitOpen):
        await breaker.acquire()


# Stale outcomes, permits


async def test_an_outcome_from_before_a_transition_is_dropped(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    slow_call = await breaker.acquire()  # in flight while the breaker opens
    await calls(breaker, "fffff")
    before = await breaker.snapshot()
    await slow_call.record(False, 0.1)
    assert await breaker.snapshot() == before


async def test_a_permit_reports_once(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    permit = await make_breaker(database, clock, store_id).acquire()
    await permit.record(True, 0.1)
    with pytest.raises(RuntimeError, match="once"):
        await permit.record(True, 0.1)
    with pytest.raises(RuntimeError, match="once"):
        await permit.release()


# Snapshot and storage


async def test_snapshot_reports_rates_once_there_are_enough_calls(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    breaker = make_breaker(database, clock, store_id)
    fresh = await breaker.snapshot()
    assert (fresh.state, fresh.calls_in_window, fresh.failure_rate, fresh.state_changed_at) == (
        CLOSED,
        0,
        None,
        None,
    )
    await calls(breaker, "sfSsf")
    snapshot = await breaker.snapshot()
    assert (snapshot.calls_in_window, snapshot.failed_calls, snapshot.slow_calls) == (5, 2, 1)
    assert (snapshot.failure_rate, snapshot.slow_call_rate) == (0.4, 0.2)


async def test_the_breaker_goes_with_its_store(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    await open_breaker(database, clock, store_id)
    async with database.transaction() as session:
        await session.execute(delete(Store).where(Store.id == store_id))
    assert await load_row(database, store_id) is None


async def test_two_handles_in_one_process_share_the_state(
    database: Database, clock: FakeClock, store_id: uuid.UUID
) -> None:
    first = make_breaker(database, clock, store_id)
    second = make_breaker(Database(database.url), clock, store_id)
    try:
        await calls(first, "fffff")
        with pytest.raises(CircuitOpen):
            await second.acquire()
    finally:
        await second.database.dispose()
