"""A store's connection state: the causes, the thresholds, the transition table, and the
judgment that turns what Ridgeline observed of a POS into a state (pure: no I/O, no clock).

`judge` reads the signals in a fixed order of precedence, the first that applies wins:

| state | cause | when |
|---|---|---|
| `paused` | `paused_by_operator` | an operator paused the store's POS integration |
| `unconfigured` | `pos_not_configured` | the store has no POS |
| `error` | `credentials_refused` | the POS answered 401/403 to the credentials in use |
| `offline` | `pos_unreachable` | no call has had an answer for `offline_after_s` |
| `error` | `breaker_forced_open` | an operator forced the circuit breaker open |
| `error` | `breaker_open` | the circuit breaker is open or half-open |
| `degraded` | `rate_limited` | 429 answers in the window >= `degraded_rate_limited_calls` |
| `degraded` | `failure_rate` | failed calls / calls in the window >= `degraded_failure_rate` |
| `degraded` | `slow_calls` | share of calls over `slow_call_ms` >= `degraded_slow_call_rate` |
| `degraded` | `sync_failing` | sync runs failed in a row >= `degraded_sync_failures` |
| `connected` | `ok` | none of the above |

A degraded store leaves `degraded` only once the rate that put it there falls below the
threshold's `recovery_ratio` share (hysteresis), so a POS hovering around a threshold does not
flap. The window is the last `window_calls` attempts of the last `window_s` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.models.health import StoreConnectionState

CONNECTED = StoreConnectionState.CONNECTED
DEGRADED = StoreConnectionState.DEGRADED
ERROR = StoreConnectionState.ERROR
OFFLINE = StoreConnectionState.OFFLINE
UNCONFIGURED = StoreConnectionState.UNCONFIGURED
PAUSED = StoreConnectionState.PAUSED
LIVE_STATES = (CONNECTED, DEGRADED, ERROR, OFFLINE)


class HealthCause(StrEnum):
    OK = "ok"
    PAUSED_BY_OPERATOR = "paused_by_operator"
    POS_NOT_CONFIGURED = "pos_not_configured"
    CREDENTIALS_REFUSED = "credentials_refused"
    POS_UNREACHABLE = "pos_unreachable"
    BREAKER_FORCED_OPEN = "breaker_forced_open"
    BREAKER_OPEN = "breaker_open"
    FAILURE_RATE = "failure_rate"
    RATE_LIMITED = "rate_limited"
    SLOW_CALLS = "slow_calls"
    SYNC_FAILING = "sync_failing"


class Trigger(StrEnum):
    """What observed a change: it decides which transitions are allowed."""

    POS_CALL = "pos_call"  # a POS call's outcome was recorded
    BREAKER = "breaker"  # the circuit breaker changed state
    SYNC = "sync"  # a sync run ended
    SWEEP = "sweep"  # time passed (health.sweep): offline threshold, window ageing out
    RECOVERY = "recovery"  # a recovery run's step
    CREDENTIALS = "credentials"  # POS credentials were saved
    OPERATOR = "operator"  # pause or resume


AUTOMATIC = frozenset(
    {
        Trigger.POS_CALL,
        Trigger.BREAKER,
        Trigger.SYNC,
        Trigger.SWEEP,
        Trigger.RECOVERY,
        Trigger.CREDENTIALS,
    }
)


def _table() -> dict[tuple[StoreConnectionState, StoreConnectionState], frozenset[Trigger]]:
    table: dict[tuple[StoreConnectionState, StoreConnectionState], frozenset[Trigger]] = {}
    # What Ridgeline observes moves a live store between the live states (or to a new cause
    # within one); nothing it observes takes a store out of `paused` or `unconfigured`.
    for source in LIVE_STATES:
        for target in LIVE_STATES:
            table[(source, target)] = AUTOMATIC
    # Saving credentials brings a store without a POS to life.
    for target in LIVE_STATES:
        table[(UNCONFIGURED, target)] = frozenset({Trigger.CREDENTIALS})
    # Only an operator pauses and resumes.
    for other in (*LIVE_STATES, UNCONFIGURED):
        table[(other, PAUSED)] = frozenset({Trigger.OPERATOR})
        table[(PAUSED, other)] = frozenset({Trigger.OPERATOR})
    return table


ALLOWED_TRANSITIONS = _table()


class IllegalHealthTransition(RuntimeError):
    def __init__(
        self, from_state: StoreConnectionState, to_state: StoreConnectionState, trigger: Trigger
    ) -> None:
        super().__init__(f"a store cannot go from {from_state} to {to_state} on {trigger}")
        self.from_state = from_state
        self.to_state = to_state
        self.trigger = trigger


def check_transition(
    from_state: StoreConnectionState, to_state: StoreConnectionState, trigger: Trigger
) -> None:
    """Raises `IllegalHealthTransition` unless the table allows it for this trigger."""
    if trigger not in ALLOWED_TRANSITIONS.get((from_state, to_state), frozenset()):
        raise IllegalHealthTransition(from_state, to_state, trigger)


class HealthThresholds(BaseModel):
    """The thresholds of the state machine; every one can be overridden per store
    (`PUT /api/v1/stores/{id}/health/thresholds`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_calls: int = Field(20, ge=1, le=500, description="Attempts judged, newest first.")
    window_s: float = Field(300.0, gt=0, le=86_400, description="Older attempts are ignored.")
    minimum_calls: int = Field(5, ge=1, le=500, description="No rate is judged below this.")
    degraded_failure_rate: float = Field(0.2, gt=0, le=1)
    degraded_rate_limited_calls: int = Field(3, ge=1, le=500)
    slow_call_ms: float = Field(2000.0, gt=0, le=600_000)
    degraded_slow_call_rate: float = Field(0.5, gt=0, le=1)
    degraded_sync_failures: int = Field(3, ge=1, le=1000)
    offline_after_s: float = Field(120.0, gt=0, le=86_400)
    recovery_ratio: float = Field(
        0.5, gt=0, le=1, description="A degraded store recovers below threshold x this."
    )

    @classmethod
    def for_store(cls, overrides: dict[str, Any] | None) -> HealthThresholds:
        return cls.model_validate(overrides or {})


# Outcomes of a `pos_calls` row that say the POS did not serve the call. A 429 has its own
# rule (`rate_limited`): the POS works, it throttles us.
FAILED_OUTCOMES = frozenset(
    {"POS_TIMEOUT", "POS_CONNECTION_FAILED", "POS_SERVER_ERROR", "POS_ERROR"}
)
UNANSWERED_OUTCOMES = frozenset({"POS_TIMEOUT", "POS_CONNECTION_FAILED"})


@dataclass(frozen=True, slots=True)
class CallSample:
    """One recorded attempt (a `pos_calls` row) as the judgment sees it."""

    at: datetime
    outcome: str
    status: int | None
    duration_ms: float


@dataclass(frozen=True, slots=True)
class WindowFigures:
    calls: int
    failed: int
    rate_limited: int
    slow: int
    last_error: str | None

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.calls if self.calls else None

    @property
    def slow_call_rate(self) -> float | None:
        return self.slow / self.calls if self.calls else None

    def as_evidence(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "failed": self.failed,
            "rate_limited": self.rate_limited,
            "slow": self.slow,
            "failure_rate": None if self.failure_rate is None else round(self.failure_rate, 3),
            "slow_call_rate": None
            if self.slow_call_rate is None
            else round(self.slow_call_rate, 3),
            "last_error": self.last_error,
        }


def window_figures(
    calls: Sequence[CallSample], thresholds: HealthThresholds, now: datetime
) -> WindowFigures:
    """The window's counts. Calls the breaker refused (`CIRCUIT_OPEN`) never reached the POS
    and refused credentials have their own rule: neither counts."""
    judged = [
        call
        for call in calls
        if call.outcome not in ("CIRCUIT_OPEN", "POS_AUTH_FAILED")
        and (now - call.at).total_seconds() <= thresholds.window_s
    ][: thresholds.window_calls]
    failed = [call for call in judged if call.outcome in FAILED_OUTCOMES]
    return WindowFigures(
        calls=len(judged),
        failed=len(failed),
        rate_limited=sum(1 for call in judged if call.outcome == "POS_RATE_LIMITED"),
        slow=sum(1 for call in judged if call.duration_ms > thresholds.slow_call_ms),
        last_error=failed[0].outcome if failed else None,
    )


@dataclass(frozen=True, slots=True)
class Signals:
    """Everything the judgment reads, gathered by the service from existing records."""

    configured: bool
    paused: bool
    credentials_refused: bool
    breaker: CircuitState
    window: WindowFigures
    unreachable_since: datetime | None
    sync_failures: int


@dataclass(frozen=True, slots=True)
class Judgment:
    state: StoreConnectionState
    cause: HealthCause
    evidence: dict[str, Any]


def judge(
    signals: Signals,
    thresholds: HealthThresholds,
    now: datetime,
    *,
    current: StoreConnectionState,
    current_cause: str,
) -> Judgment:
    evidence: dict[str, Any] = {
        "breaker": signals.breaker.value,
        "window": signals.window.as_evidence(),
        "unreachable_since": (
            signals.unreachable_since.isoformat() if signals.unreachable_since else None
        ),
        "sync_failures": signals.sync_failures,
    }

    def verdict(state: StoreConnectionState, cause: HealthCause) -> Judgment:
        return Judgment(state, cause, evidence)

    if signals.paused:
        return verdict(PAUSED, HealthCause.PAUSED_BY_OPERATOR)
    if not signals.configured:
        return verdict(UNCONFIGURED, HealthCause.POS_NOT_CONFIGURED)
    if signals.credentials_refused:
        return verdict(ERROR, HealthCause.CREDENTIALS_REFUSED)
    if (
        signals.unreachable_since is not None
        and (now - signals.unreachable_since).total_seconds() >= thresholds.offline_after_s
    ):
        return verdict(OFFLINE, HealthCause.POS_UNREACHABLE)
    if signals.breaker is CircuitState.FORCED_OPEN:
        return verdict(ERROR, HealthCause.BREAKER_FORCED_OPEN)
    if signals.breaker in (CircuitState.OPEN, CircuitState.HALF_OPEN):
        return verdict(ERROR, HealthCause.BREAKER_OPEN)
    degraded = _degraded_cause(signals, thresholds, current is DEGRADED, current_cause)
    if degraded is not None:
        return verdict(DEGRADED, degraded)
    return verdict(CONNECTED, HealthCause.OK)


def _degraded_cause(
    signals: Signals, thresholds: HealthThresholds, degraded_now: bool, current_cause: str
) -> HealthCause | None:
    window = signals.window

    def scale(cause: HealthCause) -> float:
        # Hysteresis: the cause a degraded store is in must fall further to end.
        return thresholds.recovery_ratio if degraded_now and current_cause == cause else 1.0

    cause = HealthCause.RATE_LIMITED
    if window.rate_limited >= max(1, thresholds.degraded_rate_limited_calls * scale(cause)):
        return cause
    if window.calls >= thresholds.minimum_calls:
        assert window.failure_rate is not None
        assert window.slow_call_rate is not None
        cause = HealthCause.FAILURE_RATE
        if window.failure_rate >= thresholds.degraded_failure_rate * scale(cause):
            return cause
        cause = HealthCause.SLOW_CALLS
        if window.slow_call_rate >= thresholds.degraded_slow_call_rate * scale(cause):
            return cause
    if signals.sync_failures >= thresholds.degraded_sync_failures:
        return HealthCause.SYNC_FAILING
    return None


class Ordering(StrEnum):
    """What a kiosk should do with a new order (in `store.status`)."""

    LIVE = "live"  # it goes to the POS at once
    QUEUED = "queued"  # it is accepted and waits in the store's queue for the POS
    PAUSED = "paused"  # the store is paused: new orders are refused (409 STORE_PAUSED)


def ordering_for(state: StoreConnectionState) -> Ordering:
    if state is PAUSED:
        return Ordering.PAUSED
    if state in (CONNECTED, DEGRADED):
        return Ordering.LIVE
    return Ordering.QUEUED
