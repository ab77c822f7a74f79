"""POS webhooks: the store's URL authenticates the POS, an event is stored first and once, its
job processes it once (a product event asks for one incremental sync), operators see the events
and the URL, and end to end the simulator's own pushes bring a price change to the catalog."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import func, select

from ridgeline.app import app_services
from ridgeline.cli.demo import register_webhooks, seed_demo, serving, simulator_stores
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import JobContext, JobRegistry, JobServices, RetryLater, Worker
from ridgeline.models import Job, Product, ProductVariant, Role, Store, StreamMessage, SyncKind
from ridgeline.models.pos_event import PosEvent
from ridgeline.models.sync import SyncTrigger
from ridgeline.pos import service as pos_service
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.realtime.streams import store_stream
from ridgeline.sync.repository import SYNC_JOB
from ridgeline.sync.service import run_sync
from ridgeline.tasks import job_registry, job_services
from ridgeline.webhooks import tasks as webhook_jobs
from ridgeline.webhooks.processing import process_event
from ridgeline.webhooks.service import PROCESS_EVENT_JOB, webhook_token, webhook_url
from ridgeline.webhooks.tasks import EventPayload, process_pos_event, webhook_tasks
from tests.assertions import assert_error, data_of
from tests.factories import make_operator, sign_in
from tests.net import free_port
from tests.simulated_pos import Harness
from tests.sync.conftest import SyncTenant, make_sync_tenant

UNREACHABLE = "http://127.0.0.1:9"
CONFIGS: dict[str, dict[str, Any]] = {
    "blaze": {"base_url": UNREACHABLE, "partner_key": "p", "api_key": "k", "shop_id": "shop-1"},
    "treez": {},  # configured from the simulator where needed
    "flowhub": {
        "base_url": UNREACHABLE,
        "client_id": "c",
        "api_key": "k",
        "location_id": "loc-1",
        "oauth_client_id": "o",
        "oauth_client_secret": "s",
        "audience": "https://api.flowhub.co",
    },
    "dutchie": {"base_url": UNREACHABLE, "api_key": "k", "consumer_key": "c"},
}


async def configure(
    database: Database, app: FastAPI, provider: str, config: dict[str, Any] | None = None
) -> SyncTenant:
    tenant = await make_sync_tenant(database)
    body = StorePosUpdate(provider=provider, config=config or CONFIGS[provider])
    async with database.transaction() as session:
        await pos_service.configure(
            session,
            TenantScope.everything(),
            tenant.store.id,
            body,
            cipher=app_services(app).pos_connector.cipher,
            now=datetime.now(UTC),
        )
    return tenant


def hook(settings: Settings, store_id: uuid.UUID, token: str | None = None) -> str:
    token = webhook_token(settings.secret_key, store_id) if token is None else token
    return f"/api/v1/pos-webhooks/{store_id}?token={token}"


def blaze_event(event_id: str = "evt-1", **changes: Any) -> dict[str, Any]:
    return {
        "webHookType": "UPDATE_PRODUCT",
        "shopId": "shop-1",
        "eventId": event_id,
        "data": {"id": "p-1", "name": "House Flower"},
        **changes,
    }


async def count(database: Database, model: Any, *where: Any) -> int:
    async with database.transaction(write=False) as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def sync_jobs(database: Database) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == SYNC_JOB))).all()
    return [job.payload for job in jobs]


def webhook_worker(database: Database, clock: FakeClock) -> Worker:
    """Runs the events' jobs; the syncs they ask for stay waiting (these stores' POS is not
    reachable), as a sync that is slow to start would."""
    registry = JobRegistry()
    registry.include(webhook_tasks)

    @registry.handler(SYNC_JOB)
    async def sync_waits(ctx: JobContext, payload: dict[str, Any]) -> None:
        raise RetryLater(3600, "not run in this test")

    # One job at a time, oldest first: events delivered before a sync job was queued are
    # processed before it is claimed (with several at once, an event could see that sync
    # `running` and wait for it, which is what the processing does, but not what these tests
    # are about).
    return Worker(database, registry, clock=clock, rng=random.Random(4), concurrency=1)


async def test_a_redelivered_event_is_stored_once_and_processed_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    url = hook(settings, tenant.store.id)
    first = data_of(await client.post(url, json=blaze_event()))
    again = data_of(await client.post(url, json=blaze_event()))
    assert first["duplicate"] is False
    assert again == {"event_id": first["event_id"], "duplicate": True}
    assert await count(database, PosEvent) == 1
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 1

    await webhook_worker(database, clock).run_until_idle()
    async with database.transaction(write=False) as session:
        event = await session.get(PosEvent, uuid.UUID(first["event_id"]))
    assert event is not None
    assert event.processed_at is not None
    assert event.error is None
    assert event.external_id == f"{tenant.store.id}:evt-1"
    assert event.event_type == "UPDATE_PRODUCT"
    assert event.payload == blaze_event()
    assert await sync_jobs(database) == [
        {"store_id": str(tenant.store.id), "kind": "incremental", "trigger": "webhook"}
    ]

    # Delivered once more after processing: still one row, no new job, nothing queued.
    assert data_of(await client.post(url, json=blaze_event()))["duplicate"] is True
    await webhook_worker(database, clock).run_until_idle()
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 1
    assert len(await sync_jobs(database)) == 1


async def test_a_burst_of_product_events_asks_for_one_sync(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    for n in range(3):
        response = await client.post(hook(settings, tenant.store.id), json=blaze_event(f"e{n}"))
        assert data_of(response)["duplicate"] is False
    await webhook_worker(database, clock).run_until_idle()
    assert await count(database, PosEvent, PosEvent.processed_at.is_not(None)) == 3
    assert len(await sync_jobs(database)) == 1


def job_context(database: Database, clock: FakeClock) -> JobContext:
    return JobContext(
        job_id=uuid.uuid4(),
        kind=PROCESS_EVENT_JOB,
        attempt=1,
        max_attempts=5,
        enqueued_at=clock.now(),
        worker_id="test",
        database=database,
        clock=clock,
        services=JobServices(),
    )


async def test_a_job_that_runs_twice_processes_the_event_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = await configure(database, app, "blaze")
    events = []
    for name in ("one", "two"):
        response = await client.post(hook(settings, tenant.store.id), json=blaze_event(name))
        events.append(EventPayload(event_id=data_of(response)["event_id"]))
    processed: list[uuid.UUID] = []

    async def counting(session: Any, event: PosEvent, **kwargs: Any) -> Any:
        processed.append(event.id)
        return await process_event(session, event, **kwargs)

    monkeypatch.setattr(webhook_jobs, "process_event", counting)

    # One after the other: the second run finds it processed and leaves it as it was.
    await process_pos_event(job_context(database, clock), events[0])
    async with database.transaction(write=False) as session:
        first = await session.get(PosEvent, events[0].event_id)
    clock.advance(30)
    await process_pos_event(job_context(database, clock), events[0])
    async with database.transaction(write=False) as session:
        later = await session.get(PosEvent, events[0].event_id)
    assert first is not None
    assert later is not None
    assert later.processed_at == first.processed_at
    # At the same time: the event is locked while it is processed, so one run does it.
    await asyncio.gather(
        *(process_pos_event(job_context(database, clock), events[1]) for _ in range(3))
    )
    assert sorted(processed) == sorted(e.event_id for e in events)
    assert len(await sync_jobs(database)) == 1


async def test_a_wrong_token_or_unknown_store_is_one_401_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    other = await configure(database, app, "blaze")
    unknown = uuid.uuid4()
    attempts = [
        f"/api/v1/pos-webhooks/{tenant.store.id}",  # no token
        hook(settings, tenant.store.id, token=""),
        hook(settings, tenant.store.id, token="0" * 64),
        hook(settings, tenant.store.id, token=webhook_token(settings.secret_key, other.store.id)),
        hook(settings, tenant.store.id, token=webhook_token("another-secret", tenant.store.id)),
        hook(settings, unknown),  # the right token for a store that does not exist
    ]
    bodies = []
    for url in attempts:
        body = assert_error(
            await client.post(url, json=blaze_event()), 401, "INVALID_WEBHOOK_TOKEN"
        )
        body["error"]["details"].pop("request_id")
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0


async def test_bodies_that_are_not_events_are_refused_and_store_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    blaze = await configure(database, app, "blaze")
    treez = await configure(database, app, "blaze")
    flowhub = await configure(database, app, "flowhub")
    async with database.transaction() as session:
        store = await session.get(Store, treez.store.id)
        assert store is not None
        store.pos_provider = "treez"  # the endpoint reads only the provider of a Treez store
    cases: list[tuple[SyncTenant, bytes]] = [
        (blaze, b"not json"),
        (blaze, b"\xff\xfe\x00"),
        (blaze, b""),
        (blaze, b"[1, 2]"),
        (blaze, json.dumps(blaze_event(eventId=None)).encode()),
        (blaze, json.dumps(blaze_event(eventId="  ")).encode()),
        (blaze, json.dumps(blaze_event(eventId="x" * 200)).encode()),
        (blaze, json.dumps(blaze_event(webHookType="DELETE_EVERYTHING")).encode()),
        (blaze, json.dumps({k: v for k, v in blaze_event().items() if k != "shopId"}).encode()),
        (treez, json.dumps({"event_type": "PRODUCT", "data": {}}).encode()),
        (treez, json.dumps({"event_type": "INVOICE", "event_id": "e1"}).encode()),
        (flowhub, json.dumps({"orderId": "o-1", "externalId": "RL-1"}).encode()),
        (flowhub, json.dumps({"orderId": ["o-1"], "status": "ready"}).encode()),
    ]
    for tenant, content in cases:
        response = await client.post(
            hook(settings, tenant.store.id),
            content=content,
            headers={"content-type": "application/json"},
        )
        body = assert_error(response, 400, "POS_EVENT_INVALID")
        assert body["error"]["details"]["reason"], content
    too_big = b'{"pad": "' + b"x" * settings.max_body_bytes + b'"}'
    response = await client.post(hook(settings, blaze.store.id), content=too_big)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0

    # Any media type: a POS that labels its JSON otherwise is understood.
    response = await client.post(
        hook(settings, blaze.store.id),
        content=json.dumps(blaze_event()),
        headers={"content-type": "text/plain; charset=utf-8"},
    )
    assert data_of(response)["duplicate"] is False


async def test_a_blaze_event_from_another_shop_is_refused(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    response = await client.post(
        hook(settings, tenant.store.id), json=blaze_event(shopId="someone-else")
    )
    assert_error(response, 403, "POS_WEBHOOK_SHOP_MISMATCH")
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0


async def test_dutchie_and_a_store_without_pos_have_no_webhooks(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    dutchie = await configure(database, app, "dutchie")
    bare = await make_sync_tenant(database)
    response = await client.post(hook(settings, dutchie.store.id), json=blaze_event())
    assert_error(response, 409, "POS_WEBHOOKS_UNSUPPORTED")
    response = await client.post(hook(settings, bare.store.id), json=blaze_event())
    assert_error(response, 409, "POS_NOT_CONFIGURED")
    headers = await sign_in(client, dutchie.admin)
    for method in ("GET", "POST"):
        path = f"/api/v1/stores/{dutchie.store.id}/pos/webhooks"
        response = await client.request(method, path, headers=headers)
        assert_error(response, 409, "POS_WEBHOOKS_UNSUPPORTED")
    assert await count(database, PosEvent) == 0


async def test_flowhub_postbacks_are_kept_once_per_order_status(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "flowhub")
    url = hook(settings, tenant.store.id)

    def postback(status: str) -> dict[str, Any]:
        return {"orderId": "o-7", "externalId": "RL-ABC", "status": status, "updatedAt": "x"}

    first = data_of(await client.post(url, json=postback("started")))
    assert data_of(await client.post(url, json=postback("started")))["duplicate"] is True
    clock.advance(1)
    assert data_of(await client.post(url, json=postback("ready")))["duplicate"] is False
    await webhook_worker(database, clock).run_until_idle()
    assert await sync_jobs(database) == []  # order events never touch the catalog

    headers = await sign_in(client, tenant.admin)
    events = data_of(
        await client.get(f"/api/v1/stores/{tenant.store.id}/pos-events", headers=headers)
    )
    assert [(e["external_id"], e["kind"], e["outcome"]) for e in events] == [
        # o-7 is no order of ours: processed (as an unknown order), not an error.
        (f"{tenant.store.id}:o-7:started", "order", "unknown order"),
        (f"{tenant.store.id}:o-7:ready", "order", "unknown order"),
    ]
    assert [e["error"] for e in events] == [None, None]
    assert events[0]["id"] == first["event_id"]
    assert events[0]["event_type"] == "ORDER_POSTBACK"


async def test_operators_page_the_events_and_filter_by_processed(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    for n in range(3):
        await client.post(hook(settings, tenant.store.id), json=blaze_event(f"e{n}"))
        clock.advance(1)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    headers = await sign_in(client, viewer)
    path = f"/api/v1/stores/{tenant.store.id}/pos-events"
    waiting = data_of(await client.get(path, params={"processed": "false"}, headers=headers))
    assert [e["external_id"].split(":")[1] for e in waiting] == ["e0", "e1", "e2"]
    assert all(e["processed_at"] is None and e["outcome"] is None for e in waiting)

    await webhook_worker(database, clock).run_until_idle()
    assert data_of(await client.get(path, params={"processed": "false"}, headers=headers)) == []
    seen: list[str] = []
    outcomes: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "processed": "true"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        body = response.json()
        seen += [e["external_id"].split(":")[1] for e in data_of(response)]
        outcomes += [e["outcome"] for e in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ["e0", "e1", "e2"]
    # One incremental sync for the three: the first queued it, the others found it waiting.
    assert outcomes == ["catalog sync queued"] + ["catalog sync already waiting"] * 2
    # The webhook URL is the org admin's: it carries the token.
    response = await client.get(f"/api/v1/stores/{tenant.store.id}/pos/webhooks", headers=headers)
    assert_error(response, 403, "FORBIDDEN")


async def test_the_token_never_reaches_the_logs(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = await configure(database, app, "blaze")
    token = webhook_token(settings.secret_key, tenant.store.id)
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        await client.post(hook(settings, tenant.store.id), json=blaze_event())
        await client.post(hook(settings, tenant.store.id, token=token[::-1]), json=blaze_event())
    assert any(line["event"] == "http_request_finished" for line in logs)
    for text in (repr(logs), caplog.text):  # ours, and every library's (httpx logs URLs)
        assert token not in text
        assert token[::-1] not in text


# --- end to end: the simulator pushes to our app ---------------------------------------------


@dataclass
class SimulatedStore:
    tenant: SyncTenant
    sim_id: str
    summary: dict[str, Any]

    @property
    def store_id(self) -> uuid.UUID:
        return self.tenant.store.id


async def connected_store(database: Database, harness: Harness, dialect: str) -> SimulatedStore:
    response = await harness.control.post("/_sim/stores", json={"dialect": dialect, "products": 6})
    assert response.status_code == 201, response.text
    summary = response.json()
    tenant = await configure(database, harness.app, dialect, summary["config"])
    return SimulatedStore(tenant, summary["id"], summary)


async def product_updates(database: Database, store: SimulatedStore) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        rows = (
            await session.scalars(
                select(StreamMessage)
                .where(StreamMessage.stream_id == store_stream(store.store_id))
                .order_by(StreamMessage.offset)
            )
        ).all()
    return [row.payload for row in rows if row.payload["type"] == "product.updated"]


async def price_change_reaches_the_catalog(
    database: Database, harness: Harness, store: SimulatedStore, clock: FakeClock
) -> None:
    """The store's first sync, then a price change at the POS: the simulator pushes it, the
    worker processes the event and runs the incremental sync it asked for."""
    await run_sync(
        database,
        harness.connector,
        store.store_id,
        SyncKind.FULL,
        SyncTrigger.OPERATOR,
        clock=clock,
    )
    control = f"/_sim/stores/{store.sim_id}"
    target = (await harness.control.get(f"{control}/products", params={"limit": 1})).json()[
        "products"
    ][0]["id"]
    clock.advance(5)
    response = await harness.control.patch(
        f"{control}/products/{target}", json={"price_cents": 12_345}
    )
    assert response.status_code == 200, response.text
    await harness.sim.simulator.pusher.drain()
    deliveries = (await harness.control.get(f"{control}/deliveries")).json()["deliveries"]
    assert [(d["status"], d["delivered"]) for d in deliveries] == [(200, True)]
    assert await count(database, PosEvent, PosEvent.store_id == store.store_id) == 1

    worker = Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(6),
        services=job_services(harness.connector),
    )
    assert await worker.run_until_idle() == 2  # the event, then the sync it asked for
    async with database.transaction(write=False) as session:
        prices = (
            await session.scalars(
                select(ProductVariant.price_cents)
                .join(Product, Product.id == ProductVariant.product_id)
                .where(Product.store_id == store.store_id, Product.external_id == target)
            )
        ).all()
    assert 12_345 in prices
    updates = [
        u for u in await product_updates(database, store) if u["data"]["external_id"] == target
    ]
    assert len(updates) == 1
    assert 12_345 in [v["price_cents"] for v in updates[0]["data"]["variants"]]
    assert await sync_jobs(database) == [
        {"store_id": str(store.store_id), "kind": "incremental", "trigger": "webhook"}
    ]
    assert await count(database, PosEvent, PosEvent.processed_at.is_(None)) == 0


async def test_blaze_registered_through_us_pushes_a_price_change_to_the_catalog(
    database: Database, harness: Harness, clock: FakeClock
) -> None:
    store = await connected_store(database, harness, "blaze")
    headers = await sign_in(harness.client, store.tenant.admin)
    path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    setup = data_of(await harness.client.get(path, headers=headers))
    assert setup["registration"] == "api"
    assert setup["shop_id"] is None
    registered = data_of(await harness.client.post(path, headers=headers))
    assert registered["registered"] is True
    assert registered["shop_id"] == store.summary["shop_id"]
    assert sorted(registered["events"]) == [
        "NEW_CONSUMER_ORDER",
        "UPDATE_CONSUMER_ORDER",
        "UPDATE_PRODUCT",
    ]
    targets = (await harness.control.get(f"/_sim/stores/{store.sim_id}/webhooks")).json()
    assert {t["url"] for t in targets["webhooks"]} == {setup["url"]}
    # The shop is pinned: the GET shows it from now on.
    assert (
        data_of(await harness.client.get(path, headers=headers))["shop_id"]
        == (store.summary["shop_id"])
    )
    await price_change_reaches_the_catalog(database, harness, store, clock)


async def test_treez_registered_at_the_pos_pushes_a_price_change_to_the_catalog(
    database: Database, harness: Harness, clock: FakeClock
) -> None:
    store = await connected_store(database, harness, "treez")
    headers = await sign_in(harness.client, store.tenant.admin)
    path = f"/api/v1/stores/{store.store_id}/pos/webhooks"
    answer = data_of(await harness.client.post(path, headers=headers))
    assert answer["registered"] is False
    assert answer["registration"] == "vendor_portal"
    # Treez registers by hand: the simulator's control API plays the Treez portal.
    response = await harness.control.post(
        f"/_sim/stores/{store.sim_id}/webhooks", json={"url": answer["url"]}
    )
    assert response.status_code == 201, response.text
    await price_change_reaches_the_catalog(database, harness, store, clock)


async def test_the_demo_has_blaze_and_treez_push_to_it(
    settings: Settings, database: Database
) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    simulator, pos_stores = simulator_stores(root, products=5)
    info = await seed_demo(settings, pos_stores, root)
    async with serving(simulator, "127.0.0.1", port):
        await register_webhooks(settings, info)
    by_provider = {store["pos_provider"]: store for store in info["stores"]}
    assert {name: store.get("webhooks") for name, store in by_provider.items()} == {
        "blaze": "registered",
        "treez": "registered",
        "dutchie": None,
        "flowhub": None,
    }
    targets = {
        store.id: sorted((t.url, sorted(t.events or ["*"])) for t in store.webhooks)
        for store in simulator.simulator.stores.values()
    }
    blaze, treez = by_provider["blaze"], by_provider["treez"]
    blaze_url = webhook_url(settings, uuid.UUID(blaze["id"]))
    assert targets[blaze["simulator_store_id"]] == [
        (blaze_url, ["NEW_CONSUMER_ORDER"]),
        (blaze_url, ["UPDATE_CONSUMER_ORDER"]),
        (blaze_url, ["UPDATE_PRODUCT"]),
    ]
    assert targets[treez["simulator_store_id"]] == [
        (webhook_url(settings, uuid.UUID(treez["id"])), ["*"])
    ]
