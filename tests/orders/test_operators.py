"""The operator order views: a store's orders (filters, paging, tenancy), one order with its
history and POS calls after a real submission, and the retry of a failed order, which reaches
the POS exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.models import Job, JobStatus, Order, OrderStatus, Role
from ridgeline.orders.service import SUBMIT_JOB, submit_dedupe_key
from ridgeline.pos.client import PosConnector
from tests.factories import make_operator, make_tenant, sign_in
from tests.orders.conftest import (
    Shop,
    add_product,
    another_kiosk,
    order_body,
    place,
    pos_shop,
    stream_payloads,
)
from tests.orders.test_submission import FIRST_STATUS, placed_order, pos_orders

ORDER_ENDPOINTS = {"order_submit", "order_lookup", "order_status", "order_cancel"}


def orders_url(shop: Shop) -> str:
    return f"/api/v1/stores/{shop.store.id}/orders"


async def viewer(client: httpx.AsyncClient, database: Database, shop: Shop) -> dict[str, str]:
    operator = await make_operator(database, Role.VIEWER, shop.tenant.organization)
    return await sign_in(client, operator)


async def manager(client: httpx.AsyncClient, database: Database, shop: Shop) -> dict[str, str]:
    operator = await make_operator(
        database, Role.STORE_MANAGER, shop.tenant.organization, stores=[shop.store]
    )
    return await sign_in(client, operator)


async def set_status(database: Database, order_id: str, status: OrderStatus) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(Order).where(Order.id == uuid.UUID(order_id)).values(status=status)
        )


async def submit_jobs(database: Database, order_id: str) -> list[Job]:
    async with database.transaction(write=False) as session:
        rows = await session.scalars(
            select(Job).where(Job.kind == SUBMIT_JOB).order_by(Job.created_at, Job.id)
        )
        jobs = [job for job in rows if job.payload == {"order_id": order_id}]
    # The first job (the order's own dedupe key) first: jobs may share a time on the test clock.
    return sorted(jobs, key=lambda job: job.dedupe_key != submit_dedupe_key(uuid.UUID(order_id)))


async def listed(
    client: httpx.AsyncClient, shop: Shop, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(orders_url(shop), params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["id"] for item in page["data"]]


async def test_the_store_list_is_newest_first_filtered_and_paged(
    client: httpx.AsyncClient, database: Database, shop: Shop, clock: FakeClock
) -> None:
    item = await add_product(database, shop.store, quantity=100)
    other_kiosk = await another_kiosk(database, shop.store)
    start = clock.now()
    placed: list[str] = []
    for index, kiosk in enumerate([shop.kiosk, shop.kiosk, shop.kiosk, other_kiosk]):
        response = await place(client, kiosk, order_body(item.line(index + 1)))
        assert response.status_code == 201, response.text
        placed.append(response.json()["data"]["id"])
        clock.advance(60)
    await set_status(database, placed[0], OrderStatus.FAILED)
    headers = await viewer(client, database, shop)

    everything = await listed(client, shop, headers)
    assert ids(everything) == placed[::-1]
    assert everything["meta"] == {"next_cursor": None, "count": 4}
    oldest = everything["data"][-1]
    assert oldest["status"] == "failed"
    assert oldest["item_count"] == 1
    assert everything["data"][0]["item_count"] == 4
    assert set(oldest) == {
        "id",
        "reference",
        "status",
        "kiosk_id",
        "subtotal_cents",
        "total_cents",
        "currency",
        "item_count",
        "pos_order_id",
        "failure_reason",
        "created_at",
        "status_changed_at",
    }
    assert oldest["subtotal_cents"] == item.price_cents
    assert oldest["total_cents"] == item.price_cents  # the store has no taxes
    assert oldest["kiosk_id"] == str(shop.kiosk.kiosk.id)

    # Paging: two pages of two, then none.
    first = await listed(client, shop, headers, limit=2)
    assert ids(first) == placed[::-1][:2]
    second = await listed(client, shop, headers, limit=2, cursor=first["meta"]["next_cursor"])
    assert ids(second) == placed[::-1][2:]
    assert second["meta"]["next_cursor"] is None

    # Status: one, a comma list, repeated; an unknown one is refused.
    assert ids(await listed(client, shop, headers, status="failed")) == [placed[0]]
    assert ids(await listed(client, shop, headers, status="failed,received")) == placed[::-1]
    response = await client.get(
        orders_url(shop) + "?status=received&status=queued", headers=headers
    )
    assert [o["id"] for o in response.json()["data"]] == placed[::-1][:3]
    bad = await client.get(orders_url(shop), params={"status": "shipped"}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "VALIDATION_ERROR"

    # Kiosk, and a time window on created_at (both ends included).
    assert ids(await listed(client, shop, headers, kiosk_id=str(other_kiosk.kiosk.id))) == [
        placed[3]
    ]
    window = await listed(
        client,
        shop,
        headers,
        since=(start + timedelta(seconds=60)).isoformat(),
        until=(start + timedelta(seconds=120)).isoformat(),
    )
    assert ids(window) == [placed[2], placed[1]]
    naive = (start + timedelta(seconds=150)).replace(tzinfo=None).isoformat()
    assert ids(await listed(client, shop, headers, since=naive)) == [placed[3]]


async def test_other_organizations_get_404_and_kiosks_403(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    response = await place(client, shop.kiosk, order_body(item.line()))
    order_id = response.json()["data"]["id"]
    await set_status(database, order_id, OrderStatus.FAILED)
    paths = [
        ("GET", orders_url(shop)),
        ("GET", f"{orders_url(shop)}/{order_id}"),
        ("POST", f"{orders_url(shop)}/{order_id}/retry"),
    ]
    intruder = await make_tenant(database, "intruder")
    headers = await sign_in(client, intruder.admin)
    for method, path in paths:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "NOT_FOUND"
        response = await client.request(method, path, headers=shop.kiosk.headers)
        assert response.status_code == 403, (path, response.text)
    # The order is not visible under another store of its organization either.
    other_store_orders = f"/api/v1/stores/{intruder.store.id}/orders/{order_id}"
    own = await sign_in(client, shop.tenant.admin)
    response = await client.get(other_store_orders, headers=own)
    assert response.status_code == 404
    # Viewers read but do not retry.
    as_viewer = await viewer(client, database, shop)
    response = await client.post(f"{orders_url(shop)}/{order_id}/retry", headers=as_viewer)
    assert response.status_code == 403
    assert len(await submit_jobs(database, order_id)) == 1


async def test_retry_refuses_an_order_that_has_not_failed(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    response = await place(client, shop.kiosk, order_body(item.line()))
    order_id = response.json()["data"]["id"]
    headers = await manager(client, database, shop)
    for status in (None, OrderStatus.REJECTED, OrderStatus.ACCEPTED, OrderStatus.CANCELLED):
        if status is not None:
            await set_status(database, order_id, status)
        response = await client.post(f"{orders_url(shop)}/{order_id}/retry", headers=headers)
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "ORDER_NOT_RETRYABLE"
        assert error["details"]["status"] == (status or OrderStatus.RECEIVED).value
    assert len(await submit_jobs(database, order_id)) == 1


async def test_the_detail_shows_the_timeline_and_the_pos_calls(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
) -> None:
    shop = await pos_shop(database, connector, control, "treez")
    order_id = await placed_order(client, shop, database)
    assert await worker.run_until_idle() == 1
    headers = await viewer(client, database, shop)
    response = await client.get(f"{orders_url(shop)}/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    order = response.json()["data"]
    assert order["status"] == FIRST_STATUS["treez"]
    assert order["submit_attempts"] == 1
    assert [len(order["items"]), order["items"][0]["quantity"]] == [1, 1]
    assert [(t["from_status"], t["to_status"], t["source"]) for t in order["transitions"]] == [
        (None, "received", "kiosk"),
        ("received", FIRST_STATUS["treez"], "worker"),
    ]
    assert all(t["at"] and "reason" in t for t in order["transitions"])
    calls = order["pos_calls"]
    assert calls, order
    assert {call["endpoint"] for call in calls} <= ORDER_ENDPOINTS
    submits = [call for call in calls if call["endpoint"] == "order_submit"]
    assert [(c["method"], c["outcome"], c["attempt"]) for c in submits] == [("POST", "success", 1)]
    assert set(submits[0]) == {
        "endpoint",
        "method",
        "status",
        "outcome",
        "error",
        "duration_ms",
        "attempt",
        "at",
    }
    assert order["pos_calls_truncated"] is False
    # No credential of the store's POS config appears anywhere in the answer.
    for name, value in shop.sim.config.items():
        if name != "base_url" and isinstance(value, str) and len(value) >= 6:
            assert value not in response.text, name


@pytest.mark.parametrize("dialect", ["treez", "blaze"])
async def test_a_retried_failed_order_reaches_the_pos_once(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    dialect: str,
) -> None:
    shop = await pos_shop(database, connector, control, dialect)
    order_id = await placed_order(client, shop, database)
    # The POS takes the order but its answer is lost; then the order runs out of attempts
    # (made short here: the order is set failed, as past its deadline, and its job dead).
    shop.sim.add_fault("order_submit", "drop_response_after_accept", count=1)
    await worker.run_until_idle()
    await set_status(database, order_id, OrderStatus.FAILED)
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.kind == SUBMIT_JOB).values(status=JobStatus.DEAD)
        )
    headers = await manager(client, database, shop)

    response = await client.post(f"{orders_url(shop)}/{order_id}/retry", headers=headers)
    assert response.status_code == 200, response.text
    order = response.json()["data"]
    assert order["status"] == "queued"
    assert order["submit_attempts"] == 1  # so the job looks the order up before sending it
    last = order["transitions"][-1]
    assert (last["from_status"], last["to_status"], last["source"]) == (
        "failed",
        "queued",
        "operator",
    )
    assert "operator" in (last["reason"] or "")
    operator_ids = [part for part in last["reason"].split() if len(part) == 36]
    assert operator_ids, last["reason"]
    events = await stream_payloads(database, f"order:{order_id}")
    assert (events[-1]["data"]["status"], events[-1]["data"]["source"]) == ("queued", "operator")
    store_events = await stream_payloads(database, f"store:{shop.store.id}")
    assert store_events[-1]["data"]["status"] == "queued"
    jobs = await submit_jobs(database, order_id)
    assert [job.status for job in jobs] == [JobStatus.DEAD, JobStatus.QUEUED]
    assert jobs[1].dedupe_key != submit_dedupe_key(uuid.UUID(order_id))
    assert (jobs[1].dedupe_key or "").startswith(submit_dedupe_key(uuid.UUID(order_id)))

    await worker.run_until_idle()
    jobs = await submit_jobs(database, order_id)
    assert [job.status for job in jobs] == [JobStatus.DEAD, JobStatus.SUCCEEDED]
    response = await client.get(f"{orders_url(shop)}/{order_id}", headers=headers)
    order = response.json()["data"]
    assert order["status"] == FIRST_STATUS[dialect], order
    assert order["pos_order_id"]
    assert order["failure_reason"] is None
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["create_requests"] == 1
    assert any(call["endpoint"] == "order_lookup" for call in order["pos_calls"])
    # Done: a second retry is refused.
    response = await client.post(f"{orders_url(shop)}/{order_id}/retry", headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ORDER_NOT_RETRYABLE"


async def test_a_failed_order_never_sent_is_sent_on_retry(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
) -> None:
    shop = await pos_shop(database, connector, control, "dutchie")
    order_id = await placed_order(client, shop, database)
    await set_status(database, order_id, OrderStatus.FAILED)
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.kind == SUBMIT_JOB).values(status=JobStatus.DEAD)
        )
    headers = await manager(client, database, shop)
    response = await client.post(f"{orders_url(shop)}/{order_id}/retry", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["submit_attempts"] == 0
    await worker.run_until_idle()
    jobs = await submit_jobs(database, order_id)
    assert [job.status for job in jobs] == [JobStatus.DEAD, JobStatus.SUCCEEDED]
    order = (await client.get(f"{orders_url(shop)}/{order_id}", headers=headers)).json()["data"]
    assert order["status"] == FIRST_STATUS["dutchie"]
    [sim_order] = pos_orders(shop, order["reference"])
    assert sim_order["create_requests"] == 1
