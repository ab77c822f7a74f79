"""`/cable` over a real socket: handshake, channels, broadcasts, history, restore, remote ops."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ridgeline.app import app_services
from ridgeline.auth import kiosk_keys
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models.kiosk import Kiosk, KioskApiKey, KioskKeyPurpose
from ridgeline.models.operator import Role
from ridgeline.realtime import streams as streams_module
from ridgeline.realtime.streams import (
    append,
    append_many,
    kiosk_stream,
    ops_stream,
    order_stream,
    position,
    prune,
    store_stream,
)
from tests.factories import PASSWORD, Tenant, make_kiosk, make_operator, make_tenant, sign_in
from tests.realtime.cable_client import PLAIN_PROTOCOLS, CableClient, identifier
from tests.realtime.conftest import LiveServer, start_server


async def publish(
    database: Database, clock: FakeClock, stream_id: str, count: int = 1, kind: str = "x"
) -> None:
    async with database.transaction() as session:
        await append_many(
            session,
            stream_id,
            [("product.updated", {"n": f"{kind}{i}"}) for i in range(count)],
            at=clock.now(),
        )


async def kiosk_client(live: LiveServer, tenant: Tenant, **kwargs: Any) -> CableClient:
    client = await CableClient.connect(live.base_url, token=tenant.kiosk_key, **kwargs)
    await client.welcome()
    return client


async def append_then_fail(database: Database, clock: FakeClock, stream_id: str) -> None:
    async with database.transaction() as session:
        await append(session, stream_id, "product.updated", {}, at=clock.now())
        raise RuntimeError("the change failed")


def store_identifier(tenant: Tenant) -> str:
    return identifier("StoreChannel", store_id=str(tenant.store.id))


# --- handshake -----------------------------------------------------------------------------------


async def test_extended_protocol_is_preferred_and_welcome_carries_a_sid(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    assert client.subprotocol == "actioncable-v1-ext-json"
    welcome = await client.welcome()
    assert isinstance(welcome["sid"], str)
    assert len(welcome["sid"]) >= 20
    await client.close()


async def test_plain_actioncable_gets_the_plain_protocol(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await CableClient.connect(
        live.base_url, token=tenant.kiosk_key, protocols=PLAIN_PROTOCOLS
    )
    assert client.subprotocol == "actioncable-v1-json"
    assert await client.welcome() == {"type": "welcome"}
    await client.close()


async def test_the_token_may_come_as_an_extra_subprotocol(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await CableClient.connect(
        live.base_url,
        protocols=["actioncable-v1-json", "actioncable-unsupported", tenant.kiosk_key],
    )
    assert client.subprotocol == "actioncable-v1-json"
    await client.welcome()
    await client.close()


@pytest.mark.parametrize("token", [None, "rk_live_not-a-key", "not.a.jwt"])
async def test_a_bad_or_missing_token_is_told_unauthorized_and_closed(
    live: LiveServer, token: str | None
) -> None:
    client = await CableClient.connect(live.base_url, token=token)
    frame = await client.receive()
    assert frame == {"type": "disconnect", "reason": "unauthorized", "reconnect": False}
    with pytest.raises(ConnectionClosed):
        await client.receive(wait_s=5)
    await client.close()


async def test_a_disabled_kiosk_cannot_connect(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        kiosk = await session.get(Kiosk, tenant.kiosk.id)
        assert kiosk is not None
        kiosk.status = kiosk.status.DISABLED
    client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    assert (await client.receive())["reason"] == "unauthorized"
    await client.close()


async def test_a_client_offering_no_actioncable_protocol_is_refused(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus):
        await CableClient.connect(live.base_url, protocols=["chat"])


async def test_origins_outside_the_allowed_list_are_refused_at_the_handshake(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    settings = cable_settings.model_copy(
        update={"cable_allowed_origins": ["https://kiosk.example.com"]}
    )
    live = await start_server(settings, database, clock)
    try:
        tenant = await make_tenant(database)
        with pytest.raises(InvalidStatus) as refused:
            await CableClient.connect(
                live.base_url, token=tenant.kiosk_key, origin="https://evil.example.com"
            )
        assert refused.value.response.status_code == 403
        allowed = await kiosk_client(live, tenant, origin="https://kiosk.example.com")
        await allowed.close()
        no_origin = await kiosk_client(live, tenant)  # a kiosk app sends none
        await no_origin.close()
    finally:
        await live.stop()


async def test_pings_arrive_every_interval(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    first = await client.receive(pings=True, wait_s=3)
    second = await client.receive(pings=True, wait_s=3)
    assert first["type"] == second["type"] == "ping"
    assert isinstance(first["message"], int)
    await client.close()


# --- channels ------------------------------------------------------------------------------------


async def test_the_identifier_is_echoed_byte_for_byte(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    odd = '{ "store_id" : "%s",  "channel":"StoreChannel" }' % tenant.store.id  # noqa: UP031
    confirm = await client.subscribe(odd)
    assert confirm == {"identifier": odd, "type": "confirm_subscription"}
    await client.close()


async def test_channel_authorization(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    other = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    refused = [
        identifier("StoreChannel", store_id=str(other.store.id)),
        identifier("StoreChannel", store_id="not-a-uuid"),
        identifier("OpsChannel", organization_id=str(tenant.organization.id)),
        identifier("NoSuchChannel"),
    ]
    for ident in refused:
        assert (await client.subscribe(ident))["type"] == "reject_subscription", ident
    assert (await client.subscribe(identifier("KioskChannel")))["type"] == "confirm_subscription"
    await client.close()

    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
    token = headers["Authorization"].removeprefix("Bearer ")
    operator = await CableClient.connect(live.base_url, token=token)
    await operator.welcome()
    own = identifier("OpsChannel", organization_id=str(tenant.organization.id))
    assert (await operator.subscribe(own))["type"] == "confirm_subscription"
    foreign = identifier("OpsChannel", organization_id=str(other.organization.id))
    assert (await operator.subscribe(foreign))["type"] == "reject_subscription"
    assert (await operator.subscribe(store_identifier(tenant)))["type"] == "reject_subscription"
    await operator.close()


async def test_a_duplicate_subscribe_is_ignored(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    await client.subscribe(ident)
    await client.send({"command": "subscribe", "identifier": ident})
    # Commands are answered in order: the next frame answers the next command, so a second
    # confirmation would come before it.
    sentinel = identifier("KioskChannel")
    confirm = await client.subscribe(sentinel)
    assert confirm == {"identifier": sentinel, "type": "confirm_subscription"}
    await client.close()


async def test_a_committed_change_reaches_subscribers_with_its_position(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    reliable = await kiosk_client(live, tenant)
    plain = await kiosk_client(live, tenant, protocols=PLAIN_PROTOCOLS)
    ident = store_identifier(tenant)
    await reliable.subscribe(ident)
    await plain.subscribe(ident)
    await publish(database, clock, store_stream(tenant.store.id), 2)
    stream = await position_of(database, store_stream(tenant.store.id))
    got = await reliable.messages(2)
    assert [m["offset"] for m in got] == [stream[1] - 1, stream[1]]
    assert {m["stream_id"] for m in got} == {store_stream(tenant.store.id)}
    assert {m["epoch"] for m in got} == {stream[0]}
    assert got[0]["identifier"] == ident
    assert got[0]["message"]["type"] == "product.updated"
    assert got[0]["message"]["data"] == {"n": "x0"}
    assert "at" in got[0]["message"]
    plain_got = await plain.messages(2)
    assert all("offset" not in m for m in plain_got)
    assert [m["message"]["data"]["n"] for m in plain_got] == ["x0", "x1"]
    await reliable.close()
    await plain.close()


async def test_a_rolled_back_change_is_never_sent(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    await client.subscribe(store_identifier(tenant))
    with pytest.raises(RuntimeError):
        await append_then_fail(database, clock, store_stream(tenant.store.id))
    # A change committed after it is the next message: the stream is delivered in order, so
    # anything the rolled-back change had left would come first.
    await publish(database, clock, store_stream(tenant.store.id), 1, "sentinel")
    [message] = await client.messages(1)
    assert message["message"]["data"] == {"n": "sentinel0"}
    await client.close()


async def test_a_message_committed_by_another_process_arrives_through_the_poll(
    live: LiveServer, database: Database, clock: FakeClock, settings: Settings
) -> None:
    """No backplane notice (another process on SQLite, or Redis down): the poll finds it."""
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    await client.subscribe(store_identifier(tenant))
    elsewhere = Database(settings.database_url)
    try:
        await publish(elsewhere, clock, store_stream(tenant.store.id), 3)
    finally:
        await elsewhere.dispose()
    got = await client.messages(3, wait_s=5)
    assert [m["message"]["data"]["n"] for m in got] == ["x0", "x1", "x2"]
    await client.close()


async def test_another_stores_changes_never_reach_a_kiosk(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    other = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    await client.subscribe(ident)
    await publish(database, clock, store_stream(other.store.id), 2)
    # The kiosk's own store changes after it: that is the first message it gets.
    await publish(database, clock, store_stream(tenant.store.id), 1, "own")
    [message] = await client.messages(1)
    assert message["identifier"] == ident
    assert message["message"]["data"] == {"n": "own0"}
    await client.close()


# --- history and restore -------------------------------------------------------------------------


async def position_of(database: Database, stream_id: str) -> tuple[str, int]:
    async with database.transaction(write=False) as session:
        found = await position(session, stream_id)
    return found.epoch, found.offset


async def test_history_replays_exactly_the_missed_messages_then_confirms(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    await publish(database, clock, stream_id, 3, "old")
    epoch, offset = await position_of(database, stream_id)
    await publish(database, clock, stream_id, 4, "missed")
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    history = {"since": 0, "streams": {stream_id: {"epoch": epoch, "offset": offset}}}
    assert (await client.subscribe(ident, history=history))["type"] == "confirm_subscription"
    replayed = await client.messages(4)
    assert [m["message"]["data"]["n"] for m in replayed] == [f"missed{i}" for i in range(4)]
    assert [m["offset"] for m in replayed] == [offset + 1 + i for i in range(4)]
    assert await client.receive() == {"identifier": ident, "type": "confirm_history"}
    await publish(database, clock, stream_id, 1, "live")
    [live_message] = await client.messages(1)
    assert live_message["offset"] == offset + 5
    # Nothing twice: the next frame is the next message written.
    await publish(database, clock, stream_id, 1, "next")
    [following] = await client.messages(1)
    assert following["offset"] == offset + 6
    assert following["message"]["data"]["n"] == "next0"
    await client.close()


async def test_history_from_an_unknown_epoch_or_a_pruned_offset_is_rejected_whole(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    await publish(database, clock, stream_id, 10)
    epoch, _ = await position_of(database, stream_id)
    async with database.transaction() as session:
        await prune(session, now=clock.now(), max_messages=5)
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    pruned = {"streams": {stream_id: {"epoch": epoch, "offset": 2}}}
    await client.subscribe(ident, history=pruned)
    assert await client.receive() == {"identifier": ident, "type": "reject_history"}
    wrong_epoch = {"streams": {stream_id: {"epoch": "0123456789abcdef", "offset": 8}}}
    await client.send({"command": "history", "identifier": ident, "history": wrong_epoch})
    assert await client.receive() == {"identifier": ident, "type": "reject_history"}
    # Still subscribed: live messages flow from here on.
    await publish(database, clock, stream_id, 1, "after")
    [message] = await client.messages(1)
    assert message["message"]["data"]["n"] == "after0"
    assert message["offset"] == 11
    await client.close()


async def test_history_since_a_time_replays_what_was_written_after_it(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    await publish(database, clock, stream_id, 2, "before")
    clock.advance(10)
    since = int(clock.now().timestamp())
    await publish(database, clock, stream_id, 2, "after")
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    await client.subscribe(ident, history={"since": since, "streams": {}})
    got = await client.messages(2)
    assert [m["message"]["data"]["n"] for m in got] == ["after0", "after1"]
    assert (await client.receive())["type"] == "confirm_history"
    await client.close()


async def test_a_restored_session_gets_its_subscriptions_back_and_misses_nothing(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    first = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    sid = (await first.welcome())["sid"]
    ident = store_identifier(tenant)
    await first.subscribe(ident)
    await publish(database, clock, stream_id, 2, "seen")
    seen = await first.messages(2)
    await first.close()
    await publish(database, clock, stream_id, 3, "missed")

    # No token: the sid alone restores the session.
    second = await CableClient.connect(live.base_url, sid=sid)
    welcome = await second.welcome()
    assert welcome["restored"] is True
    assert welcome["restored_ids"] == [ident]
    assert welcome["sid"] != sid
    last = seen[-1]
    await second.send(
        {
            "command": "history",
            "identifier": ident,
            "history": {"streams": {stream_id: {"epoch": last["epoch"], "offset": last["offset"]}}},
        }
    )
    replayed = await second.messages(3)
    assert [m["message"]["data"]["n"] for m in replayed] == ["missed0", "missed1", "missed2"]
    assert (await second.receive())["type"] == "confirm_history"
    await second.close()

    # A sid restores once.
    third = await CableClient.connect(live.base_url, sid=sid)
    assert (await third.receive())["reason"] == "unauthorized"
    await third.close()


async def test_a_session_of_a_revoked_key_is_not_restored(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    first = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    sid = (await first.welcome())["sid"]
    await first.close()
    async with database.transaction() as session:
        kiosk = await session.get(Kiosk, tenant.kiosk.id)
        assert kiosk is not None
        kiosk.status = kiosk.status.DISABLED
    second = await CableClient.connect(live.base_url, sid=sid)
    assert (await second.receive())["reason"] == "unauthorized"
    await second.close()


# --- slow clients --------------------------------------------------------------------------------


async def test_a_stalled_client_is_dropped_too_slow_without_delaying_the_others(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    settings = cable_settings.model_copy(update={"cable_send_queue_max": 16})
    live = await start_server(settings, database, clock)
    try:
        tenant = await make_tenant(database)
        ident = store_identifier(tenant)
        fast = await kiosk_client(live, tenant)
        await fast.subscribe(ident)
        stalled = await kiosk_client(live, tenant)
        await stalled.subscribe(ident)
        stalled.socket.transport.pause_reading()
        # 200 KB a message: the stalled client's socket buffers fill after a few, then its
        # queue does. The fast client reads each batch before the next is written.
        blob = "x" * 200_000
        for batch in range(10):
            async with database.transaction() as session:
                await append_many(
                    session,
                    store_stream(tenant.store.id),
                    [("product.updated", {"n": batch * 10 + i, "blob": blob}) for i in range(10)],
                    at=clock.now(),
                )
            got = await fast.messages(10, wait_s=10)
            assert [m["message"]["data"]["n"] for m in got] == [batch * 10 + i for i in range(10)]
        hub = app_services(live.app).hub
        for _ in range(100):
            if len(hub.connections) == 1:
                break
            await asyncio.sleep(0.05)
        assert len(hub.connections) == 1, "the stalled client is still connected"
        await fast.close()
        stalled.socket.transport.resume_reading()
        await stalled.close()
    finally:
        await live.stop()


# --- remote operations and presence --------------------------------------------------------------


async def test_an_operator_command_reaches_the_kiosk_on_its_channel(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    ident = identifier("KioskChannel")
    await client.subscribe(ident)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        response = await http.post(
            f"/api/v1/kiosks/{tenant.kiosk.id}/commands",
            json={"type": "show_message", "message": "Back in 5", "duration_s": 300},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    body = response.json()["data"]
    assert body["connected"] is True
    assert body["stream_id"] == kiosk_stream(tenant.kiosk.id)
    [message] = await client.messages(1)
    assert message["identifier"] == ident
    assert message["message"]["type"] == "kiosk.command"
    assert message["message"]["data"]["command"] == "show_message"
    assert message["message"]["data"]["message"] == "Back in 5"
    assert message["message"]["data"]["command_id"] == body["command_id"]
    await client.close()


async def told_to_go_for_good(client: CableClient) -> None:
    """The kiosk is told `remote` without reconnect, then its socket closes."""
    assert await client.receive() == {"type": "disconnect", "reason": "remote", "reconnect": False}
    with pytest.raises(ConnectionClosed):
        await client.receive(wait_s=5)
    await client.close()


async def test_an_operator_can_disconnect_a_kiosk_remotely(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        response = await http.post(
            f"/api/v1/kiosks/{tenant.kiosk.id}/disconnect",
            json={"reconnect": False},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    assert response.json()["data"]["connections"] == 1
    await told_to_go_for_good(client)


async def test_disabling_a_kiosk_closes_its_connections_once_committed(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        response = await http.patch(
            f"/api/v1/kiosks/{tenant.kiosk.id}", json={"status": "disabled"}, headers=headers
        )
    assert response.status_code == 200, response.text
    await told_to_go_for_good(client)


async def test_deleting_a_kiosk_closes_its_connections_once_committed(
    live: LiveServer, database: Database
) -> None:
    """A deleted kiosk's keys are gone, and so are the sockets they opened: it does not stay
    connected (and subscribed to its store) until it happens to reconnect."""
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        response = await http.delete(f"/api/v1/kiosks/{tenant.kiosk.id}", headers=headers)
    assert response.status_code == 204, response.text
    await told_to_go_for_good(client)


async def test_revoking_a_key_closes_the_connections_it_opened_and_no_others(
    live: LiveServer, database: Database
) -> None:
    """A stolen key revoked stops at once, also on a socket it already holds; the kiosk's new
    key (a roll in progress) keeps its connection."""
    tenant = await make_tenant(database)
    old = await kiosk_client(live, tenant)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        issued = await http.post(f"/api/v1/kiosks/{tenant.kiosk.id}/keys", json={}, headers=headers)
        assert issued.status_code == 201, issued.text
        new = await CableClient.connect(live.base_url, token=issued.json()["data"]["key"])
        await new.welcome()
        revoked = await http.delete(
            f"/api/v1/kiosks/{tenant.kiosk.id}/keys/{tenant.kiosk_key_id}", headers=headers
        )
    assert revoked.status_code == 200, revoked.text
    await told_to_go_for_good(old)
    ident = identifier("KioskChannel")
    assert (await new.subscribe(ident))["type"] == "confirm_subscription"
    await new.close()


async def test_an_operator_signed_out_is_disconnected_and_one_still_signed_in_is_not(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    colleague = await make_operator(database, Role.ORG_ADMIN, tenant.organization)
    ops = identifier("OpsChannel", organization_id=str(tenant.organization.id))
    clients = []
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        tokens = []
        for operator in (tenant.admin, colleague):
            answer = await http.post(
                "/api/v1/auth/token", json={"email": operator.email, "password": PASSWORD}
            )
            tokens.append(answer.json()["data"])
        for token in tokens:
            client = await CableClient.connect(live.base_url, token=token["access_token"])
            await client.welcome()
            assert (await client.subscribe(ops))["type"] == "confirm_subscription"
            clients.append(client)
        await app_services(live.app).hub.close_revoked_operators()  # both still signed in
        signed_out = await http.post(
            "/api/v1/auth/revoke", json={"refresh_token": tokens[0]["refresh_token"]}
        )
        assert signed_out.status_code == 204, signed_out.text
    await app_services(live.app).hub.close_revoked_operators()
    gone, stays = clients
    assert await gone.receive() == {
        "type": "disconnect",
        "reason": "unauthorized",
        "reconnect": False,
    }
    await stays.nothing_for(0.2)
    await stays.close()
    await gone.close()


async def test_heartbeat_and_presence_show_on_the_store_kiosk_list(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    idle, _, _ = await make_kiosk(database, tenant.store, "Kiosk 2")
    client = await kiosk_client(live, tenant)
    ident = identifier("KioskChannel")
    await client.subscribe(ident)
    heartbeat = {"action": "heartbeat", "app_version": "2.4.1", "health": {"printer": "ok"}}
    await client.send({"command": "message", "identifier": ident, "data": json.dumps(heartbeat)})
    await client.send({"command": "presence", "identifier": store_identifier(tenant)})
    await app_services(live.app).kiosk_activity.flush(database)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        for _ in range(50):
            response = await http.get(f"/api/v1/stores/{tenant.store.id}/kiosks", headers=headers)
            kiosks = {k["id"]: k for k in response.json()["data"]}
            if kiosks[str(tenant.kiosk.id)]["app_version"] == "2.4.1":
                break
            await asyncio.sleep(0.05)
            await app_services(live.app).kiosk_activity.flush(database)
    mine = kiosks[str(tenant.kiosk.id)]
    assert mine["connected"] is True
    assert mine["connected_since"] is not None
    assert mine["app_version"] == "2.4.1"
    assert mine["health"] == {"printer": "ok"}
    assert mine["last_seen_at"] is not None
    assert kiosks[str(idle.id)]["connected"] is False
    await client.close()
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        for _ in range(50):
            response = await http.get(f"/api/v1/kiosks/{tenant.kiosk.id}", headers=headers)
            if response.json()["data"]["connected"] is False:
                break
            await asyncio.sleep(0.05)
    assert response.json()["data"]["connected"] is False
    # Operators hear of it on the organization's ops stream.
    await app_services(live.app).kiosk_activity.flush(database)
    async with database.transaction(write=False) as session:
        ops = await position(session, ops_stream(tenant.organization.id))
    assert ops.offset >= 2


async def test_a_diagnostic_keys_connection_is_neither_seen_nor_present(
    cable_settings: Settings,
    database: Database,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The doctor's key acts as the kiosk on its channel, but its connection, heartbeat and
    disconnect leave the kiosk's last_seen_at, app version, health and presence alone."""
    monkeypatch.setattr("ridgeline.realtime.hub.PRESENCE_REFRESH_S", 0.1)
    live = await start_server(cable_settings, database, clock)
    services = app_services(live.app)
    try:
        tenant = await make_tenant(database)
        async with database.transaction() as session:
            key = await kiosk_keys.issue_key(
                session,
                TenantScope.everything(),
                tenant.kiosk.id,
                KioskKeyCreate(expires_in_s=kiosk_keys.DIAGNOSTIC_KEY_LIFETIME_S),
                now=clock.now(),
                purpose=KioskKeyPurpose.DIAGNOSTIC,
            )
            ops_before = await position(session, ops_stream(tenant.organization.id))
        client = await CableClient.connect(live.base_url, token=key.key)
        await client.welcome()
        ident = identifier("KioskChannel")
        assert (await client.subscribe(ident))["type"] == "confirm_subscription"
        heartbeat = {"action": "heartbeat", "app_version": "doctor", "health": {"printer": "x"}}
        await client.send(
            {"command": "message", "identifier": ident, "data": json.dumps(heartbeat)}
        )
        await asyncio.sleep(0.3)  # presence refreshes every 0.1 s: it had its chances to join
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            headers = await sign_in(http, tenant.admin)
            command = await http.post(
                f"/api/v1/kiosks/{tenant.kiosk.id}/commands",
                json={"type": "reload"},
                headers=headers,
            )
            assert command.status_code == 202, command.text
            assert command.json()["data"]["connected"] is False
            [message] = await client.messages(1)  # it gets the kiosk's messages all the same
            assert message["message"]["data"]["command"] == "reload"
            assert await services.hub.state.present(str(tenant.store.id)) == []
            await client.close()
            await asyncio.sleep(0.3)
            await services.kiosk_activity.flush(database)
            await services.kiosk_key_usage.flush(database)
            response = await http.get(f"/api/v1/kiosks/{tenant.kiosk.id}", headers=headers)
        kiosk = response.json()["data"]
        assert kiosk["connected"] is False
        assert kiosk["connected_since"] is None
        assert (kiosk["last_seen_at"], kiosk["app_version"], kiosk["health"]) == (None, None, None)
        async with database.transaction(write=False) as session:
            stored = await session.get_one(KioskApiKey, key.id)
            ops_after = await position(session, ops_stream(tenant.organization.id))
        assert stored.last_used_at == clock.now()  # the key's own use is still on record
        assert ops_after.offset == ops_before.offset  # no kiosk.presence for operators
    finally:
        await live.stop()


async def test_an_invalid_command_is_answered_with_invalid_request(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    await client.socket.send("{not json")
    assert await client.receive() == {
        "type": "disconnect",
        "reason": "invalid_request",
        "reconnect": False,
    }
    await client.close()


async def test_stopping_the_server_tells_clients_server_restart(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    live = await start_server(cable_settings, database, clock)
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    stopping = asyncio.create_task(live.stop())
    assert await client.receive() == {
        "type": "disconnect",
        "reason": "server_restart",
        "reconnect": True,
    }
    await stopping
    await client.close()


async def test_the_key_and_the_sid_never_reach_the_logs(
    live: LiveServer, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = await make_tenant(database)
    client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
    sid = (await client.welcome())["sid"]
    await client.close()
    restored = await CableClient.connect(live.base_url, sid=sid)
    await restored.welcome()
    await restored.close()
    logged = caplog.text
    assert "/cable?token=[redacted]" in logged  # the handshake line is there, masked
    assert tenant.kiosk_key not in logged
    assert sid not in logged


async def test_support_sees_the_process_cable_status(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    support = await make_operator(database, Role.PLATFORM_ADMIN)
    client = await kiosk_client(live, tenant)
    await client.subscribe(store_identifier(tenant))
    await client.subscribe(identifier("KioskChannel"))
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        response = await http.get("/api/v1/realtime/status", headers=await sign_in(http, support))
        assert response.status_code == 200, response.text
        status = response.json()["data"]
        refused = await http.get(
            "/api/v1/realtime/status", headers=await sign_in(http, tenant.admin)
        )
    assert refused.status_code == 403
    assert status["mode"] == "embedded"
    assert status["backplane_connected"] is True
    assert status["connections"] == status["kiosk_connections"] == 1
    assert status["connections_by_protocol"] == {"actioncable-v1-ext-json": 1}
    assert status["subscriptions_by_channel"] == {"StoreChannel": 1, "KioskChannel": 1}
    assert status["streams_followed"] == 2
    await client.close()


async def test_a_failed_feed_read_is_retried_by_the_poll(
    live: LiveServer, database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    await client.subscribe(store_identifier(tenant))
    real_read = streams_module.read_since
    failures = 0

    async def flaky_read(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise OSError("database connection reset")
        return await real_read(*args, **kwargs)

    monkeypatch.setattr("ridgeline.realtime.history.read_since", flaky_read)
    await publish(database, clock, store_stream(tenant.store.id), 1)
    [message] = await client.messages(1, wait_s=5)  # the poll (0.5 s here) reads again
    assert message["message"]["data"] == {"n": "x0"}
    assert failures == 1
    await client.close()


async def test_a_failed_history_read_is_rejected_and_live_delivery_goes_on(
    live: LiveServer, database: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replay whose database read fails must neither leave a silent gap nor leave the
    subscription catching up forever (it would get no live message again)."""
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    await publish(database, clock, stream_id, 2, "old")
    epoch, offset = await position_of(database, stream_id)
    await publish(database, clock, stream_id, 2, "missed")
    real_read = streams_module.read_since

    async def failing_read(*args: Any, **kwargs: Any) -> Any:
        raise OSError("database connection reset")

    monkeypatch.setattr("ridgeline.realtime.history.read_since", failing_read)
    client = await kiosk_client(live, tenant)
    ident = store_identifier(tenant)
    history = {"since": 0, "streams": {stream_id: {"epoch": epoch, "offset": offset}}}
    assert (await client.subscribe(ident, history=history))["type"] == "confirm_subscription"
    assert await client.receive() == {"identifier": ident, "type": "reject_history"}
    monkeypatch.setattr("ridgeline.realtime.history.read_since", real_read)
    await publish(database, clock, stream_id, 1, "live")
    [message] = await client.messages(1)
    assert message["offset"] == offset + 3
    assert message["message"]["data"]["n"] == "live0"
    await client.close()


async def test_remote_operations_still_work_when_presence_cannot_be_read(
    live: LiveServer, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scaled mode with Redis away: the disconnect still goes out, the count is unknown."""
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)

    async def redis_down(store_id: str) -> list[Any]:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(app_services(live.app).hub.state, "present", redis_down)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        headers = await sign_in(http, tenant.admin)
        command = await http.post(
            f"/api/v1/kiosks/{tenant.kiosk.id}/commands", json={"type": "reload"}, headers=headers
        )
        response = await http.post(
            f"/api/v1/kiosks/{tenant.kiosk.id}/disconnect", json={}, headers=headers
        )
    assert command.status_code == 202, command.text
    assert command.json()["data"]["connected"] is None
    assert response.status_code == 202, response.text
    assert response.json()["data"]["connections"] is None
    assert (await client.receive())["reason"] == "remote"
    await client.close()


async def test_order_channel_is_for_the_kiosk_that_took_the_order(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    other = await make_tenant(database)
    _, neighbour_key, _ = await make_kiosk(database, tenant.store, "Kiosk 2")
    ident = identifier("OrderChannel", order_id=str(tenant.order_id))
    for key in (other.kiosk_key, neighbour_key):
        stranger = await CableClient.connect(live.base_url, token=key)
        await stranger.welcome()
        assert (await stranger.subscribe(ident))["type"] == "reject_subscription"
        await stranger.close()
    client = await kiosk_client(live, tenant)
    missing = identifier("OrderChannel", order_id=str(other.order_id))
    assert (await client.subscribe(missing))["type"] == "reject_subscription"
    assert (await client.subscribe(ident))["type"] == "confirm_subscription"
    async with database.transaction() as session:
        await append(
            session,
            order_stream(tenant.order_id),
            "order.status",
            {"order_id": str(tenant.order_id), "status": "submitted"},
            at=clock.now(),
        )
    [message] = await client.messages(1)
    assert message["identifier"] == ident
    assert message["message"]["data"]["status"] == "submitted"
    await client.close()


async def test_hosts_outside_the_allowed_list_are_refused_before_the_cable_session(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    """`ridgeline serve` hands `/cable` to its session outside the app's middleware: the
    allowed-hosts check still comes first."""
    settings = cable_settings.model_copy(update={"allowed_hosts": ["kiosk.example.com"]})
    live = await start_server(settings, database, clock)
    try:
        tenant = await make_tenant(database)
        with pytest.raises(InvalidStatus) as refused:
            await CableClient.connect(live.base_url, token=tenant.kiosk_key)  # Host: 127.0.0.1
        assert refused.value.response.status_code == 403
    finally:
        await live.stop()


async def test_a_connected_socket_keeps_no_handshake_headers(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    client = await kiosk_client(live, tenant)
    try:
        sockets = [
            c
            for c in live.server.server_state.connections
            if type(c).__name__ == "WebSocketsSansIOProtocol"
        ]
        assert len(sockets) == 1
        server_socket: Any = sockets[0]
        assert server_socket.scope["headers"] == []
        assert server_socket.request is None
        assert server_socket.response is None
        # And the socket goes on working without them.
        ident = identifier("StoreChannel", store_id=str(tenant.store.id))
        assert (await client.subscribe(ident))["type"] == "confirm_subscription"
    finally:
        await client.close()
