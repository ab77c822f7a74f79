"""One client socket as the hub sees it: who it is, what it follows, and its bounded send queue.

Sending never blocks the hub. A frame is sent at once when the socket takes it without waiting
(the usual case: the transport's buffer has room); only when a send would wait (a client that
reads slowly, its transport paused) do frames queue, and a task of the connection's own sends
them while the backlog lasts. A client whose queue overflows is disconnected with `too_slow`
(it reconnects and replays). No task per idle connection: thousands live in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.realtime import protocol
from ridgeline.realtime.metrics import SEND_QUEUE_DROPS
from ridgeline.realtime.protocol import DisconnectReason

if TYPE_CHECKING:
    from ridgeline.realtime.subscription import Subscription

# How long a closing connection may take to flush its last frame before its socket is dropped.
CLOSE_GRACE_S = 2.0

SendText = Callable[[str], Coroutine[Any, Any, None]]
CloseSocket = Callable[[], Awaitable[None]]


class _Resumed:
    """A coroutine that was started outside any task and suspended at an await, as an
    awaitable a task can finish: what it yielded is handed to the task, and the task's answers
    back to it (as a task does with a coroutine it started itself)."""

    __slots__ = ("_coroutine", "_yielded")

    def __init__(self, coroutine: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coroutine = coroutine
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, yielded = self._coroutine, self._yielded
        while True:
            try:
                answer = yield yielded
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as error:
                try:
                    yielded = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coroutine.send(answer)
                except StopIteration:
                    return


class Connection:
    """One client socket: its principal, subscriptions and bounded send queue. Thousands live
    in one process, so it holds only what it must (slots; a queue and a task only while frames
    wait for a slow socket)."""

    __slots__ = (
        "_close",
        "_closed",
        "_queue",
        "_queue_max",
        "_send",
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
        # Frames waiting for the socket (made when the first must wait, dropped when drained).
        self._queue: deque[str] | None = None
        self._queue_max = queue_max
        self.closing: DisconnectReason | None = None
        self._closed: asyncio.Future[None] | None = None
        # Called once when the connection is done (closed by the server, or its socket failed):
        # the `/cable` session stops reading then, without a task of its own waiting for it.
        self.on_closed: Callable[[], None] | None = None
        # Sends the queued frames while there are some; None when nothing waits.
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

    @property
    def queued(self) -> int:
        """Frames waiting for the socket."""
        return len(self._queue) if self._queue is not None else 0

    def push(self, frame: str) -> bool:
        """Sends `frame` now if the socket takes it without waiting, else queues it behind the
        frames already waiting; False if the connection is closing, or too slow (its queue is
        full: it is disconnected `too_slow`), or its socket is gone."""
        if self.closing is not None:
            return False
        if self._writer is None:
            return self._send_now(frame)
        queue = self._queue
        assert queue is not None
        if len(queue) >= self._queue_max:
            SEND_QUEUE_DROPS.inc()
            self.disconnect(DisconnectReason.TOO_SLOW, reconnect=True)
            return False
        queue.append(frame)
        return True

    def _send_now(self, frame: str) -> bool:
        """Runs the send up to its first wait, outside any task: a socket that takes the frame
        finishes it there. A send that must wait is finished by the writer task, which then
        sends whatever queued meanwhile."""
        sending = self._send(frame)
        try:
            waiting_on = sending.send(None)
        except StopIteration:
            return True
        except Exception:
            # The socket went away; the endpoint's reader sees it too and unregisters us.
            self._mark_closed()
            return False
        self._queue = deque()
        self._writer = asyncio.get_running_loop().create_task(
            self._drain(_Resumed(sending, waiting_on))
        )
        return True

    async def _drain(self, in_flight: _Resumed) -> None:
        try:
            await in_flight
            queue = self._queue
            while queue:
                await self._send(queue.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            self._mark_closed()  # the socket went away
        else:
            if self.closing is not None:
                self._mark_closed()  # the disconnect frame is out
        finally:
            self._queue = None
            self._writer = None

    def disconnect(self, reason: DisconnectReason, *, reconnect: bool) -> None:
        """Sends the disconnect frame ahead of anything still queued, then closes the socket."""
        if self.closing is not None:
            return
        frame = protocol.disconnect(reason, reconnect=reconnect)
        if self._writer is None:
            if self._send_now(frame) and self._writer is None:
                self.closing = reason
                self._mark_closed()  # the frame is out
            else:
                self.closing = reason
        else:
            self.closing = reason
            assert self._queue is not None
            self._queue.clear()
            self._queue.append(frame)
        asyncio.get_running_loop().create_task(self._close_after_flush())

    async def _close_after_flush(self) -> None:
        # A stalled client never takes the last frame: its socket is dropped after the grace.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.closed), CLOSE_GRACE_S)
        await self.stop_writer()
        # Closing waits for the socket to take the close frame; a stalled one never does.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(), CLOSE_GRACE_S)
        self._mark_closed()

    def _mark_closed(self) -> None:
        if self.closed.done():
            return
        self.closed.set_result(None)
        callback, self.on_closed = self.on_closed, None
        if callback is not None:
            callback()

    async def stop_writer(self) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
