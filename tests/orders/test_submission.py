"""Submission to every dialect of the POS simulator over real HTTP: one POS order per order,
even when the POS takes the order and the answer is lost (docs/reliability.md point 8); a POS
refusal ends `rejected`; cancelling before and after submission."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Job, JobStatus, Order, OrderItem
from ridgeline.orders import queue, submission
from ridgeline.orders.service import SUBMIT_JOB
from ridgeline.pos.client import PosConnector
from tests.factories import sign_in
from tests.orders.conftest import PosShop, order_body, orderable, place, pos_shop, stream_payloads
from tests.pos.simulator import DIALECTS

CANCELLED_AT_POS = {
    "Cancelled",
    "CANCELED",
    "CanceledByDispensary",
    "CanceledByConsumer",
    "deleted",
}
# What each simulator dialect answers a new order with, in our statuses.
FIRST_STATUS = {
    "dutchie": "accepted",
    "treez": "accepted",
    "blaze": "submitted",
    "flowhub": "accepted",
}


async def placed_order(client: httpx.AsyncClient, shop: PosShop, database: Database) -> str:
    item = await orderable(database, shop.store)
    body = order_body(
        item.line(1, expected_unit_price_cents=item.price_cents),
        customer_name="Sim Test",
        customer_phone="+15555550100",
    )
    response = await place(client, shop.kiosk, body)
    assert response.status_code == 201, response.text
    order_id: str = response.json()["data"]["id"]
    return order_id


async def read(client: httpx.AsyncClient, shop: PosShop, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/orders/{order_id}", headers=shop.kiosk.headers)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()["data"]
    return order


async def make_jobs_due(database: Database, clock: FakeClock) -> None:
    """Brings deferred jobs forward instead of moving the clock (the simulator checks Treez's
    token times against its own clock)."""
    async with database.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.status.in_([JobStatus.QUEUED, JobStatus.FAILED]))
            .values(run_at=clock.now())
        )


async def drain_queues(database: Database, clock: FakeClock, worker: Worker) -> None:
    """One tick of the store queues' schedule, and the drains it queues."""
    await queue.enqueue_drains(database, uuid.uuid4(), clock=clock)
    await worker.run_until_idle()


async def submit_job(database: Database) -> Job:
    async with database.transaction(write=False) as session:
        job = await session.scalar(select(Job).where(Job.kind == SUBMIT_JOB))
    assert job is not None
    return job


def pos_orders(shop: PosShop, reference: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = shop.sim.orders(reference)["orders"]
    return orders


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_an_order_reaches_the_pos_once(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    assert await worker.run_until_idle() == 1
    order = await read(client, shop, order_id)
    assert order["status"] == FIRST_STATUS[dialect]
    assert order["pos_order_id"]
    assert order["submitted_at"] is not None
    assert [(t["to_status"], t["source"]) for t in order["transitions"]] == [
        ("received", "kiosk"),
        (FIRST_STATUS[dialect], "worker"),
    ]
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["create_requests"] == 1
    assert (await submit_job(database)).status is JobStatus.SUCCEEDED
    for stream in (f"order:{order_id}", f"store:{shop.store.id}"):
        statuses = [
            e["data"]["status"]
            for e in await stream_payloads(database, stream)
            if e["type"] == "order.status"
        ]
        assert statuses == ["received", FIRST_STATUS[dialect]]
    # The job running again (a lost lease, a redelivery) sends nothing and changes nothing.
    await submission.submit(database, connector, uuid.UUID(order_id), clock=connector.clock)
    assert await read(client, shop, order_id) == order
    [again] = pos_orders(shop, order["reference"])
    assert again["create_requests"] == 1


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_lost_answer_never_makes_a_second_pos_order(
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
    shop.sim.add_fault("order_submit", "drop_response_after_accept", count=1)
    await worker.run_until_idle()
    order = await read(client, shop, order_id)
    if dialect == "dutchie":
        # The POS dedupes on our key, so the transport's own retry already recovered it.
        expected = ["received", FIRST_STATUS[dialect]]
        [sim_order] = pos_orders(shop, order["reference"])
        assert sim_order["create_requests"] == 2
    else:
        # Sent once: the job tells the kiosk and tries again later, looking the order up first.
        assert order["status"] == "queued"
        assert order["pos_order_id"] is None
        assert order["failure_reason"].startswith("POS_CONNECTION_FAILED")
        assert [t["to_status"] for t in order["transitions"]] == ["received", "queued"]
        assert pos_orders(shop, order["reference"])[0]["create_requests"] == 1
        await drain_queues(database, clock, worker)
        order = await read(client, shop, order_id)
        expected = ["received", "queued", FIRST_STATUS[dialect]]
    assert order["status"] == FIRST_STATUS[dialect], order
    assert order["pos_order_id"]
    assert order["failure_reason"] is None
    sim_orders = pos_orders(shop, order["reference"])
    assert len(sim_orders) == 1, sim_orders
    assert [t["to_status"] for t in order["transitions"]] == expected
    events = await stream_payloads(database, f"order:{order_id}")
    assert [e["data"]["status"] for e in events] == expected


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_pos_refusal_ends_rejected_with_its_reason(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    order = await read(client, shop, order_id)
    # Sold out at the POS since our last inventory sync: the POS refuses the order.
    async with database.transaction(write=False) as session:
        item = await session.scalar(
            select(OrderItem).where(OrderItem.order_id == uuid.UUID(order_id))
        )
    assert item is not None
    shop.sim.change_product(item.product_external_id, quantity=0)
    await worker.run_until_idle()
    order = await read(client, shop, order_id)
    assert order["status"] == "rejected"
    assert order["failure_reason"].startswith("the POS refused the order")
    assert order["transitions"][-1]["source"] == "pos"
    assert order["transitions"][-1]["reason"] == order["failure_reason"]
    # The job did its work: the order's end is recorded, and operators are told.
    assert (await submit_job(database)).status is JobStatus.SUCCEEDED
    assert pos_orders(shop, order["reference"]) == []
    headers = await sign_in(client, shop.tenant.admin)
    alerts = await client.get("/api/v1/alerts", params={"kind": "order_rejected"}, headers=headers)
    [alert] = alerts.json()["data"]
    assert alert["state"] == "firing"
    assert alert["severity"] == "critical"
    assert alert["details"]["order_id"] == order_id
    assert alert["message"] == order["failure_reason"]


@pytest.mark.parametrize("dialect", ["dutchie", "blaze"])
async def test_cancel_before_submission_sends_nothing(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    cancelled = await client.post(f"/api/v1/orders/{order_id}/cancel", headers=shop.kiosk.headers)
    assert cancelled.json()["data"]["status"] == "cancelled"
    await worker.run_until_idle()
    order = await read(client, shop, order_id)
    assert order["status"] == "cancelled"
    assert order["pos_order_id"] is None
    assert pos_orders(shop, order["reference"]) == []
    assert (await submit_job(database)).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_cancel_after_submission_goes_through_the_pos(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    await worker.run_until_idle()
    response = await client.post(f"/api/v1/orders/{order_id}/cancel", headers=shop.kiosk.headers)
    assert response.status_code == 200, response.text
    order = response.json()["data"]
    assert order["status"] == "cancelled"
    assert order["transitions"][-1]["source"] == "kiosk"
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["status"] in CANCELLED_AT_POS


async def test_a_queued_order_cancelled_after_a_lost_answer_is_taken_back_at_the_pos(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
) -> None:
    """The POS took the order but we never heard; the kiosk cancels the queued order. The next
    run of the job finds the POS order by reference and cancels it there."""
    shop = await pos_shop(database, connector, control, "treez")
    order_id = await placed_order(client, shop, database)
    shop.sim.add_fault("order_submit", "drop_response_after_accept", count=1)
    await worker.run_until_idle()
    cancelled = await client.post(f"/api/v1/orders/{order_id}/cancel", headers=shop.kiosk.headers)
    assert cancelled.json()["data"]["status"] == "cancelled"
    await make_jobs_due(database, clock)
    await worker.run_until_idle()
    order = await read(client, shop, order_id)
    assert order["status"] == "cancelled"
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["status"] in CANCELLED_AT_POS
    async with database.transaction(write=False) as session:
        stored = await session.get(Order, uuid.UUID(order_id))
    assert stored is not None
    assert stored.pos_order_id is not None
