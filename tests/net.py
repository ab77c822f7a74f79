"""Network helpers for tests that start real servers on loopback."""

from __future__ import annotations

import socket
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

A = TypeVar("A", bound=ASGIApp)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LateBoundApp:
    """An ASGI app that forwards to one bound after it is made: for two apps that call each
    other in one event loop (the simulator pushes to our app, whose POS connector, given to
    `create_app`, calls the simulator)."""

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    def bind(self, app: A) -> A:
        self._app = app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._app is not None, "LateBoundApp called before bind()"
        await self._app(scope, receive, send)
