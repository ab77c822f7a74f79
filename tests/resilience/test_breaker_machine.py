"""The breaker's transition table: only the listed (from, to) pairs happen; the rest raise."""

from __future__ import annotations

import itertools
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ridgeline.models import CircuitBreakerState, CircuitState
from ridgeline.resilience import ALLOWED_TRANSITIONS, BreakerConfig, IllegalTransition
from ridgeline.resilience import breaker_machine as machine
from ridgeline.resilience.breaker_machine import TransitionReason

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = BreakerConfig()
ALL_PAIRS = list(itertools.product(CircuitState, CircuitState))


def row_in(state: CircuitState) -> CircuitBreakerState:
    row = machine.new_row(uuid.uuid4(), CONFIG, NOW)
    row.state = state
    return row


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [pair for pair in ALL_PAIRS if pair not in ALLOWED_TRANSITIONS],
    ids=lambda s: s.value,
)
def test_a_transition_outside_the_table_raises(
    from_state: CircuitState, to_state: CircuitState
) -> None:
    row = row_in(from_state)
    with pytest.raises(IllegalTransition, match=f"from {from_state} to {to_state}"):
        machine.transition(row, to_state, TransitionReason.RESET, CONFIG, NOW)
    assert (row.state, row.generation) == (from_state, 0)


@pytest.mark.parametrize(
    ("from_state", "to_state"), sorted(ALLOWED_TRANSITIONS), ids=lambda s: s.value
)
def test_a_transition_in_the_table_moves_and_bumps_the_generation(
    from_state: CircuitState, to_state: CircuitState
) -> None:
    row = row_in(from_state)
    change = machine.transition(row, to_state, TransitionReason.RESET, CONFIG, NOW)
    assert (row.state, row.generation, change.from_state, change.to_state) == (
        to_state,
        1,
        from_state,
        to_state,
    )


def test_the_table_never_leaves_forced_open_or_disabled_except_by_an_operator() -> None:
    automatic = {
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
        (CircuitState.HALF_OPEN, CircuitState.OPEN),
    }
    operator_targets = {CircuitState.FORCED_OPEN, CircuitState.DISABLED, CircuitState.CLOSED}
    assert automatic <= ALLOWED_TRANSITIONS
    assert all(to in operator_targets for _, to in ALLOWED_TRANSITIONS - automatic)


def test_operators_cannot_set_automatic_states() -> None:
    for target in (CircuitState.OPEN, CircuitState.HALF_OPEN):
        with pytest.raises(ValueError, match="operators cannot"):
            machine.command(row_in(CircuitState.CLOSED), target, CONFIG, NOW)


def test_config_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="minimum_calls"):
        BreakerConfig(window_size=5, minimum_calls=6)
    with pytest.raises(ValueError, match="thresholds"):
        BreakerConfig(failure_rate_threshold=0)
    with pytest.raises(ValueError, match="max wait"):
        BreakerConfig(wait_in_open_s=60, max_wait_in_open_s=30)


def failures_until_open(row: CircuitBreakerState, config: BreakerConfig) -> int:
    """Failed calls recorded on `row` until it opens."""
    failures = 0
    while row.state is CircuitState.CLOSED:
        failures += 1
        outcome = machine.Outcome.FAILED
        machine.record(row, config, NOW, generation=row.generation, outcome=outcome)
    return failures


def test_a_pos_that_goes_down_opens_the_default_breaker() -> None:
    # From an empty window (a new or just closed breaker): at the M-th failed call.
    assert failures_until_open(row_in(CircuitState.CLOSED), CONFIG) == CONFIG.minimum_calls == 10
    # After a full window of successes: when failures reach T of the last N calls.
    row = row_in(CircuitState.CLOSED)
    for _ in range(CONFIG.window_size):
        machine.record(row, CONFIG, NOW, generation=0, outcome=machine.Outcome.SUCCEEDED)
    assert failures_until_open(row, CONFIG) == 25


def openings_by_random_failures(config: BreakerConfig, failure_rate: float, calls: int) -> int:
    """Openings over `calls` calls failing at random, each followed by a recovery (as if its
    probes succeeded: the window starts empty again)."""
    faults = random.Random(7)
    row = row_in(CircuitState.CLOSED)
    openings = 0
    for _ in range(calls):
        failed = faults.random() < failure_rate
        outcome = machine.Outcome.FAILED if failed else machine.Outcome.SUCCEEDED
        machine.record(row, config, NOW, generation=row.generation, outcome=outcome)
        if row.state is CircuitState.OPEN:
            openings += 1
            machine.command(row, CircuitState.CLOSED, config, NOW)
    return openings


def test_the_default_window_keeps_a_pos_failing_a_fifth_of_calls_closed() -> None:
    # A POS failing 30% of attempts at random fails about 20% of calls (an order submission is
    # not resent after a timeout; the retry budget cuts retries short). Over 20,000 such calls a
    # window of 20 opens again and again; the default window of 50 at most once, in the first
    # M calls of an empty window (5 failures in 10 calls: about 3% at 20%).
    assert openings_by_random_failures(replace(CONFIG, window_size=20), 0.2, 20_000) >= 5
    assert openings_by_random_failures(CONFIG, 0.2, 20_000) <= 1
