"""A closed `/cable` connection leaves no reference cycles on the server.

The server's long-lived objects are to be frozen out of the collector's way (gc.freeze), so
whatever a closed connection leaves in a cycle is only freed by a rare full pass: a leak until
then. Each test closes a subscribed kiosk's connection one way, with the collector saving what it
finds (DEBUG_SAVEALL), and looks for the server's objects among it.

The test's own client stays referenced until the end, so its objects are not garbage here.
One cycle is CPython 3.11's own and not counted: a closed asyncio selector transport keeps a
bound method of itself (`_read_ready_cb`); uvloop, which `ridgeline serve` runs on, has none."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
import types
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.realtime import connection as connection_module
from ridgeline.realtime.streams import append_many, store_stream
from tests.factories import Tenant, make_tenant
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import LiveServer, start_server
from tests.realtime.test_cable import publish

SERVER_PACKAGES = ("ridgeline", "uvicorn", "starlette", "websockets")
CLOSE_WAIT_S = 10.0
CONNECTION_MODULES = ("ridgeline/realtime/connection.py", "ridgeline/realtime/cable.py")


def _code_of(thing: Any) -> types.CodeType | None:
    if isinstance(thing, types.FrameType):
        return thing.f_code
    if isinstance(thing, types.TracebackType):
        return thing.tb_frame.f_code
    if isinstance(thing, types.CoroutineType):
        return thing.cr_code
    if isinstance(thing, asyncio.Task):
        coroutine = thing.get_coro()
        return coroutine.cr_code if isinstance(coroutine, types.CoroutineType) else None
    return None


def _is_server_side(thing: Any) -> bool:
    """An object of the server's packages, or a frame, traceback, coroutine or task of their
    code (a cycle through an exception's traceback is made of those)."""
    module = type(thing).__module__
    if module.split(".")[0] in SERVER_PACKAGES:
        return True
    if isinstance(thing, types.MethodType):
        return type(thing.__self__).__module__.split(".")[0] in SERVER_PACKAGES
    code = _code_of(thing)
    return code is not None and any(
        f"/{package}/" in code.co_filename for package in SERVER_PACKAGES
    )


def _describe(thing: Any) -> str:
    code = _code_of(thing)
    name = f"{type(thing).__module__}.{type(thing).__qualname__}"
    return f"{name} ({code.co_qualname})" if code is not None else name


class SavedGarbage:
    """What the collector found while the block ran (its own passes included), kept
    (DEBUG_SAVEALL); `server_side` lists the server's objects among it."""

    def __init__(self) -> None:
        self.server_side: list[str] = []

    def holds(self, thing: object) -> bool:
        return any(found is thing for found in gc.garbage)


@contextlib.contextmanager
def saved_garbage() -> Iterator[SavedGarbage]:
    saved = SavedGarbage()
    flags = gc.get_debug()
    gc.collect()
    gc.garbage.clear()
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        yield saved
        gc.collect()
        saved.server_side = [_describe(thing) for thing in gc.garbage if _is_server_side(thing)]
    finally:
        gc.set_debug(flags)
        gc.garbage.clear()


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + CLOSE_WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.01)


def _connection_tasks() -> list[asyncio.Task[Any]]:
    """The tasks of a connection's own (its session, its writer, its close), still running."""
    return [
        task
        for task in asyncio.all_tasks()
        if (code := _code_of(task)) is not None and code.co_filename.endswith(CONNECTION_MODULES)
    ]


async def closed_on_the_server(live: LiveServer) -> None:
    """Until the hub, uvicorn and the connection's own tasks are done with every connection."""
    hub = app_services(live.app).hub
    state = live.server.server_state
    await until(lambda: not hub.connections, "the hub forgets the connection")
    await until(lambda: not state.connections and not state.tasks, "uvicorn drops the socket")
    await until(lambda: not _connection_tasks(), "the connection's tasks end")


def server_socket(live: LiveServer) -> weakref.ref[object]:
    """The server's protocol object of its one open socket, weakly: every object of the
    connection (session, hub connection, starlette WebSocket) holds it."""
    [socket] = live.server.server_state.connections
    return weakref.ref(socket)


async def released(socket: weakref.ref[object], garbage: SavedGarbage) -> None:
    """Until nothing holds the closed socket's objects any longer: freed, or only garbage. Not
    at once: the hub's ping round, for one, keeps the connections it began with to its end."""

    def done() -> bool:
        gc.collect()
        held = socket()
        return held is None or garbage.holds(held)

    await until(done, "the server releases the closed socket")


async def subscribed_kiosk(
    live: LiveServer, database: Database, clock: FakeClock
) -> tuple[CableClient, Tenant]:
    """A kiosk connected, subscribed to its store, that has received one message."""
    tenant = await make_tenant(database)
    client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    await client.welcome()
    store = identifier("StoreChannel", store_id=str(tenant.store.id))
    assert (await client.subscribe(store))["type"] == "confirm_subscription"
    await publish(database, clock, store_stream(tenant.store.id))
    await client.messages(1)
    return client, tenant


async def publish_blobs(database: Database, clock: FakeClock, tenant: Tenant, blob: str) -> None:
    async with database.transaction() as session:
        await append_many(
            session,
            store_stream(tenant.store.id),
            [("product.updated", {"n": n, "blob": blob}) for n in range(4)],
            at=clock.now(),
        )


async def told_to_go(client: CableClient) -> None:
    """Reads what the server still sends (its `disconnect`) until it closes the socket."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await client.receive(wait_s=CLOSE_WAIT_S)


@pytest.mark.parametrize("ending", ["client_close", "client_abort", "server_close"])
async def test_a_closed_connection_leaves_no_cycles(
    live: LiveServer, database: Database, clock: FakeClock, ending: str
) -> None:
    client, tenant = await subscribed_kiosk(live, database, clock)
    socket = server_socket(live)
    with saved_garbage() as garbage:
        if ending == "client_close":
            await client.close()
        elif ending == "client_abort":
            client.socket.transport.abort()
        else:  # the kiosk's key revoked: its connections are closed `remote`
            hub = app_services(live.app).hub
            await hub.disconnect_kiosk(tenant.kiosk.id, reconnect=False, key_id=tenant.kiosk_key_id)
            await told_to_go(client)
        await closed_on_the_server(live)
        await released(socket, garbage)
    assert garbage.server_side == []


async def test_a_stalled_connection_dropped_too_slow_leaves_no_cycles(
    cable_settings: Settings,
    database: Database,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server gives up on a client that stopped reading: its send queue overflows, the
    last frame and the close both time out (the grace shortened to keep the test fast)."""
    monkeypatch.setattr(connection_module, "CLOSE_GRACE_S", 0.2)
    settings = cable_settings.model_copy(update={"cable_send_queue_max": 4})
    live = await start_server(settings, database, clock)
    try:
        client, tenant = await subscribed_kiosk(live, database, clock)
        socket = server_socket(live)
        hub = app_services(live.app).hub
        with saved_garbage() as garbage:
            client.socket.transport.pause_reading()
            blob = "x" * 200_000  # the socket's buffers fill after a few of these
            while hub.connections:
                await publish_blobs(database, clock, tenant, blob)
                await asyncio.sleep(0.05)
            await until(lambda: not _connection_tasks(), "the connection's tasks end")
            # Only now is the client gone: uvicorn flushes a socket before it lets it go.
            client.socket.transport.abort()
            await closed_on_the_server(live)
            await released(socket, garbage)
        assert garbage.server_side == []
    finally:
        await live.stop()


async def test_a_connection_closed_by_the_server_stopping_leaves_no_cycles(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    live = await start_server(cable_settings, database, clock)
    try:
        client, _ = await subscribed_kiosk(live, database, clock)
    except BaseException:
        await live.stop()
        raise
    socket = server_socket(live)
    with saved_garbage() as garbage:
        await live.stop()
        await told_to_go(client)
        await released(socket, garbage)
    assert garbage.server_side == []
