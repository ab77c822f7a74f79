"""Rotating a store's webhook token: the new URL works at once, the previous one keeps working
until its grace period ends and is then refused like any wrong token; only an admin of the
store's organization may rotate it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import Role
from ridgeline.models.pos_event import PosEvent
from ridgeline.webhooks import service as webhooks
from tests.assertions import assert_error, data_of
from tests.factories import make_operator, sign_in
from tests.simulated_pos import Harness
from tests.webhooks.conftest import (
    SimulatedStore,
    blaze_event,
    configure,
    connected_store,
    count,
    hook,
    legacy_webhook_url,
)

GRACE_S = 24 * 3600


def rotate_path(store_id: uuid.UUID) -> str:
    return f"/api/v1/stores/{store_id}/pos/webhook-token/rotate"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def price_change_pushed(harness: Harness, store: SimulatedStore) -> dict[str, Any]:
    """Changes a price at the POS and returns the simulator's delivery of the push it made."""
    control = f"/_sim/stores/{store.sim_id}"
    listed = (await harness.control.get(f"{control}/products", params={"limit": 1})).json()
    target = listed["products"][0]["id"]
    price = uuid.uuid4().int % 10_000 + 100
    response = await harness.control.patch(
        f"{control}/products/{target}", json={"price_cents": price}
    )
    assert response.status_code == 200, response.text
    await harness.sim.simulator.pusher.drain()
    deliveries: list[dict[str, Any]] = (await harness.control.get(f"{control}/deliveries")).json()[
        "deliveries"
    ]
    return deliveries[-1]


async def point_portal_at(harness: Harness, store: SimulatedStore, url: str) -> None:
    """What an operator does in the vendor's portal (played by the simulator's control API):
    the store's pushes go to `url` only."""
    path = f"/_sim/stores/{store.sim_id}/webhooks"
    for target in (await harness.control.get(path)).json()["webhooks"]:
        removed = await harness.control.delete(f"{path}/{target['id']}")
        assert removed.status_code < 300, removed.text
    added = await harness.control.post(path, json={"url": url})
    assert added.status_code == 201, added.text


async def test_the_previous_url_works_until_the_grace_period_ends(
    database: Database, harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    store = await connected_store(database, harness, "treez")
    headers = await sign_in(harness.client, store.tenant.admin)
    setup_path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    old_url = data_of(await harness.client.get(setup_path, headers=headers))["url"]
    # Until its first rotation a store's URL is the one derived from RIDGELINE_SECRET_KEY.
    assert old_url == legacy_webhook_url(settings, store.store_id)
    await point_portal_at(harness, store, old_url)
    assert (await price_change_pushed(harness, store))["status"] == 200

    rotated = data_of(await harness.client.post(rotate_path(store.store_id), headers=headers))
    new_url = rotated["url"]
    assert new_url != old_url
    assert rotated["registration"] == "vendor_portal"
    grace_ends = clock.now() + timedelta(seconds=GRACE_S)
    assert rotated["previous_token_valid_until"] == grace_ends.isoformat().replace("+00:00", "Z")
    # The URL shown from now on is the new one, and shown again the same.
    assert data_of(await harness.client.get(setup_path, headers=headers))["url"] == new_url

    # During the grace period the POS still pushing to the old URL is heard.
    clock.advance(GRACE_S - 1)
    pushed = await price_change_pushed(harness, store)
    assert (pushed["url"], pushed["status"]) == (old_url, 200)
    # Once it ends, it is refused.
    clock.advance(1)
    pushed = await price_change_pushed(harness, store)
    assert (pushed["url"], pushed["status"]) == (old_url, 401)
    assert pushed["delivered"] is False

    await point_portal_at(harness, store, new_url)
    pushed = await price_change_pushed(harness, store)
    assert (pushed["url"], pushed["status"]) == (new_url, 200)
    assert await count(database, PosEvent, PosEvent.store_id == store.store_id) == 3


async def test_a_blaze_store_registers_its_new_url_through_us(
    database: Database, harness: Harness
) -> None:
    store = await connected_store(database, harness, "blaze")
    headers = await sign_in(harness.client, store.tenant.admin)
    register_path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    old_url = data_of(await harness.client.post(register_path, headers=headers))["url"]

    rotated = data_of(await harness.client.post(rotate_path(store.store_id), headers=headers))
    assert rotated["registration"] == "api"
    registered = data_of(await harness.client.post(register_path, headers=headers))
    assert registered["registered"] is True
    assert registered["url"] == rotated["url"] != old_url
    targets = (await harness.control.get(f"/_sim/stores/{store.sim_id}/webhooks")).json()
    assert {t["url"] for t in targets["webhooks"]} == {rotated["url"]}
    pushed = await price_change_pushed(harness, store)
    assert (pushed["url"], pushed["status"]) == (rotated["url"], 200)


async def test_after_a_rotation_wrong_tokens_and_unknown_stores_are_still_one_401(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    other = await configure(database, app, "blaze")
    headers = await sign_in(client, tenant.admin)
    legacy = token_of(legacy_webhook_url(settings, tenant.store.id))
    first = token_of(
        data_of(await client.post(rotate_path(tenant.store.id), headers=headers))["url"]
    )
    second = token_of(
        data_of(await client.post(rotate_path(tenant.store.id), headers=headers))["url"]
    )
    other_headers = await sign_in(client, other.admin)
    others = token_of(
        data_of(await client.post(rotate_path(other.store.id), headers=other_headers))["url"]
    )

    # The current token and the one it replaced (within its grace) are accepted.
    for token, event_id in [(second, "evt-1"), (first, "evt-2")]:
        response = await client.post(
            hook(settings, tenant.store.id, token), json=blaze_event(event_id)
        )
        assert response.status_code == 200, response.text
    attempts = [
        hook(settings, tenant.store.id, legacy),  # two rotations ago: no longer accepted
        hook(settings, tenant.store.id, others),  # another store's current token
        hook(settings, tenant.store.id, "0" * 43),
        hook(settings, uuid.uuid4(), second),  # a store that does not exist
    ]
    bodies = []
    for url in attempts:
        body = assert_error(
            await client.post(url, json=blaze_event("evt-3")), 401, "INVALID_WEBHOOK_TOKEN"
        )
        body["error"]["details"].pop("request_id")
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    assert await count(database, PosEvent) == 2


async def test_only_an_admin_of_the_stores_organization_rotates_its_token(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    other = await configure(database, app, "blaze")
    url = rotate_path(tenant.store.id)
    # Another organization's admin does not see the store at all.
    assert_error(
        await client.post(url, headers=await sign_in(client, other.admin)), 404, "NOT_FOUND"
    )
    for role, stores in [(Role.VIEWER, None), (Role.STORE_MANAGER, [tenant.store])]:
        operator = await make_operator(database, role, tenant.organization, stores=stores)
        response = await client.post(url, headers=await sign_in(client, operator))
        assert_error(response, 403, "FORBIDDEN")
    assert_error(await client.post(url), 401, "AUTHENTICATION_REQUIRED")
    # None of those changed the token: the store's URL is still the one it had.
    response = await client.post(hook(settings, tenant.store.id), json=blaze_event())
    assert response.status_code == 200, response.text


async def test_two_rotations_at_once_take_turns(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    """The second of two racing rotations waits for the first and keeps its token as the
    previous one: whichever URL the first caller gave the POS keeps working through the grace
    period. (Without the row lock both would keep the same older token as the previous one.)"""
    tenant = await configure(database, app, "blaze")
    cipher = app_services(app).pos_connector.cipher

    async def rotation(session: AsyncSession) -> str:
        store = await webhooks.rotate_token(
            session,
            TenantScope.everything(),
            tenant.store.id,
            settings=settings,
            cipher=cipher,
            clock=clock,
        )
        return webhooks.current_webhook_token(store, settings, cipher)

    async def second_rotation() -> str:
        async with database.transaction() as session:
            return await rotation(session)

    async with database.transaction() as session:
        first = await rotation(session)
        racing = asyncio.create_task(second_rotation())
        # It cannot get past the first's lock (PostgreSQL) or write transaction (SQLite).
        done, _ = await asyncio.wait({racing}, timeout=0.5)
        assert not done
    second = await racing
    assert second != first
    for token, event_id in [(second, "evt-1"), (first, "evt-2")]:
        response = await client.post(
            hook(settings, tenant.store.id, token), json=blaze_event(event_id)
        )
        assert response.status_code == 200, response.text
