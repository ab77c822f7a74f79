"""Misbehaving at the connection level: holding a request without answering, and resetting the
connection with no response at all.

Under uvicorn an ASGI app cannot close its connection directly: raising before the response
starts makes uvicorn answer 500. So the simulator finds the connection's transport (uvicorn runs
each request as a task whose coroutine is `RequestResponseCycle.run_asgi`, which holds it), sets
SO_LINGER to 0 and aborts it: the client gets a TCP RST, the same "connection reset by peer" a
crashed load balancer gives. Served in-process (httpx.ASGITransport) there is no connection, so
the simulator raises the httpx errors a client would have seen instead: `SimulatedConnectionReset`
(an `httpx.ReadError`) and `SimulatedTimeout` (an `httpx.ReadTimeout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any, Protocol

import httpx

from ridgeline.possim.asgi import Receive

_DISCONNECT_WAIT_S = 2.0


class SimulatedConnectionReset(httpx.ReadError):
    """Raised in-process where a real server would reset the connection."""


class SimulatedTimeout(httpx.ReadTimeout):
    """Raised in-process where a real server would hold the request past any client timeout."""


class _Transport(Protocol):
    def abort(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any: ...


def _uvicorn_transport() -> _Transport | None:
    task = asyncio.current_task()
    if task is None:
        return None
    frame = getattr(task.get_coro(), "cr_frame", None)
    cycle = frame.f_locals.get("self") if frame is not None else None
    if cycle is None or type(cycle).__name__ != "RequestResponseCycle":
        return None
    if not type(cycle).__module__.startswith("uvicorn."):
        return None
    transport = getattr(cycle, "transport", None)
    if transport is None or not hasattr(transport, "abort"):
        return None
    found: _Transport = transport
    return found


async def _until_disconnected(receive: Receive, timeout_s: float | None) -> bool:
    """Wait for the client to go away; True if it did within `timeout_s`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while (await receive())["type"] != "http.disconnect":
                pass
            return True
    return False


def served_by_uvicorn() -> bool:
    return _uvicorn_transport() is not None


async def reset_connection(receive: Receive) -> None:
    """Drop the connection without a response (RST), or raise SimulatedConnectionReset."""
    transport = _uvicorn_transport()
    if transport is None:
        raise SimulatedConnectionReset("simulated connection reset")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let uvicorn see the disconnect before the app returns, so it does not try to answer 500.
    await _until_disconnected(receive, _DISCONNECT_WAIT_S)


async def hold_then_reset(receive: Receive, hold_s: float) -> None:
    """Answer nothing for `hold_s` seconds (or until the client gives up), then reset.

    In-process there is no client timeout to outlast, so this raises SimulatedTimeout at once.
    """
    if not served_by_uvicorn():
        raise SimulatedTimeout("simulated timeout: the POS did not answer")
    if await _until_disconnected(receive, hold_s):
        return
    await reset_connection(receive)
