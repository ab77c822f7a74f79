"""The subscription's delivery state machine: every allowed transition, and nothing else."""

from __future__ import annotations

import itertools
import uuid

import pytest

from ridgeline.auth.principal import KioskPrincipal
from ridgeline.clock import FakeClock
from ridgeline.realtime.channels import STORE_CHANNEL, Grant
from ridgeline.realtime.connection import Connection
from ridgeline.realtime.protocol import PROTOCOL_EXT
from ridgeline.realtime.streams import store_stream
from ridgeline.realtime.subscription import (
    ALLOWED,
    IllegalTransition,
    Subscription,
    SubscriptionState,
)

STATES = list(SubscriptionState)
ALLOWED_MOVES = [
    (from_state, to_state)
    for from_state, targets in ALLOWED.items()
    if from_state is not None
    for to_state in sorted(targets)
]
ILLEGAL_MOVES = [
    (from_state, to_state)
    for from_state, to_state in itertools.permutations(STATES, 2)
    if to_state not in ALLOWED[from_state]
]


async def _never(*_: object) -> None:
    raise AssertionError("a state change sends nothing")


def make_subscription(state: SubscriptionState, clock: FakeClock) -> Subscription:
    store_id = uuid.uuid4()
    principal = KioskPrincipal(
        kiosk_id=uuid.uuid4(), store_id=store_id, organization_id=uuid.uuid4(), key_id=uuid.uuid4()
    )
    connection = Connection(
        principal=principal, protocol_name=PROTOCOL_EXT, send=_never, close=_never, queue_max=8
    )
    grant = Grant(STORE_CHANNEL, store_stream(store_id))
    identifier = f'{{"channel":"StoreChannel","store_id":"{store_id}"}}'
    return Subscription(connection, identifier, grant, "e0", 7, state=state, clock=clock)


def test_the_table_names_every_state() -> None:
    assert set(ALLOWED) == {None, *STATES}
    assert ALLOWED[None] == set(STATES)  # a subscription may start in any of them


@pytest.mark.parametrize("state", STATES)
def test_a_subscription_starts_in_its_state_at_the_clocks_time(state: SubscriptionState) -> None:
    clock = FakeClock()
    subscription = make_subscription(state, clock)
    assert subscription.state is state
    assert subscription.state_changed_at == clock.now()


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED_MOVES)
def test_every_allowed_transition(
    from_state: SubscriptionState, to_state: SubscriptionState
) -> None:
    clock = FakeClock()
    subscription = make_subscription(from_state, clock)
    clock.advance(3)
    subscription.move(to_state)
    assert subscription.state is to_state
    assert subscription.state_changed_at == clock.now()


def test_the_allowed_transitions_are_the_ones_the_hub_makes() -> None:
    awaiting, catching_up, live = (
        SubscriptionState.AWAITING_HISTORY,
        SubscriptionState.CATCHING_UP,
        SubscriptionState.LIVE,
    )
    assert set(ALLOWED_MOVES) == {
        (awaiting, catching_up),  # history asked for, or the wait for it ran out
        (catching_up, live),  # reached the feed, or the history was refused or lost
        (live, catching_up),  # a history command, or a gap in the feed
    }


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL_MOVES)
def test_any_other_transition_raises_and_changes_nothing(
    from_state: SubscriptionState, to_state: SubscriptionState
) -> None:
    clock = FakeClock()
    subscription = make_subscription(from_state, clock)
    started = subscription.state_changed_at
    clock.advance(3)
    with pytest.raises(IllegalTransition) as raised:
        subscription.move(to_state)
    assert (raised.value.from_state, raised.value.to_state) == (from_state, to_state)
    assert str(raised.value) == f"a subscription cannot go from {from_state} to {to_state}"
    assert subscription.state is from_state
    assert subscription.state_changed_at == started


@pytest.mark.parametrize("state", STATES)
def test_moving_to_the_current_state_changes_nothing(state: SubscriptionState) -> None:
    """Two catch-ups of one subscription may overlap; the second to finish finds it live."""
    clock = FakeClock()
    subscription = make_subscription(state, clock)
    started = subscription.state_changed_at
    clock.advance(3)
    subscription.move(state)
    assert subscription.state is state
    assert subscription.state_changed_at == started
