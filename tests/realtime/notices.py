"""Waiting for a hub to have handled a backplane notice (a revocation, a disconnect)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ridgeline.realtime.backplane import Notice
from ridgeline.realtime.hub import Hub


def hearing(hub: Hub) -> Callable[[], asyncio.Event]:
    """Before `start`: an event set each time the hub handles a notice from the backplane (a
    fresh one per call of the returned function)."""
    current = [asyncio.Event()]
    original = hub.on_notice

    def on_notice(notice: Notice) -> None:
        original(notice)
        current[0].set()

    hub.on_notice = on_notice  # type: ignore[method-assign]

    def next_notice() -> asyncio.Event:
        current[0] = asyncio.Event()
        return current[0]

    return next_notice
