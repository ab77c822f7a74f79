"""Status tracking from the POS (docs/orders.md, "Status tracking"): the `orders.poll` job follows
orders moved at the simulator over real HTTP; BLAZE webhooks and Flowhub postbacks pushed by the
simulator move orders without polling; forward only, once, and unknown orders are no error."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import Worker
from ridgeline.models import (
    Job,
    JobStatus,
    Order,
    OrderStatus,
    Store,
    SyncKind,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.models.order import TransitionSource
from ridgeline.models.pos_event import PosEvent
from ridgeline.orders import tracking
from ridgeline.orders.status import transition
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.sync.service import run_sync
from ridgeline.webhooks.processing import process_event
from tests.assertions import data_of
from tests.orders.conftest import (
    KioskClient,
    PosShop,
    bare_tenant,
    order_body,
    orderable,
    place,
    pos_shop,
    stream_payloads,
)
from tests.orders.test_submission import FIRST_STATUS, make_jobs_due, placed_order, read
from tests.simulated_pos import Harness
from tests.webhooks.conftest import hook, legacy_webhook_url

# What each dialect's order goes through at the POS after it was taken, and our status after each.
PATHS: dict[str, list[tuple[str, str]]] = {
    "dutchie": [("Processing", "accepted"), ("Filled", "ready"), ("Complete", "completed")],
    "treez": [("IN_PROGRESS", "accepted"), ("PACKED_READY", "ready"), ("COMPLETED", "completed")],
    "blaze": [("Accepted", "accepted"), ("Completed", "completed")],
    "flowhub": [("started", "accepted"), ("ready", "ready"), ("sold", "completed")],
}


def sim_order_id(shop: PosShop, reference: str) -> str:
    [order] = shop.sim.orders(reference)["orders"]
    return str(order["id"])


async def poll_tick(database: Database, worker: Worker, clock: FakeClock, tick: int) -> int:
    """The schedule's job for tick `tick` (a later tick without moving the worker's clock: the
    simulator checks Treez's token times against the system clock), then the polls it queued."""
    later = FakeClock(clock.now() + timedelta(seconds=tracking.POLL_EVERY_S * tick))
    async with database.transaction() as session:
        queued = await tracking.enqueue_polls(session, clock=later)
    await make_jobs_due(database, clock)
    await worker.run_until_idle()
    return queued


async def pos_vendor_status(database: Database, order_id: str) -> str | None:
    async with database.transaction(write=False) as session:
        order = await session.get(Order, uuid.UUID(order_id))
    assert order is not None
    return order.pos_vendor_status


async def status_events(database: Database, stream: str) -> list[tuple[str, str]]:
    return [
        (e["data"]["status"], e["data"]["source"])
        for e in await stream_payloads(database, stream)
        if e["type"] == "order.status"
    ]


@pytest.mark.parametrize("dialect", list(PATHS))
async def test_polling_follows_the_order_at_the_pos(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    assert await worker.run_until_idle() == 1
    order = await read(client, shop, order_id)
    sim_id = sim_order_id(shop, order["reference"])
    expected = [("received", "kiosk"), (FIRST_STATUS[dialect], "worker")]
    reasons = []
    for tick, (vendor_status, ours) in enumerate(PATHS[dialect], start=1):
        shop.sim.move_order(sim_id, vendor_status)
        assert await poll_tick(database, worker, clock, tick) == 1
        order = await read(client, shop, order_id)
        assert order["status"] == ours
        assert await pos_vendor_status(database, order_id) == vendor_status
        if ours != expected[-1][0]:  # the same status in our words moves nothing
            expected.append((ours, "pos"))
            reasons.append(vendor_status)
        assert [(t["to_status"], t["source"]) for t in order["transitions"]] == expected
    assert [t["reason"] for t in order["transitions"][2:]] == reasons
    for stream in (f"order:{order_id}", f"store:{shop.store.id}"):
        assert await status_events(database, stream) == expected
    # A completed order is no longer open: the schedule queues nothing for the store.
    assert await poll_tick(database, worker, clock, len(PATHS[dialect]) + 1) == 0


async def test_one_poll_per_store_and_tick(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
) -> None:
    shop = await pos_shop(database, connector, control, "flowhub")
    other = await pos_shop(database, connector, control, "treez")
    for each in (shop, shop, other):
        await placed_order(client, each, database)
    assert await worker.run_until_idle() == 3
    async with database.transaction() as session:
        assert await tracking.enqueue_polls(session, clock=clock) == 2
        assert await tracking.enqueue_polls(session, clock=clock) == 0  # the same tick
    async with database.transaction(write=False) as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == tracking.POLL_JOB))).all()
    assert sorted(job.payload["store_id"] for job in jobs) == sorted(
        [str(shop.store.id), str(other.store.id)]
    )
    await worker.run_until_idle()
    async with database.transaction(write=False) as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == tracking.POLL_JOB))).all()
    assert [job.status for job in jobs] == [JobStatus.SUCCEEDED] * 2
    assert await poll_tick(database, worker, clock, 1) == 2  # the next tick polls again


async def test_a_backward_status_is_not_applied_and_a_pos_error_waits_for_the_next_poll(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
) -> None:
    shop = await pos_shop(database, connector, control, "treez")
    order_id = await placed_order(client, shop, database)
    assert await worker.run_until_idle() == 1
    # Our order is ahead of the POS (which still says AWAITING_PROCESSING, i.e. accepted).
    async with database.transaction() as session:
        row = await session.get(Order, uuid.UUID(order_id))
        assert row is not None
        await transition(
            session, row, OrderStatus.READY, source=TransitionSource.OPERATOR, at=clock.now()
        )
    assert await poll_tick(database, worker, clock, 1) == 1
    order = await read(client, shop, order_id)
    assert order["status"] == "ready"
    assert [t["to_status"] for t in order["transitions"]] == ["received", "accepted", "ready"]

    # A failing POS leaves the order as it is; the next poll applies the change.
    sim_id = sim_order_id(shop, order["reference"])
    shop.sim.move_order(sim_id, "COMPLETED")
    shop.sim.add_fault("order_status", "status", status=500, count=10)
    assert await poll_tick(database, worker, clock, 2) == 1
    assert (await read(client, shop, order_id))["status"] == "ready"
    clear_faults(control, shop)
    assert await poll_tick(database, worker, clock, 3) == 1
    order = await read(client, shop, order_id)
    assert order["status"] == "completed"
    assert order["transitions"][-1]["source"] == "pos"
    assert order["transitions"][-1]["reason"] == "COMPLETED"


def clear_faults(control: httpx.Client, shop: PosShop) -> None:
    control.delete(f"/_sim/stores/{shop.sim.id}/faults").raise_for_status()


# --- pushed events: our app and the simulator in one loop ---------------------------------


@pytest.fixture
def harness_seed() -> int:
    """The simulator these tests were written against (`harness`: tests/simulated_pos.py)."""
    return 13


@dataclass
class PushingShop:
    store_id: uuid.UUID
    sim_id: str
    kiosk: KioskClient


async def pushing_shop(
    database: Database, harness: Harness, settings: Settings, dialect: str
) -> PushingShop:
    response = await harness.control.post("/_sim/stores", json={"dialect": dialect, "products": 8})
    assert response.status_code == 201, response.text
    summary = response.json()
    tenant = await bare_tenant(database)
    async with database.transaction() as session:
        await pos_service.configure(
            session,
            TenantScope.everything(),
            tenant.store.id,
            StorePosUpdate(provider=dialect, config=summary["config"]),
            cipher=harness.connector.cipher,
            now=harness.connector.clock.now(),
        )
    for kind in (SyncKind.FULL, SyncKind.INVENTORY):
        run = await run_sync(
            database,
            harness.connector,
            tenant.store.id,
            kind,
            SyncTrigger.OPERATOR,
            clock=harness.connector.clock,
        )
        assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.PARTIALLY_SUCCEEDED), run
    if dialect == "blaze":  # BLAZE pushes to a registered URL (here through its control API)
        response = await harness.control.post(
            f"/_sim/stores/{summary['id']}/webhooks",
            json={"url": legacy_webhook_url(settings, tenant.store.id)},
        )
        assert response.status_code == 201, response.text
    return PushingShop(tenant.store.id, summary["id"], KioskClient(tenant.kiosk, tenant.kiosk_key))


async def submitted_order(database: Database, harness: Harness, shop: PushingShop) -> Order:
    async with database.transaction(write=False) as session:
        store = await session.get(Store, shop.store_id)
    assert store is not None
    item = await orderable(database, store)
    response = await place(harness.client, shop.kiosk, order_body(item.line(1)))
    assert response.status_code == 201, response.text
    await harness.worker.run_until_idle()
    await harness.sim.simulator.pusher.drain()
    await harness.worker.run_until_idle()
    return await our_order(database, uuid.UUID(response.json()["data"]["id"]))


async def our_order(database: Database, order_id: uuid.UUID) -> Order:
    async with database.transaction(write=False) as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order


async def move_at_pos(harness: Harness, shop: PushingShop, order: Order, status: str) -> None:
    assert order.pos_order_id is not None
    response = await harness.control.post(
        f"/_sim/stores/{shop.sim_id}/orders/{order.pos_order_id}/status", json={"status": status}
    )
    assert response.status_code == 200, response.text
    await harness.sim.simulator.pusher.drain()


async def deliveries(harness: Harness, shop: PushingShop) -> list[dict[str, Any]]:
    response = await harness.control.get(f"/_sim/stores/{shop.sim_id}/deliveries")
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def transitions_of(
    harness: Harness, shop: PushingShop, order: Order
) -> list[tuple[str, str, str | None]]:
    response = await harness.client.get(f"/api/v1/orders/{order.id}", headers=shop.kiosk.headers)
    return [(t["to_status"], t["source"], t["reason"]) for t in data_of(response)["transitions"]]


async def outcome_of(database: Database, clock: FakeClock, event_id: str) -> str:
    """What processing the stored event does (in a transaction rolled back: the stored event
    stays as the worker left it)."""
    async with database.transaction() as session:
        event = await session.get(PosEvent, uuid.UUID(event_id))
        assert event is not None
        outcome = await process_event(session, event, clock=clock, enqueued_at=clock.now())
        assert outcome.error is None
        await session.rollback()
    return outcome.description


async def no_polls(database: Database) -> bool:
    async with database.transaction(write=False) as session:
        return (await session.scalar(select(Job).where(Job.kind == tracking.POLL_JOB))) is None


async def test_a_blaze_webhook_moves_the_order_once_without_polling(
    database: Database, harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    shop = await pushing_shop(database, harness, settings, "blaze")
    order = await submitted_order(database, harness, shop)
    assert order.status is OrderStatus.SUBMITTED
    clock.advance(1)
    await move_at_pos(harness, shop, order, "Accepted")
    [push] = [d for d in await deliveries(harness, shop) if d["event"] == "UPDATE_CONSUMER_ORDER"]
    assert (push["status"], push["delivered"]) == (200, True)
    await harness.worker.run_until_idle()
    assert (await our_order(database, order.id)).status is OrderStatus.ACCEPTED
    assert await no_polls(database)

    # Delivered again (the same event), and the same status in a new event: applied once.
    url = hook(settings, shop.store_id)
    again = data_of(await harness.client.post(url, json=push["body"]))
    assert again["duplicate"] is True
    second = data_of(await harness.client.post(url, json={**push["body"], "eventId": "e-2"}))
    assert second["duplicate"] is False
    await harness.worker.run_until_idle()
    assert await outcome_of(database, clock, second["event_id"]) == "order unchanged"

    # Backward (Placed) and unknown statuses are not applied.
    cart = push["body"]["data"]
    for event_id, status, outcome in [
        ("e-3", "Placed", "status not applied"),
        ("e-4", "Teleported", "unknown vendor status"),
    ]:
        body = {**push["body"], "eventId": event_id, "data": {**cart, "status": status}}
        received = data_of(await harness.client.post(url, json=body))
        await harness.worker.run_until_idle()
        assert await outcome_of(database, clock, received["event_id"]) == outcome

    clock.advance(1)
    await move_at_pos(harness, shop, order, "Completed")
    await harness.worker.run_until_idle()
    assert await transitions_of(harness, shop, order) == [
        ("received", "kiosk", None),
        ("submitted", "worker", f"submitted to the POS as {order.pos_order_id} (Placed)"),
        ("accepted", "pos", "Accepted"),
        ("completed", "pos", "Completed"),
    ]
    for stream in (f"order:{order.id}", f"store:{shop.store_id}"):
        assert [s for s, _ in await status_events(database, stream)] == [
            "received",
            "submitted",
            "accepted",
            "completed",
        ]
    async with database.transaction(write=False) as session:
        events = (
            await session.scalars(select(PosEvent).where(PosEvent.store_id == shop.store_id))
        ).all()
    assert all(e.processed_at is not None and e.error is None for e in events)
    assert await no_polls(database)


async def test_a_flowhub_postback_moves_the_order(
    database: Database, harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    shop = await pushing_shop(database, harness, settings, "flowhub")
    order = await submitted_order(database, harness, shop)
    assert order.status is OrderStatus.ACCEPTED
    assert order.pos_order_id is not None
    # Submission sent our URL as the order's postbackUrl.
    sim_order = (
        await harness.control.get(f"/_sim/stores/{shop.sim_id}/orders/{order.pos_order_id}")
    ).json()
    assert sim_order["postback_url"] == legacy_webhook_url(settings, shop.store_id)
    for status, ours in [("ready", OrderStatus.READY), ("sold", OrderStatus.COMPLETED)]:
        clock.advance(1)
        await move_at_pos(harness, shop, order, status)
        await harness.worker.run_until_idle()
        assert (await our_order(database, order.id)).status is ours
    assert [d["status"] for d in await deliveries(harness, shop)] == [200, 200]
    assert (await transitions_of(harness, shop, order))[2:] == [
        ("ready", "pos", "ready"),
        ("completed", "pos", "sold"),
    ]
    assert await no_polls(database)


async def test_an_event_for_an_unknown_order_is_processed_not_failed(
    database: Database, harness: Harness, settings: Settings, clock: FakeClock
) -> None:
    shop = await pushing_shop(database, harness, settings, "blaze")
    body = {
        "webHookType": "UPDATE_CONSUMER_ORDER",
        "shopId": (await harness.control.get(f"/_sim/stores/{shop.sim_id}")).json()["shop_id"],
        "eventId": "e-unknown",
        "data": {"id": "cart-x", "externalId": "RL-NOTOURS000", "status": "Accepted"},
    }
    received = data_of(await harness.client.post(hook(settings, shop.store_id), json=body))
    assert await outcome_of(database, clock, received["event_id"]) == "unknown order"
    await harness.worker.run_until_idle()
    async with database.transaction(write=False) as session:
        event = await session.get(PosEvent, uuid.UUID(received["event_id"]))
    assert event is not None
    assert event.processed_at is not None
    assert event.error is None
