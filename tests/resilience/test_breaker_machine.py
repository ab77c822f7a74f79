"""The breaker's transition table: only the listed (from, to) pairs happen; the rest raise."""

from __future__ import annotations

import itertools
import uuid
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
