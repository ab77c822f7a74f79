"""The circuit breaker's rules, as pure functions over its database row (no I/O, no logging).

`CircuitBreaker` (breaker.py) loads the row under a lock, calls one of `admit`, `record`,
`release` or `command`, commits, and only then publishes the transitions they returned. Keeping
the rules here makes each statement of docs/resilience.md one small branch that is easy to check.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntFlag, StrEnum

from ridgeline.models.circuit_breaker import CircuitBreakerState, CircuitState

CLOSED = CircuitState.CLOSED
OPEN = CircuitState.OPEN
HALF_OPEN = CircuitState.HALF_OPEN
FORCED_OPEN = CircuitState.FORCED_OPEN
DISABLED = CircuitState.DISABLED

# Every transition the breaker may make; anything else is a bug and raises IllegalTransition.
ALLOWED_TRANSITIONS: frozenset[tuple[CircuitState, CircuitState]] = frozenset(
    {
        (CLOSED, OPEN),  # failure or slow-call rate reached its threshold
        (OPEN, HALF_OPEN),  # the wait elapsed
        (HALF_OPEN, CLOSED),  # the probes' failure rate stayed under the threshold
        (HALF_OPEN, OPEN),  # it did not, the probes were too slow, or half-open timed out
        # Operators: force open, disable, or reset to closed, from anywhere else.
        (CLOSED, FORCED_OPEN),
        (OPEN, FORCED_OPEN),
        (HALF_OPEN, FORCED_OPEN),
        (DISABLED, FORCED_OPEN),
        (CLOSED, DISABLED),
        (OPEN, DISABLED),
        (HALF_OPEN, DISABLED),
        (FORCED_OPEN, DISABLED),
        (OPEN, CLOSED),
        (FORCED_OPEN, CLOSED),
        (DISABLED, CLOSED),
    }
)


class IllegalTransition(RuntimeError):
    def __init__(self, from_state: CircuitState, to_state: CircuitState) -> None:
        super().__init__(f"circuit breaker cannot go from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


class TransitionReason(StrEnum):
    FAILURE_RATE_EXCEEDED = "failure_rate_exceeded"
    SLOW_CALL_RATE_EXCEEDED = "slow_call_rate_exceeded"
    WAIT_ELAPSED = "wait_elapsed"
    PROBES_SUCCEEDED = "probes_succeeded"
    PROBE_FAILED = "probe_failed"
    PROBES_SLOW = "probes_slow"
    HALF_OPEN_TIMED_OUT = "half_open_timed_out"
    NO_PROBES = "no_probes"
    FORCED_OPEN = "forced_open"
    DISABLED = "disabled"
    RESET = "reset"


class Outcome(IntFlag):
    """One call's outcome as stored in the window."""

    SUCCEEDED = 0
    FAILED = 1
    SLOW = 2


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Resilience4j's count-based circuit breaker parameters (names follow its docs)."""

    # N: outcomes kept. 50, not 20: a POS failing 30% of attempts at random still fails about
    # 20% of calls (submissions are not resent blind; the retry budget cuts retries short), and
    # 20,000 such calls open a window of 20 twelve times, one of 50 once (docs/resilience.md).
    window_size: int = 50
    minimum_calls: int = 10  # M: no rate is computed below this many
    failure_rate_threshold: float = 0.5  # T: opens when failures / calls >= T
    slow_call_duration_s: float = 5.0  # a call taking longer than this is slow
    slow_call_rate_threshold: float = 1.0  # opens when slow calls / calls >= this
    wait_in_open_s: float = 30.0
    wait_multiplier: float = 2.0  # each failed recovery multiplies the next wait...
    max_wait_in_open_s: float = 300.0  # ...up to this
    permitted_calls_in_half_open: int = 3  # P
    max_wait_in_half_open_s: float = 30.0  # half-open ends (as a failure) after this

    def __post_init__(self) -> None:
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError(f"need 1 <= minimum_calls <= window_size: {self!r}")
        for rate in (self.failure_rate_threshold, self.slow_call_rate_threshold):
            if not 0 < rate <= 1:
                raise ValueError(f"rate thresholds must be in (0, 1]: {self!r}")
        if self.permitted_calls_in_half_open < 1 or self.wait_multiplier < 1:
            raise ValueError(f"need P >= 1 and wait_multiplier >= 1: {self!r}")
        durations = (
            self.slow_call_duration_s,
            self.wait_in_open_s,
            self.max_wait_in_open_s,
            self.max_wait_in_half_open_s,
        )
        if min(durations) <= 0 or self.max_wait_in_open_s < self.wait_in_open_s:
            raise ValueError(f"durations must be > 0 and max wait >= wait: {self!r}")

    @property
    def wait_in_open_ms(self) -> int:
        return round(self.wait_in_open_s * 1000)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, as published to logs, metrics and listeners."""

    store_id: uuid.UUID
    from_state: CircuitState
    to_state: CircuitState
    reason: TransitionReason
    at: datetime
    open_until: datetime | None
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Admission:
    granted: bool
    state: CircuitState  # the state the decision was made in
    generation: int
    retry_at: datetime | None  # when rejected: the earliest time a call may pass (None: unknown)
    transitions: tuple[Transition, ...]


@dataclass(frozen=True, slots=True)
class WindowStats:
    calls: int
    failed: int
    slow: int

    @classmethod
    def of(cls, window: list[int]) -> WindowStats:
        return cls(
            calls=len(window),
            failed=sum(1 for code in window if code & Outcome.FAILED),
            slow=sum(1 for code in window if code & Outcome.SLOW),
        )


def new_row(store_id: uuid.UUID, config: BreakerConfig, now: datetime) -> CircuitBreakerState:
    return CircuitBreakerState(
        store_id=store_id,
        state=CLOSED,
        generation=0,
        window=[],
        state_changed_at=now,
        wait_ms=config.wait_in_open_ms,
        probes_issued=0,
        probes_succeeded=0,
        probes_failed=0,
        probes_slow=0,
        updated_at=now,
    )


def half_open_deadline(row: CircuitBreakerState, config: BreakerConfig) -> datetime | None:
    if row.half_open_started_at is None:
        return None
    return row.half_open_started_at + timedelta(seconds=config.max_wait_in_half_open_s)


def transition(
    row: CircuitBreakerState,
    to_state: CircuitState,
    reason: TransitionReason,
    config: BreakerConfig,
    now: datetime,
    actor: str | None = None,
) -> Transition:
    from_state = row.state
    if (from_state, to_state) not in ALLOWED_TRANSITIONS:
        raise IllegalTransition(from_state, to_state)
    if to_state is OPEN:
        if from_state is HALF_OPEN and reason is not TransitionReason.NO_PROBES:
            # A failed recovery: wait longer before the next one. (No probe at all is no
            # evidence against the POS: the wait stays.)
            backed_off = round(row.wait_ms * config.wait_multiplier)
            row.wait_ms = min(backed_off, round(config.max_wait_in_open_s * 1000))
        else:
            row.wait_ms = config.wait_in_open_ms
        row.opened_at = now
        row.open_until = now + timedelta(milliseconds=row.wait_ms)
    else:
        row.open_until = None
        if to_state is not HALF_OPEN:
            row.opened_at = None
    if to_state is CLOSED:
        row.window = []
        row.wait_ms = config.wait_in_open_ms
    row.half_open_started_at = now if to_state is HALF_OPEN else None
    row.probes_issued = row.probes_succeeded = row.probes_failed = row.probes_slow = 0
    row.state = to_state
    row.generation += 1
    row.state_changed_at = now
    row.last_reason = reason.value
    row.last_actor = actor
    return Transition(row.store_id, from_state, to_state, reason, now, row.open_until, actor)


def advance_time(
    row: CircuitBreakerState, config: BreakerConfig, now: datetime
) -> list[Transition]:
    """The transitions that time alone makes due: OPEN -> HALF_OPEN once the wait elapsed, and
    the end of HALF_OPEN once it lasted `max_wait_in_half_open_s`: CLOSED when every probe
    issued came back well (a store with little traffic may not send P in time), OPEN again
    when one hangs (`half_open_timed_out`, the wait grows), and OPEN with the same wait when no
    call came to probe at all (`no_probes`)."""
    if row.state is OPEN and row.open_until is not None and now >= row.open_until:
        return [transition(row, HALF_OPEN, TransitionReason.WAIT_ELAPSED, config, now)]
    deadline = half_open_deadline(row, config)
    if row.state is HALF_OPEN and deadline is not None and now >= deadline:
        answered = row.probes_succeeded + row.probes_failed
        if row.probes_issued == 0:
            return [transition(row, OPEN, TransitionReason.NO_PROBES, config, now)]
        if answered == row.probes_issued and row.probes_failed == 0:
            if row.probes_slow / answered >= config.slow_call_rate_threshold:
                return [transition(row, OPEN, TransitionReason.PROBES_SLOW, config, now)]
            return [transition(row, CLOSED, TransitionReason.PROBES_SUCCEEDED, config, now)]
        return [transition(row, OPEN, TransitionReason.HALF_OPEN_TIMED_OUT, config, now)]
    return []


def admit(row: CircuitBreakerState, config: BreakerConfig, now: datetime) -> Admission:
    """Whether one call may go to the POS now."""
    transitions = tuple(advance_time(row, config, now))
    state = row.state
    granted = state in (CLOSED, DISABLED)
    retry_at: datetime | None = None
    if state is HALF_OPEN:
        if row.probes_issued < config.permitted_calls_in_half_open:
            row.probes_issued += 1
            granted = True
        else:
            retry_at = half_open_deadline(row, config)
    elif state is OPEN:
        retry_at = row.open_until
    return Admission(granted, state, row.generation, retry_at, transitions)


def classify(config: BreakerConfig, *, success: bool, duration_s: float) -> Outcome:
    outcome = Outcome.SUCCEEDED if success else Outcome.FAILED
    if duration_s > config.slow_call_duration_s:
        outcome |= Outcome.SLOW
    return outcome


def record(
    row: CircuitBreakerState,
    config: BreakerConfig,
    now: datetime,
    *,
    generation: int,
    outcome: Outcome,
) -> list[Transition]:
    """Count one call's outcome. It counts only in the generation its permit was issued in: an
    outcome that arrives after the breaker moved on (a hung probe, a call that outlived the
    window that opened the breaker) is dropped."""
    transitions = advance_time(row, config, now)
    if row.generation != generation:
        return transitions
    if row.state is CLOSED:
        row.window = [*row.window, int(outcome)][-config.window_size :]
        stats = WindowStats.of(row.window)
        if stats.calls >= config.minimum_calls:
            if stats.failed / stats.calls >= config.failure_rate_threshold:
                reason = TransitionReason.FAILURE_RATE_EXCEEDED
                transitions.append(transition(row, OPEN, reason, config, now))
            elif stats.slow / stats.calls >= config.slow_call_rate_threshold:
                reason = TransitionReason.SLOW_CALL_RATE_EXCEEDED
                transitions.append(transition(row, OPEN, reason, config, now))
    elif row.state is HALF_OPEN:
        # As Resilience4j: the P probes' failure rate against the same threshold T. It opens
        # again as soon as the failures alone reach T (the rest cannot bring the rate back).
        probes = config.permitted_calls_in_half_open
        if outcome & Outcome.FAILED:
            row.probes_failed += 1
            if row.probes_failed / probes >= config.failure_rate_threshold:
                reason = TransitionReason.PROBE_FAILED
                transitions.append(transition(row, OPEN, reason, config, now))
                return transitions
        else:
            row.probes_succeeded += 1
        if outcome & Outcome.SLOW:
            row.probes_slow += 1
        if row.probes_succeeded + row.probes_failed >= probes:
            if row.probes_slow / probes >= config.slow_call_rate_threshold:
                reason = TransitionReason.PROBES_SLOW
                transitions.append(transition(row, OPEN, reason, config, now))
            else:
                reason = TransitionReason.PROBES_SUCCEEDED
                transitions.append(transition(row, CLOSED, reason, config, now))
    return transitions


def release(
    row: CircuitBreakerState, config: BreakerConfig, now: datetime, *, generation: int
) -> list[Transition]:
    """Give back a permit whose call never reached the POS (or whose outcome says nothing about
    it): a half-open probe slot becomes free again."""
    transitions = advance_time(row, config, now)
    if row.generation == generation and row.state is HALF_OPEN and row.probes_issued > 0:
        row.probes_issued -= 1
    return transitions


OPERATOR_REASONS = {
    FORCED_OPEN: TransitionReason.FORCED_OPEN,
    DISABLED: TransitionReason.DISABLED,
    CLOSED: TransitionReason.RESET,
}


def command(
    row: CircuitBreakerState,
    target: CircuitState,
    config: BreakerConfig,
    now: datetime,
    actor: str | None = None,
) -> list[Transition]:
    """An operator's force-open, disable or reset. Repeating the current state changes nothing
    (a reset of a closed breaker still empties its window)."""
    if target not in OPERATOR_REASONS:
        raise ValueError(f"operators cannot set a breaker to {target}")
    if row.state is target:
        if target is CLOSED:
            row.window = []
        return []
    return [transition(row, target, OPERATOR_REASONS[target], config, now, actor)]
