"""One client's subscription to one stream, and the state machine of its delivery.

A subscription is in one of three states:

- `awaiting_history`: restored with a session, paused at the offset the session recorded until
  the client sends `history` (or the hub stops waiting for it);
- `catching_up`: reading what it misses from the database (a history replay, a restored
  session, a gap in the feed); the feed's live messages are left to that read;
- `live`: delivering the feed's messages as they come.

Every change goes through `Subscription.move`, which checks it against `ALLOWED` and records when
it happened with the injected clock.
"""

from __future__ import annotations

import functools
import sys
from datetime import datetime
from enum import StrEnum

from ridgeline.clock import Clock
from ridgeline.realtime import protocol
from ridgeline.realtime.channels import Grant
from ridgeline.realtime.connection import Connection
from ridgeline.realtime.streams import StreamEntry


class SubscriptionState(StrEnum):
    AWAITING_HISTORY = "awaiting_history"
    CATCHING_UP = "catching_up"
    LIVE = "live"


AWAITING_HISTORY = SubscriptionState.AWAITING_HISTORY
CATCHING_UP = SubscriptionState.CATCHING_UP
LIVE = SubscriptionState.LIVE

# Every state change a subscription may make (None: the state it is created in). Moving to the
# state it is already in changes nothing: two catch-ups of one subscription may overlap (the
# client asks for history while a gap is being read), and whichever reaches the feed first
# makes it live.
ALLOWED: dict[SubscriptionState | None, frozenset[SubscriptionState]] = {
    None: frozenset(
        {
            LIVE,  # a plain subscribe
            CATCHING_UP,  # a subscribe carrying `history`
            AWAITING_HISTORY,  # restored with its session
        }
    ),
    # The client's `history` arrived, or the hub stopped waiting for it and resumes from the
    # recorded offset.
    AWAITING_HISTORY: frozenset({CATCHING_UP}),
    # It reached the feed, its history was refused or lost, or its connection is closing.
    CATCHING_UP: frozenset({LIVE}),
    # A `history` command, or the feed skipped past the offset it owes its client.
    LIVE: frozenset({CATCHING_UP}),
}


# Thousands of kiosks of a store follow one stream with one identifier: they share its encoded
# forms (and, interned, the identifier itself) instead of holding a copy each.
_shared_json = functools.lru_cache(maxsize=4096)(protocol.encode)


class IllegalTransition(RuntimeError):
    """A subscription state change the table does not allow: always a bug in the hub."""

    def __init__(self, from_state: SubscriptionState | None, to_state: SubscriptionState) -> None:
        super().__init__(f"a subscription cannot go from {from_state} to {to_state}")
        self.from_state = from_state
        self.to_state = to_state


class Subscription:
    """A connection following one stream: what it owes its client (`epoch`, `offset`) and
    whether the feed's live messages are its to deliver (`state`)."""

    __slots__ = (
        "_clock",
        "channel",
        "connection",
        "epoch",
        "identifier",
        "identifier_json",
        "offset",
        "state",
        "state_changed_at",
        "stream_id",
        "stream_id_json",
    )

    def __init__(
        self,
        connection: Connection,
        identifier: str,
        grant: Grant,
        epoch: str,
        offset: int,
        *,
        state: SubscriptionState,
        clock: Clock,
    ) -> None:
        if state not in ALLOWED[None]:
            raise IllegalTransition(None, state)
        self.connection = connection
        self.identifier = sys.intern(identifier)
        self.identifier_json: str = _shared_json(self.identifier)
        self.channel = grant.channel
        self.stream_id = sys.intern(grant.stream_id)
        self.stream_id_json: str = _shared_json(self.stream_id)
        self.epoch = epoch
        self.offset = offset  # the last offset queued to the client
        self._clock = clock
        self.state = state
        self.state_changed_at: datetime = clock.now()

    def __repr__(self) -> str:
        return (
            f"Subscription({self.identifier!r}, stream_id={self.stream_id!r}, "
            f"state={self.state.value}, offset={self.offset})"
        )

    def move(self, to_state: SubscriptionState) -> None:
        """Changes the state, or raises `IllegalTransition`; the current state is a no-op."""
        if to_state is self.state:
            return
        if to_state not in ALLOWED[self.state]:
            raise IllegalTransition(self.state, to_state)
        self.state = to_state
        self.state_changed_at = self._clock.now()

    def frame(self, entry: StreamEntry, payload_json: str) -> str:
        if self.connection.reliable:
            return protocol.reliable_message(
                self.identifier_json,
                payload_json,
                stream_id_json=self.stream_id_json,
                epoch=entry.epoch,
                offset=entry.offset,
            )
        return protocol.message(self.identifier_json, payload_json)

    def deliver(
        self,
        entry: StreamEntry,
        payload_json: str,
        frames: dict[tuple[str, bool], str] | None = None,
    ) -> bool:
        """Sends `entry` if it is the next one this client is owed. `frames`: the entry's frames
        already built, by identifier and protocol; a store's kiosks share one identifier, so a
        fan-out builds the entry's frame once, not once per kiosk."""
        if entry.offset != self.offset + 1 or entry.epoch != self.epoch:
            return False
        self.offset = entry.offset
        if frames is None:
            return self.connection.push(self.frame(entry, payload_json))
        key = (self.identifier_json, self.connection.reliable)
        frame = frames.get(key)
        if frame is None:
            frame = frames[key] = self.frame(entry, payload_json)
        return self.connection.push(frame)
