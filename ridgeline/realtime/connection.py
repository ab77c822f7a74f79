"""One client socket as the hub sees it: who it is, what it follows, and its bounded send queue.

Sending never blocks the hub: frames go into the connection's queue and its own writer task sends
them. A client whose queue overflows is disconnected with `too_slow` (it reconnects and replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.realtime import protocol
from ridgeline.realtime.metrics import SEND_QUEUE_DROPS
from ridgeline.realtime.protocol import DisconnectReason

if TYPE_CHECKING:
    from ridgeline.realtime.subscription import Subscription

# How long a closing connection may take to flush its last frame before its socket is dropped.
CLOSE_GRACE_S = 2.0

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[], Awaitable[None]]


class Connection:
    """One client socket: its principal, subscriptions and bounded send queue. Thousands live
    in one process, so it holds only what it must (slots; one writer task, no other)."""

    __slots__ = (
        "_close",
        "_closed",
        "_queue",
        "_queue_max",
        "_send",
        "_wake",
        "_writer",
        "app_version",
        "closing",
        "connected_at",
        "id",
        "on_closed",
        "principal",
        "protocol_name",
        "reliable",
        "remote",
        "subscriptions",
    )

    def __init__(
        self,
        *,
        principal: Principal,
        protocol_name: str,
        send: SendText,
        close: CloseSocket,
        queue_max: int,
        remote: str | None = None,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.principal = principal
        self.protocol_name = protocol_name
        self.reliable = protocol_name == protocol.PROTOCOL_EXT
        self.remote = remote
        self.subscriptions: dict[str, Subscription] = {}
        self.connected_at = time.time()
        self.app_version: str | None = None
        self._send = send
        self._close = close
        self._queue: deque[str] = deque()
        self._queue_max = queue_max
        # What the idle writer awaits (made only then; an Event would hold a deque each).
        self._wake: asyncio.Future[None] | None = None
        self.closing: DisconnectReason | None = None
        self._closed: asyncio.Future[None] | None = None
        # Called once when the connection is done (closed by the server, or its socket failed):
        # the `/cable` session stops reading then, without a task of its own waiting for it.
        self.on_closed: Callable[[], None] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done when the connection is over (await it shielded: a waiter must not cancel it)."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        return self._closed

    @property
    def kiosk(self) -> KioskPrincipal | None:
        """The kiosk this connection is, for presence and remote operations on the kiosk. None
        for an operator, and for a diagnostic connection (`ridgeline doctor`): that one follows
        the kiosk's channels through its principal but is not the kiosk being connected."""
        principal = self.principal
        if isinstance(principal, KioskPrincipal) and not principal.diagnostic:
            return principal
        return None

    @property
    def key_of_kiosk(self) -> uuid.UUID | None:
        """The kiosk whose API key opened this connection, diagnostic keys included: what
        disconnecting or disabling that kiosk closes."""
        principal = self.principal
        return principal.kiosk_id if isinstance(principal, KioskPrincipal) else None

    @property
    def key_id(self) -> uuid.UUID | None:
        """The API key that opened this connection (None for an operator)."""
        principal = self.principal
        return principal.key_id if isinstance(principal, KioskPrincipal) else None

    @property
    def kiosk_id(self) -> uuid.UUID | None:
        return self.kiosk.kiosk_id if self.kiosk is not None else None

    @property
    def store_id(self) -> uuid.UUID | None:
        return self.kiosk.store_id if self.kiosk is not None else None

    def log_context(self) -> dict[str, str]:
        """The ids the `/cable` session binds to every log line of this connection (a
        diagnostic key's kiosk included: the line is about that key's socket)."""
        context = {"connection_id": self.id}
        principal = self.principal
        if isinstance(principal, KioskPrincipal):
            context["kiosk_id"] = str(principal.kiosk_id)
            context["store_id"] = str(principal.store_id)
            context["organization_id"] = str(principal.organization_id)
        elif isinstance(principal, OperatorPrincipal):
            context["operator_id"] = str(principal.operator_id)
            if principal.organization_id is not None:
                context["organization_id"] = str(principal.organization_id)
        return context

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())

    def push(self, frame: str) -> bool:
        if self.closing is not None:
            return False
        if len(self._queue) >= self._queue_max:
            SEND_QUEUE_DROPS.inc()
            self.disconnect(DisconnectReason.TOO_SLOW, reconnect=True)
            return False
        self._queue.append(frame)
        self._wake_writer()
        return True

    def _wake_writer(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def disconnect(self, reason: DisconnectReason, *, reconnect: bool) -> None:
        """Sends the disconnect frame ahead of anything still queued, then closes the socket."""
        if self.closing is not None:
            return
        self.closing = reason
        self._queue.clear()
        self._queue.append(protocol.disconnect(reason, reconnect=reconnect))
        self._wake_writer()
        asyncio.get_running_loop().create_task(self._close_after_flush())

    async def _close_after_flush(self) -> None:
        # A stalled client never takes the last frame: its socket is dropped after the grace.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_GRACE_S)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        # Closing waits for the socket to take the close frame; a stalled one never does.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(), CLOSE_GRACE_S)
        self._mark_closed()

    async def _write_loop(self) -> None:
        try:
            while True:
                while not self._queue:
                    if self.closing is not None:
                        self._mark_closed()
                        return
                    self._wake = asyncio.get_running_loop().create_future()
                    await self._wake
                    self._wake = None
                await self._send(self._queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            # The socket went away; the endpoint's reader sees it too and unregisters us.
            self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        callback, self.on_closed = self.on_closed, None
        if callback is not None:
            callback()

    async def stop_writer(self) -> None:
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
