"""A connection sends at once when its socket takes a frame, queues (in order, bounded) only while
the socket pushes back, and keeps no task once nothing waits."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from ridgeline.auth.principal import KioskPrincipal
from ridgeline.realtime.connection import Connection
from ridgeline.realtime.protocol import PROTOCOL_EXT, DisconnectReason


class Socket:
    """A socket that takes frames at once until `push_back()`, then holds each send until
    `release()` (as uvicorn's send waits while its transport is paused)."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed = False
        self.fail = False
        self._open = asyncio.Event()
        self._open.set()

    def push_back(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def send(self, frame: str) -> None:
        await self._open.wait()
        if self.fail:
            raise ConnectionResetError("gone")
        self.sent.append(frame)

    async def close(self) -> None:
        self.closed = True


def make_connection(socket: Socket, queue_max: int = 8) -> Connection:
    principal = KioskPrincipal(
        kiosk_id=uuid.uuid4(),
        store_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
    )
    return Connection(
        principal=principal,
        protocol_name=PROTOCOL_EXT,
        send=socket.send,
        close=socket.close,
        queue_max=queue_max,
    )


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_socket_that_takes_the_frame_gets_it_at_once_with_no_task() -> None:
    socket = Socket()
    connection = make_connection(socket)
    tasks_before = len(asyncio.all_tasks())

    assert connection.push("one")
    assert connection.push("two")

    assert socket.sent == ["one", "two"]  # sent inside push: no await happened
    assert connection.queued == 0
    assert len(asyncio.all_tasks()) == tasks_before


async def test_frames_queue_in_order_while_the_socket_pushes_back_then_the_task_ends() -> None:
    socket = Socket()
    connection = make_connection(socket)
    socket.push_back()

    for frame in ("a", "b", "c"):
        assert connection.push(frame)
    assert socket.sent == []
    assert connection.queued == 2  # "a" is in flight, "b" and "c" wait

    socket.release()
    await settle()

    assert socket.sent == ["a", "b", "c"]
    assert connection.queued == 0
    assert connection.push("d")  # at once again
    assert socket.sent == ["a", "b", "c", "d"]


async def test_a_full_queue_is_too_slow_and_the_disconnect_goes_ahead_of_it() -> None:
    socket = Socket()
    connection = make_connection(socket, queue_max=8)
    socket.push_back()
    for n in range(9):  # one in flight, eight queued
        assert connection.push(f"f{n}")

    assert not connection.push("one too many")
    assert connection.closing is DisconnectReason.TOO_SLOW
    assert not connection.push("after closing")

    socket.release()
    await asyncio.wait_for(asyncio.shield(connection.closed), 5)
    await settle()

    assert socket.sent[0] == "f0"  # the frame in flight completes
    assert json.loads(socket.sent[1]) == {
        "type": "disconnect",
        "reason": "too_slow",
        "reconnect": True,
    }
    assert len(socket.sent) == 2  # the queued ones were dropped
    assert socket.closed


async def test_an_idle_connection_disconnects_at_once() -> None:
    socket = Socket()
    connection = make_connection(socket)
    ended: list[bool] = []
    connection.on_closed = lambda: ended.append(True)

    connection.disconnect(DisconnectReason.REMOTE, reconnect=False)

    assert json.loads(socket.sent[0])["reason"] == "remote"
    assert connection.closed.done()
    assert ended == [True]
    await settle()
    assert socket.closed


@pytest.mark.parametrize("pushed_back", [False, True])
async def test_a_socket_that_fails_ends_the_connection(pushed_back: bool) -> None:
    socket = Socket()
    socket.fail = True
    connection = make_connection(socket)
    if pushed_back:
        socket.push_back()

    connection.push("lost")
    if pushed_back:
        socket.release()
        await settle()

    assert connection.closed.done()
    assert connection.queued == 0


async def test_stopping_the_writer_cancels_a_send_in_flight() -> None:
    socket = Socket()
    connection = make_connection(socket)
    socket.push_back()
    connection.push("stuck")

    await connection.stop_writer()
    socket.release()
    await settle()

    assert socket.sent == []
    assert connection.queued == 0
