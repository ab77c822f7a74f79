"""The store connection state machine's rules (health/state.py): the judgment's precedence,
its thresholds and hysteresis, and the transition table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ridgeline.health.state import (
    ALLOWED_TRANSITIONS,
    AUTOMATIC,
    CallSample,
    HealthCause,
    HealthThresholds,
    IllegalHealthTransition,
    Ordering,
    Signals,
    Trigger,
    check_transition,
    judge,
    ordering_for,
    window_figures,
)
from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.models.health import StoreConnectionState as S

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
T = HealthThresholds()


def calls(*outcomes: str, duration_ms: float = 50.0, age_s: float = 1.0) -> list[CallSample]:
    """Newest first, one second apart."""
    return [
        CallSample(
            at=NOW - timedelta(seconds=age_s + index),
            outcome=outcome,
            status=None if outcome in ("POS_TIMEOUT", "POS_CONNECTION_FAILED") else 200,
            duration_ms=duration_ms,
        )
        for index, outcome in enumerate(outcomes)
    ]


def signals(samples: list[CallSample] | None = None, **changes: object) -> Signals:
    base = Signals(
        configured=True,
        paused=False,
        credentials_refused=False,
        breaker=CircuitState.CLOSED,
        window=window_figures(samples or [], T, NOW),
        unreachable_since=None,
        sync_failures=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def verdict(given: Signals, current: S = S.CONNECTED, cause: str = "ok") -> tuple[S, HealthCause]:
    judgment = judge(given, T, NOW, current=current, current_cause=cause)
    return judgment.state, judgment.cause


def test_calls_that_succeed_are_connected() -> None:
    assert verdict(signals(calls(*["success"] * 20))) == (S.CONNECTED, HealthCause.OK)


def test_precedence_paused_then_unconfigured_then_credentials_then_offline_then_breaker() -> None:
    # Everything wrong at once; fixing the winning signal each time shows the next in line.
    worst = signals(
        calls(*["POS_TIMEOUT"] * 20),
        paused=True,
        configured=False,
        credentials_refused=True,
        breaker=CircuitState.OPEN,
        unreachable_since=NOW - timedelta(seconds=600),
    )
    steps = [
        (worst, (S.PAUSED, HealthCause.PAUSED_BY_OPERATOR)),
        (replace(worst, paused=False), (S.UNCONFIGURED, HealthCause.POS_NOT_CONFIGURED)),
    ]
    configured = replace(worst, paused=False, configured=True)
    steps.append((configured, (S.ERROR, HealthCause.CREDENTIALS_REFUSED)))
    accepted = replace(configured, credentials_refused=False)
    steps.append((accepted, (S.OFFLINE, HealthCause.POS_UNREACHABLE)))
    reached = replace(accepted, unreachable_since=None)
    steps.append((reached, (S.ERROR, HealthCause.BREAKER_OPEN)))
    steps.append(
        (replace(reached, breaker=CircuitState.CLOSED), (S.DEGRADED, HealthCause.FAILURE_RATE))
    )
    assert [verdict(given) for given, _ in steps] == [expected for _, expected in steps]


def test_offline_only_once_unreachable_for_the_threshold() -> None:
    almost = signals(unreachable_since=NOW - timedelta(seconds=T.offline_after_s - 1))
    assert verdict(almost) == (S.CONNECTED, HealthCause.OK)
    past = signals(unreachable_since=NOW - timedelta(seconds=T.offline_after_s))
    assert verdict(past) == (S.OFFLINE, HealthCause.POS_UNREACHABLE)


@pytest.mark.parametrize(
    ("breaker", "cause"),
    [
        (CircuitState.OPEN, HealthCause.BREAKER_OPEN),
        (CircuitState.HALF_OPEN, HealthCause.BREAKER_OPEN),
        (CircuitState.FORCED_OPEN, HealthCause.BREAKER_FORCED_OPEN),
    ],
)
def test_an_open_breaker_is_error(breaker: CircuitState, cause: HealthCause) -> None:
    assert verdict(signals(breaker=breaker)) == (S.ERROR, cause)


def test_a_disabled_breaker_is_judged_by_the_calls() -> None:
    assert verdict(signals(breaker=CircuitState.DISABLED)) == (S.CONNECTED, HealthCause.OK)


def test_failure_rate_degrades_from_its_threshold_and_needs_minimum_calls() -> None:
    # 4 of 20 failed = 0.2: the threshold.
    assert verdict(signals(calls(*["POS_SERVER_ERROR"] * 4, *["success"] * 16)))[0] is S.DEGRADED
    assert verdict(signals(calls(*["POS_SERVER_ERROR"] * 3, *["success"] * 17)))[0] is S.CONNECTED
    # Four failures alone: under minimum_calls (5), no rate is judged.
    assert verdict(signals(calls(*["POS_SERVER_ERROR"] * 4)))[0] is S.CONNECTED


def test_a_degraded_store_recovers_only_below_half_the_threshold() -> None:
    # 3 of 20 = 0.15: under 0.2 (would not degrade a connected store), over 0.1 (stays).
    hovering = signals(calls(*["POS_SERVER_ERROR"] * 3, *["success"] * 17))
    assert verdict(hovering, S.DEGRADED, "failure_rate") == (S.DEGRADED, HealthCause.FAILURE_RATE)
    assert verdict(hovering, S.CONNECTED, "ok") == (S.CONNECTED, HealthCause.OK)
    calm = signals(calls(*["POS_SERVER_ERROR"] * 1, *["success"] * 19))
    assert verdict(calm, S.DEGRADED, "failure_rate") == (S.CONNECTED, HealthCause.OK)


def test_rate_limiting_slow_calls_and_failing_syncs_degrade() -> None:
    limited = signals(calls(*["POS_RATE_LIMITED"] * 3, *["success"] * 17))
    assert verdict(limited) == (S.DEGRADED, HealthCause.RATE_LIMITED)
    slow = signals(calls(*["success"] * 10, duration_ms=T.slow_call_ms + 1))
    assert verdict(slow) == (S.DEGRADED, HealthCause.SLOW_CALLS)
    failing = signals(calls(*["success"] * 10), sync_failures=T.degraded_sync_failures)
    assert verdict(failing) == (S.DEGRADED, HealthCause.SYNC_FAILING)


def test_the_window_ignores_old_calls_refused_calls_and_credential_refusals() -> None:
    old = calls(*["POS_SERVER_ERROR"] * 10, age_s=T.window_s + 1)
    refused = calls(*["CIRCUIT_OPEN"] * 10, *["POS_AUTH_FAILED"] * 5)
    figures = window_figures([*refused, *old], T, NOW)
    assert (figures.calls, figures.failed) == (0, 0)
    assert window_figures(calls(*["success"] * 50), T, NOW).calls == T.window_calls


def test_thresholds_validate_and_take_overrides() -> None:
    assert HealthThresholds.for_store({"offline_after_s": 30}).offline_after_s == 30
    with pytest.raises(ValueError, match="offline_after_s"):
        HealthThresholds.for_store({"offline_after_s": -1})
    with pytest.raises(ValueError, match="Extra inputs"):
        HealthThresholds.for_store({"ofline_after_s": 30})


def test_observation_moves_live_states_but_never_leaves_paused_or_unconfigured() -> None:
    live = (S.CONNECTED, S.DEGRADED, S.ERROR, S.OFFLINE)
    for source in live:
        for target in live:
            for trigger in AUTOMATIC:
                check_transition(source, target, trigger)
    for trigger in AUTOMATIC:
        with pytest.raises(IllegalHealthTransition):
            check_transition(S.PAUSED, S.CONNECTED, trigger)
        with pytest.raises(IllegalHealthTransition):
            check_transition(S.CONNECTED, S.PAUSED, trigger)
    check_transition(S.UNCONFIGURED, S.CONNECTED, Trigger.CREDENTIALS)
    with pytest.raises(IllegalHealthTransition):
        check_transition(S.UNCONFIGURED, S.CONNECTED, Trigger.SWEEP)
    for other in (*live, S.UNCONFIGURED):
        check_transition(other, S.PAUSED, Trigger.OPERATOR)
        check_transition(S.PAUSED, other, Trigger.OPERATOR)
    with pytest.raises(IllegalHealthTransition):
        check_transition(S.CONNECTED, S.DEGRADED, Trigger.OPERATOR)
    assert (S.CONNECTED, S.UNCONFIGURED) not in ALLOWED_TRANSITIONS


def test_ordering_follows_the_state() -> None:
    assert ordering_for(S.CONNECTED) is Ordering.LIVE
    assert ordering_for(S.DEGRADED) is Ordering.LIVE
    for queued in (S.ERROR, S.OFFLINE, S.UNCONFIGURED):
        assert ordering_for(queued) is Ordering.QUEUED
    assert ordering_for(S.PAUSED) is Ordering.PAUSED
