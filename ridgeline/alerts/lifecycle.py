"""An alert's states and the one table of moves between them (reliability.md points 16-18).

    pending ──> firing ──> acknowledged ──> resolved
       │          │                            │
       └──────────┴──────> resolved <──────────┘ (flap: back to firing)

`pending`: a rule saw its condition but its `for` has not elapsed (nobody is told yet).
`firing`: people are told and escalation runs. `acknowledged`: a person took it; escalation
stops. `resolved`: the condition cleared (or an operator said so). A resolved alert whose
condition comes back within `FLAP_WINDOW` fires again as the same alert instead of a new one,
so a flapping POS is one alert with a timeline, not one per flap.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertMove(StrEnum):
    """Why an alert changed state."""

    FOR_ELAPSED = "for_elapsed"  # pending long enough: fire
    CLEARED = "cleared"  # the condition went away by itself
    ACKNOWLEDGED = "acknowledged"  # an operator took it
    RESOLVED_BY_OPERATOR = "resolved_by_operator"
    FLAPPED = "flapped"  # resolved, then seen again within the flap window


PENDING = AlertState.PENDING
FIRING = AlertState.FIRING
ACKNOWLEDGED = AlertState.ACKNOWLEDGED
RESOLVED = AlertState.RESOLVED

ALLOWED_MOVES: dict[tuple[AlertState, AlertState], frozenset[AlertMove]] = {
    (PENDING, FIRING): frozenset({AlertMove.FOR_ELAPSED}),
    (PENDING, RESOLVED): frozenset({AlertMove.CLEARED, AlertMove.RESOLVED_BY_OPERATOR}),
    (FIRING, ACKNOWLEDGED): frozenset({AlertMove.ACKNOWLEDGED}),
    (FIRING, RESOLVED): frozenset({AlertMove.CLEARED, AlertMove.RESOLVED_BY_OPERATOR}),
    (ACKNOWLEDGED, RESOLVED): frozenset({AlertMove.CLEARED, AlertMove.RESOLVED_BY_OPERATOR}),
    (RESOLVED, FIRING): frozenset({AlertMove.FLAPPED}),
}

OPEN_STATES = frozenset({PENDING, FIRING, ACKNOWLEDGED})
# A condition back within this long after its alert resolved reopens that alert.
FLAP_WINDOW = timedelta(minutes=10)


class IllegalAlertMove(RuntimeError):
    def __init__(self, from_state: AlertState, to_state: AlertState, move: AlertMove) -> None:
        super().__init__(f"an alert cannot go from {from_state} to {to_state} ({move})")
        self.from_state = from_state
        self.to_state = to_state
        self.move = move


def check_move(from_state: AlertState, to_state: AlertState, move: AlertMove) -> None:
    if move not in ALLOWED_MOVES.get((from_state, to_state), frozenset()):
        raise IllegalAlertMove(from_state, to_state, move)
