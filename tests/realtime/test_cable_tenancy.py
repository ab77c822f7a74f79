"""`/cable` across tenants, the way the REST route walk does it for every route: strangers to
organization A (a kiosk, an org admin and a viewer of organization B, and a store manager of
another store of A) try every channel of A and send every command naming it. Every
subscription is rejected, every history request refused, every other command is answered with
silence, and nothing published on A's streams reaches them. A channel added to `CHANNELS`
without a row here fails the walk."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models.operator import Role
from ridgeline.models.organization import Organization
from ridgeline.models.store import Store
from ridgeline.realtime.channels import (
    CHANNELS,
    KIOSK_CHANNEL,
    OPS_CHANNEL,
    ORDER_CHANNEL,
    STORE_CHANNEL,
)
from ridgeline.realtime.protocol import COMMANDS
from ridgeline.realtime.streams import append, kiosk_stream, ops_stream, order_stream, store_stream
from tests.factories import Tenant, make_kiosk, make_operator, make_store, make_tenant, sign_in
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import LiveServer


@dataclass(frozen=True)
class Target:
    """One channel of organization A: how a stranger names it, and the stream behind it."""

    identifier: str
    stream_id: str


def targets(tenant: Tenant) -> dict[str, Target]:
    """Every channel, naming A's objects. `KioskChannel` takes no id (it is always the caller's
    own), so for a stranger it names nothing of A: its row checks that an operator is refused
    and that A's kiosk stream never reaches a kiosk subscribed to its own."""
    return {
        STORE_CHANNEL: Target(
            identifier(STORE_CHANNEL, store_id=str(tenant.store.id)), store_stream(tenant.store.id)
        ),
        KIOSK_CHANNEL: Target(identifier(KIOSK_CHANNEL), kiosk_stream(tenant.kiosk.id)),
        ORDER_CHANNEL: Target(
            identifier(ORDER_CHANNEL, order_id=str(tenant.order_id)),
            order_stream(tenant.order_id),
        ),
        OPS_CHANNEL: Target(
            identifier(OPS_CHANNEL, organization_id=str(tenant.organization.id)),
            ops_stream(tenant.organization.id),
        ),
    }


@dataclass
class Stranger:
    name: str
    client: CableClient
    is_kiosk: bool
    # A channel the stranger follows: subscribing to it again, answered in order, proves that
    # the commands sent before were answered with nothing.
    own: str


def _command(name: str, ident: str) -> dict[str, object]:
    frame: dict[str, object] = {"command": name, "identifier": ident}
    if name == "message":
        frame["data"] = '{"action":"heartbeat","app_version":"stranger/1"}'
    if name == "history":
        frame["history"] = {"since": 0}
    if name == "presence":
        frame["presence"] = {}
    return frame


async def test_no_channel_of_another_tenant_answers_a_stranger(
    live: LiveServer, database: Database, clock: FakeClock
) -> None:
    base_url = live.base_url
    owner = await make_tenant(database)
    other = await make_tenant(database)
    side_store = await make_store(database, owner.organization, "Side St")
    walk = targets(owner)
    assert set(walk) == set(CHANNELS), "every channel needs a row in the walk"
    assert set(COMMANDS) == {
        "subscribe",
        "unsubscribe",
        "message",
        "history",
        "pong",
        "join",
        "leave",
        "presence",
    }, "a new command needs a case in the walk"

    async def connect(name: str, token: str, is_kiosk: bool, own: str) -> Stranger:
        client = await CableClient.connect(base_url, token=token)
        await client.welcome()
        assert (await client.subscribe(own))["type"] == "confirm_subscription", name
        return Stranger(name, client, is_kiosk, own)

    async def operator_token(
        role: Role, organization: Organization, stores: list[Store] | None = None
    ) -> str:
        operator = await make_operator(database, role, organization, stores=stores)
        async with httpx.AsyncClient(base_url=base_url) as http:
            headers = await sign_in(http, operator)
        return headers["Authorization"].removeprefix("Bearer ")

    other_ops = identifier(OPS_CHANNEL, organization_id=str(other.organization.id))
    _, side_key, _ = await make_kiosk(database, side_store, "Side kiosk")
    manager_token = await operator_token(
        Role.STORE_MANAGER, owner.organization, stores=[side_store]
    )
    strangers = [
        await connect("kiosk of B", other.kiosk_key, True, identifier(KIOSK_CHANNEL)),
        await connect(
            "org admin of B",
            await operator_token(Role.ORG_ADMIN, other.organization),
            False,
            other_ops,
        ),
        await connect(
            "viewer of B", await operator_token(Role.VIEWER, other.organization), False, other_ops
        ),
        await connect("kiosk of A's other store", side_key, True, identifier(KIOSK_CHANNEL)),
    ]
    # A manager of another store of A may follow no organization-wide channel: its sentinel is
    # a subscription refused, which answers in order just the same.
    manager = await CableClient.connect(base_url, token=manager_token)
    await manager.welcome()

    for stranger in strangers:
        for channel, target in walk.items():
            if stranger.is_kiosk and channel == KIOSK_CHANNEL:
                continue  # its own kiosk stream, already subscribed
            reply = await stranger.client.subscribe(target.identifier)
            assert reply["type"] == "reject_subscription", (stranger.name, channel)
            for name in sorted(COMMANDS - {"subscribe", "pong"}):
                await stranger.client.send(_command(name, target.identifier))
                if name == "history":
                    refused = await stranger.client.receive()
                    assert refused["type"] == "reject_history", (stranger.name, channel)
            # Commands are answered in order: anything said about A's channel comes before this
            # confirmation (of a fresh subscription: a duplicate one is ignored).
            await stranger.client.send({"command": "unsubscribe", "identifier": stranger.own})
            reply = await stranger.client.subscribe(stranger.own)
            assert reply == {"identifier": stranger.own, "type": "confirm_subscription"}, (
                stranger.name,
                channel,
            )
    for channel, target in walk.items():
        assert (await manager.subscribe(target.identifier))["type"] == "reject_subscription", (
            "manager of another store",
            channel,
        )

    # The stream behind every channel of A gets a message; A's own kiosk, subscribed to its store
    # and its kiosk channel, hears it, which proves it was delivered; no stranger hears anything.
    owner_client = await CableClient.connect(base_url, token=owner.kiosk_key)
    await owner_client.welcome()
    for channel in (STORE_CHANNEL, KIOSK_CHANNEL):
        assert (await owner_client.subscribe(walk[channel].identifier))[
            "type"
        ] == "confirm_subscription"
    async with database.transaction() as session:
        for target in walk.values():
            await append(session, target.stream_id, "product.updated", {"n": 1}, at=clock.now())
    assert len(await owner_client.messages(2)) == 2
    for stranger in strangers:
        await stranger.client.nothing_for(0.3)
        await stranger.client.close()
    await manager.nothing_for(0.1)
    await manager.close()
    await owner_client.close()
