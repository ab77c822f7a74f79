"""What `/cable` does for many kiosks at once, in the small: the key cache emptied in every
process by the backplane, pings to every connection each round, and a reconnect storm that
loses and doubles nothing. (The 5,000-kiosk figures are bench/fanout_bench.py's.)"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from ridgeline.app import app_services
from ridgeline.auth import kiosk_keys
from ridgeline.auth import usage as usage_module
from ridgeline.auth.key_cache import KioskKeyCache
from ridgeline.auth.principal import KioskPrincipal
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import TokenExpired, TokenRevoked
from ridgeline.models.kiosk import Kiosk
from ridgeline.realtime import activity as activity_module
from ridgeline.realtime import protocol
from ridgeline.realtime.activity import KioskActivity
from ridgeline.realtime.backplane import Backplane, MemoryBackplane, RedisBackplane
from ridgeline.realtime.channels import STORE_CHANNEL, Grant
from ridgeline.realtime.connection import Connection
from ridgeline.realtime.hub import FAN_OUT_SLICE, PRESENCE_SLICE, Hub
from ridgeline.realtime.state import MemoryCableState
from ridgeline.realtime.streams import append_many, ops_stream, position, store_stream
from tests.factories import make_kiosk, make_tenant
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import LiveServer
from tests.realtime.notices import hearing
from tests.redis_server import running_redis


def make_hub(database: Database, clock: FakeClock, backplane: Backplane, **kw: Any) -> Hub:
    return Hub(
        database=database,
        backplane=backplane,
        state=MemoryCableState(),
        clock=clock,
        ping_interval_s=kw.get("ping_interval_s", 60.0),
        poll_interval_s=60.0,
        queue_max=64,
        session_ttl_s=60.0,
        key_cache=KioskKeyCache(300),
    )


@asynccontextmanager
async def started(hub: Hub) -> AsyncIterator[Hub]:
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


async def test_revoking_rolling_or_disabling_empties_the_key_cache_of_every_process(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    """Scaled mode: a key cached by another process is refused there as soon as the notice the
    change publishes arrives, not when its entry would have gone stale."""
    tenant = await make_tenant(database)
    scope = TenantScope(organization_id=tenant.organization.id)
    second_kiosk, second_key, _ = await make_kiosk(database, tenant.store, "Kiosk 2")
    usage = KioskKeyUsage()
    async with running_redis(tmp_path) as redis:
        here = make_hub(database, clock, RedisBackplane(redis.url))
        there = make_hub(database, clock, RedisBackplane(redis.url))
        next_notice = hearing(there)
        async with started(here), started(there):
            for hub in (here, there):
                assert isinstance(hub.backplane, RedisBackplane)
                await asyncio.wait_for(hub.backplane.connected.wait(), 10)

            async def authenticate(key: str) -> KioskPrincipal:
                return await there.key_reader.authenticate(key, now=clock.now(), key_usage=usage)

            await authenticate(tenant.kiosk_key)
            await authenticate(second_key)
            assert len(there.key_cache) == 2

            # Revoked (what DELETE .../keys/{id} does once committed).
            async with database.transaction() as session:
                await kiosk_keys.revoke_key(
                    session, scope, tenant.kiosk.id, tenant.kiosk_key_id, now=clock.now()
                )
            heard = next_notice()
            await here.disconnect_kiosk(
                tenant.kiosk.id, reconnect=False, key_id=tenant.kiosk_key_id
            )
            await asyncio.wait_for(heard.wait(), 10)
            with pytest.raises(TokenRevoked):
                await authenticate(tenant.kiosk_key)
            assert len(there.key_cache) == 1  # the other kiosk's key stays

            # Rolled: its old key expires now (POST .../keys with expire_existing_in_s).
            async with database.transaction() as session:
                await kiosk_keys.issue_key(
                    session,
                    scope,
                    second_kiosk.id,
                    KioskKeyCreate(expire_existing_in_s=0),
                    now=clock.now(),
                )
            heard = next_notice()
            await here.keys_changed(second_kiosk.id)
            await asyncio.wait_for(heard.wait(), 10)
            with pytest.raises(TokenExpired):
                await authenticate(second_key)
            assert len(there.key_cache) == 0


async def test_the_key_cache_is_emptied_when_the_backplane_comes_back(
    database: Database, clock: FakeClock
) -> None:
    """Notices sent while the backplane was away are lost: everything cached is read again."""
    tenant = await make_tenant(database)
    hub = make_hub(database, clock, MemoryBackplane())
    async with started(hub):
        await hub.key_reader.authenticate(
            tenant.kiosk_key, now=clock.now(), key_usage=KioskKeyUsage()
        )
        assert len(hub.key_cache) == 1
        await hub._backplane_reconnected()
        assert len(hub.key_cache) == 0


async def test_every_connection_gets_one_ping_frame_each_round(
    database: Database, clock: FakeClock
) -> None:
    hub = make_hub(database, clock, MemoryBackplane(), ping_interval_s=0.05)
    pinged: dict[str, list[str]] = {}
    everyone = asyncio.Event()
    count = 89  # more connections than slices, not a multiple of them

    def sender(name: str) -> Callable[[str], Any]:
        async def send(frame: str) -> None:
            pinged[name].append(frame)
            if len(pinged) == count and all(pinged.values()):
                everyone.set()

        return send

    async def close() -> None:
        return None

    principal = KioskPrincipal(
        kiosk_id=uuid.uuid4(),
        store_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
    )
    connections = []
    for n in range(count):
        pinged[f"c{n}"] = []
        connection = Connection(
            principal=principal,
            protocol_name=protocol.PROTOCOL_EXT,
            send=sender(f"c{n}"),
            close=close,
            queue_max=8,
        )
        hub.register(connection)
        connections.append(connection)
    await hub.ping_round()
    await asyncio.wait_for(everyone.wait(), 10)
    frames = {frame for sent in pinged.values() for frame in sent}
    assert all(len(sent) == 1 for sent in pinged.values())
    assert len(frames) == 1  # one frame, encoded once for the round
    assert frames.pop().startswith('{"type":"ping","message":')
    for connection in connections:
        await hub.unregister(connection, "test")


async def test_a_reconnect_storm_loses_and_doubles_nothing(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    """Every kiosk of a store drops at once (a network blip: no close handshake), messages are
    written meanwhile, and all come back at once asking for history from what they have: each
    gets every missed message exactly once, in order, then live ones again."""
    tenant = await make_tenant(database)
    keys = [tenant.kiosk_key]
    for n in range(11):
        _, key, _ = await make_kiosk(database, tenant.store, f"Kiosk {n + 2}")
        keys.append(key)
    stream_id = store_stream(tenant.store.id)
    ident = identifier("StoreChannel", store_id=str(tenant.store.id))

    async def publish(count: int, kind: str) -> None:
        async with database.transaction() as session:
            await append_many(
                session,
                stream_id,
                [("product.updated", {"n": f"{kind}{i}"}) for i in range(count)],
                at=clock.now(),
            )

    async def connect(key: str, history: dict[str, Any] | None = None) -> CableClient:
        client = await CableClient.connect(live.base_url, token=key)
        await client.welcome()
        assert (await client.subscribe(ident, history=history))["type"] == "confirm_subscription"
        return client

    clients = await asyncio.gather(*(connect(key) for key in keys))
    await publish(2, "before")
    last: list[dict[str, Any]] = []
    for client in clients:
        received = await client.messages(2)
        last.append(received[-1])
    for client in clients:
        client.socket.transport.abort()
    await publish(3, "missed")
    histories = [
        {"streams": {stream_id: {"epoch": frame["epoch"], "offset": frame["offset"]}}}
        for frame in last
    ]
    clients = await asyncio.gather(
        *(connect(key, history) for key, history in zip(keys, histories, strict=True))
    )
    for client, frame in zip(clients, last, strict=True):
        replayed = await client.messages(3)
        assert [m["offset"] for m in replayed] == [frame["offset"] + i for i in (1, 2, 3)]
        assert [m["message"]["data"]["n"] for m in replayed] == ["missed0", "missed1", "missed2"]
        assert await client.receive() == {"identifier": ident, "type": "confirm_history"}
    await publish(1, "after")
    for client, frame in zip(clients, last, strict=True):
        [following] = await client.messages(1)
        assert following["offset"] == frame["offset"] + 4  # the next one: nothing twice
        await client.close()


async def test_a_storms_activity_and_key_use_are_written_a_chunk_a_transaction(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of sightings after a storm are written in transactions of `FLUSH_CHUNK`
    (the event loop is never held by one huge write), and every one of them is written."""
    monkeypatch.setattr(activity_module, "FLUSH_CHUNK", 2)
    monkeypatch.setattr(usage_module, "FLUSH_CHUNK", 2)
    tenant = await make_tenant(database)
    kiosks = [tenant.kiosk]
    key_ids = [tenant.kiosk_key_id]
    for n in range(4):
        kiosk, _, key_id = await make_kiosk(database, tenant.store, f"Kiosk {n + 2}")
        kiosks.append(kiosk)
        key_ids.append(key_id)
    activity, usage = KioskActivity(clock), KioskKeyUsage()
    for kiosk, key_id in zip(kiosks, key_ids, strict=True):
        activity.seen(kiosk.id)
        activity.presence(
            organization_id=tenant.organization.id,
            store_id=tenant.store.id,
            kiosk_id=kiosk.id,
            connected=True,
            connection_id=f"c-{kiosk.id}",
        )
        usage.record(key_id, kiosk.id, clock.now())
    commits: list[int] = []
    database.commit_listeners.append(lambda appended: commits.append(len(appended)))
    await activity.flush(database)
    assert len(commits) == 3  # 5 kiosks and 5 events, 2 a transaction
    assert await usage.flush(database) == 5
    async with database.transaction(write=False) as session:
        ops = await position(session, ops_stream(tenant.organization.id))
        seen = [await session.get(Kiosk, kiosk.id) for kiosk in kiosks]
    assert ops.offset == 5
    assert all(kiosk is not None and kiosk.last_seen_at is not None for kiosk in seen)


async def test_a_store_that_drops_and_comes_back_replays_from_memory_in_one_read_at_most(
    live: LiveServer, database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's stream is still followed after its last kiosk dropped (FEED_LINGER_S), so
    what was written meanwhile is in memory when the kiosks come back: their history is
    replayed without a database read each. Once the linger is over the stream is let go."""
    hub = app_services(live.app).hub
    reads: list[tuple[str, str, int]] = []
    missed = hub.history.missed

    async def counted(stream_id: str, epoch: str, offset: int) -> list[Any]:
        reads.append((stream_id, epoch, offset))
        return await missed(stream_id, epoch, offset)

    monkeypatch.setattr(hub.history, "missed", counted)
    tenant = await make_tenant(database)
    keys = [tenant.kiosk_key]
    for n in range(5):
        _, key, _ = await make_kiosk(database, tenant.store, f"Kiosk {n + 2}")
        keys.append(key)
    stream_id = store_stream(tenant.store.id)
    ident = identifier("StoreChannel", store_id=str(tenant.store.id))

    async def connect(key: str, history: dict[str, Any] | None = None) -> CableClient:
        client = await CableClient.connect(live.base_url, token=key)
        await client.welcome()
        assert (await client.subscribe(ident, history=history))["type"] == "confirm_subscription"
        return client

    clients = await asyncio.gather(*(connect(key) for key in keys))
    async with database.transaction() as session:
        await append_many(session, stream_id, [("product.updated", {"n": "seen"})], at=clock.now())
    seen = [(await client.messages(1))[0] for client in clients]
    for client in clients:
        client.socket.transport.abort()
    async with database.transaction() as session:
        await append_many(
            session,
            stream_id,
            [("product.updated", {"n": f"missed{i}"}) for i in range(3)],
            at=clock.now(),
        )
    # The feed reads what was committed as it does for live subscribers (nobody is left).
    for _ in range(500):
        feed = hub._feeds.get(stream_id)
        if feed is not None and feed.offset == seen[0]["offset"] + 3 and not hub.connections:
            break
        await asyncio.sleep(0.01)
    assert hub._feeds[stream_id].offset == seen[0]["offset"] + 3

    histories = [
        {"streams": {stream_id: {"epoch": frame["epoch"], "offset": frame["offset"]}}}
        for frame in seen
    ]
    clients = await asyncio.gather(
        *(connect(key, history) for key, history in zip(keys, histories, strict=True))
    )
    for client in clients:
        replayed = await client.messages(3)
        assert [m["message"]["data"]["n"] for m in replayed] == ["missed0", "missed1", "missed2"]
        assert await client.receive() == {"identifier": ident, "type": "confirm_history"}
    assert reads == []  # all from memory
    for client in clients:
        await client.close()
    for _ in range(500):
        if not hub.connections:
            break
        await asyncio.sleep(0.01)
    assert stream_id in hub._feeds  # lingering
    hub.feed_linger_s = 0
    hub._drop_idle_feeds()
    assert stream_id not in hub._feeds


async def test_catch_ups_at_one_position_share_one_read(
    database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(
        database=database,
        backplane=MemoryBackplane(),
        state=MemoryCableState(),
        clock=clock,
        ping_interval_s=3,
        poll_interval_s=2,
        queue_max=100,
        session_ttl_s=60,
    )
    release = asyncio.Event()
    reads: list[int] = []

    async def slow_read(stream_id: str, epoch: str, offset: int) -> list[Any]:
        reads.append(offset)
        await release.wait()
        return [f"{stream_id}:{offset}"]

    monkeypatch.setattr(hub.history, "missed", slow_read)
    same = [asyncio.create_task(hub._missed("s", "e", 7)) for _ in range(20)]
    other = asyncio.create_task(hub._missed("s", "e", 9))
    same[0].cancel()  # one client leaving does not cancel the others' read
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*same[1:], other)
    assert reads == [7, 9]
    assert results == [["s:7"]] * 19 + [["s:9"]]  # type: ignore[comparison-overlap]
    assert hub._missed_reads == {}


async def test_presence_is_refreshed_in_slices_for_the_connections_still_open(
    database: Database,
) -> None:
    """Every kiosk connection's entry is refreshed, `PRESENCE_SLICE` at a time; one that closes
    between slices is not written back."""
    hub = make_hub(database, FakeClock(), MemoryBackplane())
    store_id = uuid.uuid4()

    async def send(frame: str) -> None:
        return None

    async def close() -> None:
        return None

    connections = []
    for _ in range(PRESENCE_SLICE + 7):
        principal = KioskPrincipal(
            kiosk_id=uuid.uuid4(),
            store_id=store_id,
            organization_id=uuid.uuid4(),
            key_id=uuid.uuid4(),
        )
        connection = Connection(
            principal=principal,
            protocol_name=protocol.PROTOCOL_EXT,
            send=send,
            close=close,
            queue_max=8,
        )
        hub.register(connection)
        connections.append(connection)
    last = connections[-1]
    original_refresh = hub.state.refresh
    slices: list[int] = []

    async def refresh(entries: Any) -> None:
        slices.append(len(entries))
        if len(slices) == 1:
            await hub.unregister(last, "client_closed")  # leaves while the first slice is out
        await original_refresh(entries)

    hub.state.refresh = refresh  # type: ignore[method-assign]
    await hub.refresh_presence()

    present = {entry.connection_id for entry in await hub.state.present(str(store_id))}
    assert slices == [PRESENCE_SLICE, 6]
    assert present == {c.id for c in connections[:-1]}


async def test_a_fan_out_to_more_than_a_slice_delivers_each_message_once_in_order(
    database: Database, clock: FakeClock
) -> None:
    """A feed offering messages to more subscriptions than FAN_OUT_SLICE lets the event loop run
    between slices; a kiosk that subscribes meanwhile gets only what follows, and every kiosk
    gets every message once, in order."""
    hub = make_hub(database, clock, MemoryBackplane())
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    ident = identifier("StoreChannel", store_id=str(tenant.store.id))
    grant = Grant(STORE_CHANNEL, stream_id)
    received: dict[str, list[int]] = {}
    late: list[Connection] = []
    begun = asyncio.Event()  # the first message was sent to someone

    def make_connection() -> Connection:
        principal = KioskPrincipal(
            kiosk_id=uuid.uuid4(),
            store_id=tenant.store.id,
            organization_id=tenant.organization.id,
            key_id=uuid.uuid4(),
        )
        name = uuid.uuid4().hex

        async def send(frame: str) -> None:
            document = json.loads(frame)
            if "offset" in document and "message" in document:
                received[name].append(document["offset"])
                begun.set()

        async def close() -> None:
            return None

        received[name] = []
        connection = Connection(
            principal=principal,
            protocol_name=protocol.PROTOCOL_EXT,
            send=send,
            close=close,
            queue_max=64,
        )
        connection.id = name
        return connection

    async with started(hub):
        for _ in range(FAN_OUT_SLICE * 2 + 44):
            connection = make_connection()
            hub.register(connection)
            await hub.subscribe(connection, ident, grant, None)
        start = (await hub._feed(stream_id)).offset

        async def subscribe_late() -> None:
            await begun.wait()  # runs when the fan-out yields after its first slice
            connection = make_connection()
            hub.register(connection)
            await hub.subscribe(connection, ident, grant, None)
            late.append(connection)

        joining = asyncio.create_task(subscribe_late())
        async with database.transaction() as session:
            await append_many(
                session,
                stream_id,
                [("product.updated", {"n": n}) for n in range(3)],
                at=clock.now(),
            )
        await asyncio.wait_for(joining, 10)
        expected = [start + 1, start + 2, start + 3]
        for _ in range(500):
            if all(offsets == expected for name, offsets in received.items() if name != late[0].id):
                break
            await asyncio.sleep(0.01)
        for name, offsets in received.items():
            if name == late[0].id:
                # Subscribed while the fan-out ran: what follows its start, never a repeat.
                assert offsets == sorted(set(offsets))
                assert all(offset > start for offset in offsets)
            else:
                assert offsets == expected, name
