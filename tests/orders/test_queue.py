"""Orders while the store's POS is away (docs/reliability.md points 8-9): they wait `queued`, the
kiosk told, and reach the POS in the order they were placed once it is back; past their deadline
they end `failed` with the reason, the kiosk is told and operators get an alert; an attempt is
only ever out once per order; a stray left by a lost answer is cancelled at the POS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Job, Order, OrderStatus, Store
from ridgeline.orders import queue, submission
from ridgeline.pos.client import PosConnector
from ridgeline.pos.errors import PosError
from tests.factories import sign_in
from tests.orders.conftest import (
    PosShop,
    another_kiosk,
    order_body,
    orderable,
    place,
    pos_shop,
    stream_payloads,
)
from tests.orders.test_submission import CANCELLED_AT_POS, FIRST_STATUS, pos_orders, read


async def place_orders(
    client: httpx.AsyncClient, database: Database, shop: PosShop, count: int, clock: FakeClock
) -> list[str]:
    """`count` orders, from two kiosks in turn, one after the other."""
    item = await orderable(database, shop.store)
    kiosks = [shop.kiosk, await another_kiosk(database, shop.store)]
    placed = []
    for number in range(count):
        kiosk = kiosks[number % 2]
        clock.advance(1)  # distinct placing times, as on a real clock
        response = await place(client, kiosk, order_body(item.line(1)))
        assert response.status_code == 201, response.text
        placed.append(response.json()["data"]["id"])
    return placed


async def read_any(client: httpx.AsyncClient, shop: PosShop, order_id: str) -> dict[str, Any]:
    """The order as its store's operators see it (whichever kiosk took it)."""
    headers = await sign_in(client, shop.tenant.admin)
    response = await client.get(
        f"/api/v1/stores/{shop.store.id}/orders/{order_id}", headers=headers
    )
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()["data"]
    return order


async def breaker(client: httpx.AsyncClient, shop: PosShop, action: str) -> None:
    headers = await sign_in(client, shop.tenant.admin)
    response = await client.post(
        f"/api/v1/stores/{shop.store.id}/pos/breaker", json={"action": action}, headers=headers
    )
    assert response.status_code == 200, response.text


async def tick(database: Database, clock: FakeClock, worker: Worker) -> None:
    """One run of the `orders.enqueue_queues` schedule and of the drains it queues."""
    await queue.enqueue_drains(database, uuid.uuid4(), clock=clock)
    await worker.run_until_idle()


async def stored(database: Database, order_id: str) -> Order:
    async with database.transaction(write=False) as session:
        order = await session.get(Order, uuid.UUID(order_id))
    assert order is not None
    return order


async def alerts(client: httpx.AsyncClient, shop: PosShop, **params: Any) -> list[dict[str, Any]]:
    headers = await sign_in(client, shop.tenant.admin)
    response = await client.get("/api/v1/alerts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def test_orders_wait_while_the_circuit_is_open_and_go_in_order_when_it_closes(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
) -> None:
    shop = await pos_shop(database, connector, control, "blaze")
    await breaker(client, shop, "force_open")
    order_ids = await place_orders(client, database, shop, 1, clock)
    await worker.run_until_idle()
    order_ids += await place_orders(client, database, shop, 4, clock)
    await worker.run_until_idle()

    first = await read(client, shop, order_ids[0])
    assert first["status"] == "queued"
    assert first["failure_reason"].startswith("CIRCUIT_OPEN"), first["failure_reason"]
    assert first["submit_deadline_at"] is not None
    for order_id in order_ids[1:]:
        # Behind the first without calling the POS: the kiosk is told why.
        order = await read_any(client, shop, order_id)
        assert order["status"] == "queued"
        assert order["failure_reason"].startswith("waiting behind"), order["failure_reason"]
    events = await stream_payloads(database, f"order:{order_ids[0]}")
    assert [e["data"]["status"] for e in events] == ["received", "queued"]
    assert events[-1]["data"]["reason"] == first["failure_reason"]
    assert events[-1]["data"]["submit_deadline_at"] is not None
    assert shop.sim.orders()["orders"] == []

    # Still open: a tick changes nothing and sends nothing.
    await tick(database, clock, worker)
    for order_id in order_ids:
        assert (await stored(database, order_id)).status is OrderStatus.QUEUED
    assert shop.sim.orders()["orders"] == []

    await breaker(client, shop, "reset")
    await tick(database, clock, worker)
    references = []
    for order_id in order_ids:
        order = await read_any(client, shop, order_id)
        assert order["status"] == FIRST_STATUS["blaze"], order
        assert order["failure_reason"] is None
        references.append(order["reference"])
    at_pos = [o["reference"] for o in shop.sim.orders()["orders"]]
    assert at_pos == references  # in the order they were placed, each once


async def test_an_order_past_its_deadline_fails_the_kiosk_is_told_and_operators_alerted(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
    settings: Settings,
) -> None:
    shop = await pos_shop(database, connector, control, "dutchie")
    await breaker(client, shop, "force_open")
    [order_id] = await place_orders(client, database, shop, 1, clock)
    await worker.run_until_idle()
    assert (await read(client, shop, order_id))["status"] == "queued"

    clock.advance(settings.order_submit_deadline_s - 1)
    await tick(database, clock, worker)
    assert (await read(client, shop, order_id))["status"] == "queued"
    assert await alerts(client, shop, kind="order_failed") == []

    clock.advance(2)
    await tick(database, clock, worker)
    order = await read(client, shop, order_id)
    assert order["status"] == "failed"
    reason = order["failure_reason"]
    assert reason.startswith("not accepted by the POS before its deadline"), reason
    assert "CIRCUIT_OPEN" in reason  # the last error, for whoever looks
    assert order["transitions"][-1]["source"] == "worker"
    events = await stream_payloads(database, f"order:{order_id}")
    assert (events[-1]["data"]["status"], events[-1]["data"]["reason"]) == ("failed", reason)

    [alert] = await alerts(client, shop, state="firing", kind="order_failed")
    assert alert["kind"] == "order_failed"
    assert alert["severity"] == "critical"
    assert alert["store_id"] == str(shop.store.id)
    assert alert["details"]["order_id"] == order_id
    assert alert["details"]["reference"] == order["reference"]
    assert alert["message"] == reason
    ops = await stream_payloads(database, f"ops:{shop.tenant.organization.id}")
    pushed = [
        e for e in ops if e["type"] == "alert.changed" and e["data"]["kind"] == "order_failed"
    ]
    assert [e["data"]["id"] for e in pushed] == [alert["id"]]
    assert pushed[0]["data"]["state"] == "firing"

    order_detail = await read_any(client, shop, order_id)
    # Another tick fails nothing twice and alerts nobody twice.
    await tick(database, clock, worker)
    assert len(await alerts(client, shop, kind="order_failed")) == 1
    # The breaker refused every attempt: nothing was sent, nothing to look for at the POS.
    assert order_detail["submit_attempts"] == 0
    async with database.transaction(write=False) as session:
        kinds = list(await session.scalars(select(Job.kind)))
    assert kinds.count("orders.submit") == 1

    # The operator acknowledges it, retries the order once the POS is back: a new deadline.
    headers = await sign_in(client, shop.tenant.admin)
    acked = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", headers=headers)
    assert acked.status_code == 200, acked.text
    assert acked.json()["data"]["state"] == "acknowledged"
    assert await alerts(client, shop, state="firing", kind="order_failed") == []
    await breaker(client, shop, "reset")
    retried = await client.post(
        f"/api/v1/stores/{shop.store.id}/orders/{order_id}/retry", headers=headers
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["submit_deadline_at"] > order["submit_deadline_at"]
    await worker.run_until_idle()
    order = await read(client, shop, order_id)
    assert order["status"] == FIRST_STATUS["dutchie"]
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["create_requests"] == 1


async def test_an_order_failed_after_a_lost_answer_leaves_no_order_at_the_pos(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
    settings: Settings,
) -> None:
    """The POS took the order but the answer was lost; then the POS stays away past the
    deadline. The kiosk was told the order failed, so the POS order must go."""
    # Flowhub: a lost answer leaves a whole order (BLAZE: an unfinished cart, which is not an
    # order), and Treez would refuse tokens minted on a clock moved by half an hour.
    shop = await pos_shop(database, connector, control, "flowhub")
    [order_id] = await place_orders(client, database, shop, 1, clock)
    shop.sim.add_fault("order_submit", "drop_response_after_accept", count=1)
    await worker.run_until_idle()
    await breaker(client, shop, "force_open")
    order = await read(client, shop, order_id)
    assert order["status"] == "queued"
    [sim_order] = pos_orders(shop, order["reference"])

    clock.advance(settings.order_submit_deadline_s + 1)
    await tick(database, clock, worker)
    assert (await read(client, shop, order_id))["status"] == "failed"
    await breaker(client, shop, "reset")
    clock.advance(submission.STRAY_CHECK_DELAY_S)
    await worker.run_until_idle()

    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["status"] in CANCELLED_AT_POS
    assert sim_order["create_requests"] == 1
    order = await read(client, shop, order_id)
    assert order["status"] == "failed"  # what the kiosk was told stays true


async def test_two_runs_for_one_order_never_call_the_pos_together(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    clock: FakeClock,
) -> None:
    shop = await pos_shop(database, connector, control, "flowhub")
    [order_id] = await place_orders(client, database, shop, 1, clock)
    shop.sim.add_fault("order_submit", "latency", latency_ms=300, count=1)
    outcomes = await asyncio.gather(
        *(
            submission.attempt(database, connector, uuid.UUID(order_id), clock=clock)
            for _ in range(3)
        )
    )
    assert sorted(outcomes) == sorted(
        [submission.Outcome.SUBMITTED, submission.Outcome.BUSY, submission.Outcome.BUSY]
    )
    order = await read(client, shop, order_id)
    assert order["status"] == FIRST_STATUS["flowhub"]
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["create_requests"] == 1
    assert (await stored(database, order_id)).submit_lease_until is None


async def test_a_lease_left_by_a_crash_is_taken_over_with_a_lookup_first(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
    settings: Settings,
) -> None:
    """A process took the lease, reached the POS and died before recording the answer."""
    shop = await pos_shop(database, connector, control, "blaze")
    [order_id] = await place_orders(client, database, shop, 1, clock)
    shop.sim.add_fault("order_submit", "drop_response_after_accept", count=1)
    claimed = await submission._claim(
        database, uuid.UUID(order_id), clock.now(), lease_s=settings.order_submit_lease_s
    )
    assert claimed is not None
    async with database.transaction(write=False) as session:
        store = await session.get(Store, shop.store.id)
    assert store is not None
    adapter = connector.adapter_for(store)
    with contextlib.suppress(PosError):  # the lost answer is the point
        await adapter.submit_order(submission.pos_request(claimed, []))
    # Before the lease runs out nobody else calls; after it, a lookup finds the order.
    assert (
        await submission.attempt(database, connector, uuid.UUID(order_id), clock=clock)
        is submission.Outcome.BUSY
    )
    clock.advance(settings.order_submit_lease_s + 1)
    await tick(database, clock, worker)
    order = await read(client, shop, order_id)
    assert order["status"] == FIRST_STATUS["blaze"]
    [sim_order] = pos_orders(shop, order["reference"])  # the one cart, finished
    assert sim_order["id"] == order["pos_order_id"]


async def test_a_worker_behind_collects_one_drain_per_store_not_one_per_tick(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    clock: FakeClock,
) -> None:
    shop = await pos_shop(database, connector, control, "dutchie")
    await breaker(client, shop, "force_open")
    await place_orders(client, database, shop, 2, clock)
    await worker.run_until_idle()
    for _ in range(3):  # three ticks while no worker runs
        assert await queue.enqueue_drains(database, uuid.uuid4(), clock=clock) <= 1
    async with database.transaction(write=False) as session:
        drains = list(await session.scalars(select(Job).where(Job.kind == queue.DRAIN_JOB)))
    assert [job.payload for job in drains] == [{"store_id": str(shop.store.id)}]
