"""A message's round trip through `/cable`, timed from outside the server, as a kiosk sees it:
connect with a kiosk's key, subscribe to `KioskChannel`, commit a `kiosk.command` to the kiosk's
stream, and time it from the commit to its arrival on the socket.

It goes the way a kiosk's updates go (the stream, then the server's poll or the backplane), not
through a server's memory, so it works from another process (`ridgeline doctor`). Kiosks ignore
a command they do not know, so the real kiosk receiving the same message is harmless.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.realtime import streams
from ridgeline.realtime.channels import KIOSK_CHANNEL
from ridgeline.realtime.protocol import PROTOCOL_JSON


class RoundTripFailed(Exception):
    """The message did not make it; the text says at which step."""


def cable_urls(server_url: str) -> tuple[str, str]:
    """(http base, ws `/cable` URL) of a server, from http(s):// or ws(s)://."""
    parts = urlsplit(server_url if "://" in server_url else f"http://{server_url}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    http = urlunsplit((scheme, parts.netloc, "", "", "")).rstrip("/")
    return http, urlunsplit(("wss" if scheme == "https" else "ws", parts.netloc, "/cable", "", ""))


class RoundTrip:
    def __init__(self, database: Database, clock: Clock, *, timeout_s: float) -> None:
        self.database = database
        self.clock = clock
        self.timeout_s = timeout_s

    async def deliver(self, ws_url: str, key: str, kiosk_id: uuid.UUID, command: str) -> float:
        """Connects with `key` (the kiosk's), commits a `kiosk.command` `command` to the kiosk's
        stream and returns the milliseconds from the commit to its arrival; `RoundTripFailed`
        says where it stopped."""
        timeout = self.timeout_s
        try:
            socket = await connect(
                f"{ws_url}?token={key}",
                subprotocols=[Subprotocol(PROTOCOL_JSON)],
                open_timeout=timeout,
            )
        except InvalidStatus as exc:
            raise RoundTripFailed(
                f"{ws_url} refused the handshake: HTTP {exc.response.status_code}"
            ) from None
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise RoundTripFailed(
                f"cannot connect to {ws_url}: {type(exc).__name__}: {exc}"
            ) from None
        step = "welcome"
        try:
            async with asyncio.timeout(timeout):
                await _expect(socket, "welcome")
                step = f"{KIOSK_CHANNEL} subscription"
                identifier = json.dumps({"channel": KIOSK_CHANNEL})
                await socket.send(json.dumps({"command": "subscribe", "identifier": identifier}))
                await _expect(socket, "confirm_subscription")
            nonce = uuid.uuid4().hex
            ping = {"command_id": str(uuid.uuid4()), "command": command, "nonce": nonce}
            async with self.database.transaction() as session:
                stream = streams.kiosk_stream(kiosk_id)
                await streams.append(session, stream, "kiosk.command", ping, at=self.clock.now())
            committed = time.perf_counter()
            step = f"{command} delivery"
            async with asyncio.timeout(timeout):
                while True:
                    frame = await _frame(socket)
                    message = frame.get("message")
                    got = message.get("data") if isinstance(message, dict) else None
                    if isinstance(got, dict) and got.get("nonce") == nonce:
                        return (time.perf_counter() - committed) * 1000
        except TimeoutError:
            raise RoundTripFailed(f"no {step} within {timeout:g} s from {ws_url}") from None
        except WebSocketException as exc:
            raise RoundTripFailed(f"{ws_url} closed during the {step}: {exc}") from None
        finally:
            await socket.close()


async def _frame(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await socket.recv())
    if frame.get("type") == "disconnect":
        raise RoundTripFailed(f"the server disconnected the doctor: {frame.get('reason')}")
    return frame


async def _expect(socket: ClientConnection, kind: str) -> None:
    while True:
        frame = await _frame(socket)
        if frame.get("type") == kind:
            return
        if frame.get("type") == "reject_subscription":
            raise RoundTripFailed(f"the server rejected the {KIOSK_CHANNEL} subscription")
