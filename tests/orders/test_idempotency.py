"""Idempotency keys with Stripe's semantics, and the outbox: the order and its job commit together
or not at all (docs/reliability.md points 6 and 7)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from ridgeline import jobs
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import IdempotencyKey, Job, Order, OrderItem, OrderTransition, StreamMessage
from ridgeline.orders import idempotency, service
from ridgeline.orders.service import SUBMIT_JOB
from tests.orders.conftest import Shop, add_product, another_kiosk, count, order_body, place


async def counts(database: Database) -> tuple[int, ...]:
    return tuple(
        [
            await count(database, model)
            for model in (Order, OrderItem, OrderTransition, Job, StreamMessage)
        ]
    )


async def test_the_same_key_and_body_replays_the_first_answer(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    body = order_body(item.line(2), customer_name="Ana")
    first = await place(client, shop.kiosk, body, key="key-1")
    assert first.status_code == 201
    before = await counts(database)
    # Same content, other formatting and key order: the same request.
    again = await client.post(
        "/api/v1/orders",
        content=b'{"customer_name": "Ana",  "items": [' + _line_bytes(body["items"][0]) + b"]}",
        headers={
            **shop.kiosk.headers,
            "Idempotency-Key": "key-1",
            "content-type": "application/json",
        },
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await counts(database) == before
    assert await count(database, IdempotencyKey) == 1


def _line_bytes(line: dict[str, Any]) -> bytes:
    return (
        f'{{"quantity": {line["quantity"]}, "variant_id": "{line["variant_id"]}", '
        f'"product_id": "{line["product_id"]}"}}'
    ).encode()


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    assert (await place(client, shop.kiosk, order_body(item.line(1)), key="k")).status_code == 201
    before = await counts(database)
    response = await place(client, shop.kiosk, order_body(item.line(2)), key="k")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await counts(database) == before


async def test_a_refusal_is_stored_and_replayed_too(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    """Stripe stores the result of the first execution: an OUT_OF_STOCK answer stays the answer
    of that key even after a restock; a new attempt takes a new key."""
    item = await add_product(database, shop.store, quantity=1)
    body = order_body(item.line(2))
    first = await place(client, shop.kiosk, body, key="k")
    assert first.json()["error"]["code"] == "OUT_OF_STOCK"
    again = await place(client, shop.kiosk, body, key="k")
    assert (again.status_code, again.json()) == (409, first.json())
    assert await count(database, Order) == 0


async def test_a_crash_releases_the_key_and_leaves_neither_order_nor_job(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure after the order and its job were written (before the commit) leaves neither,
    and the key can be used again."""
    item = await add_product(database, shop.store)
    real_enqueue = jobs.enqueue

    async def enqueue_then_fail(*args: Any, **kwargs: Any) -> Any:
        await real_enqueue(*args, **kwargs)
        raise RuntimeError("the process died here")

    monkeypatch.setattr(service, "enqueue", enqueue_then_fail)
    body = order_body(item.line())
    response = await place(client, shop.kiosk, body, key="k")
    assert response.status_code == 500
    assert await count(database, Order) == 0
    assert await count(database, Job, Job.kind == SUBMIT_JOB) == 0
    assert await count(database, OrderItem) == 0
    assert await count(database, IdempotencyKey) == 0
    monkeypatch.setattr(service, "enqueue", real_enqueue)
    retried = await place(client, shop.kiosk, body, key="k")
    assert retried.status_code == 201
    assert await count(database, Order) == 1
    assert await count(database, Job, Job.kind == SUBMIT_JOB) == 1


async def test_a_key_in_flight_answers_409(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item = await add_product(database, shop.store)
    entered = asyncio.Event()
    release = asyncio.Event()
    real_create = service.create_order

    async def slow_create(*args: Any, **kwargs: Any) -> Order:
        entered.set()
        await release.wait()
        return await real_create(*args, **kwargs)

    monkeypatch.setattr(service, "create_order", slow_create)
    body = order_body(item.line())
    first = asyncio.create_task(place(client, shop.kiosk, body, key="k"))
    await asyncio.wait_for(entered.wait(), 10)
    # The first request holds SQLite's write lock now: the second one's claim waits on it only
    # on SQLite, so it is sent from its own task and the first is let go when it is waiting.
    second = asyncio.create_task(place(client, shop.kiosk, body, key="k"))
    await asyncio.sleep(0.2)
    release.set()
    answers = sorted([(await first).status_code, (await second).status_code])
    if database.is_sqlite:
        # The claim queued behind the order's transaction, then found the key completed.
        assert answers in ([201, 201], [201, 409])
    else:
        assert answers == [201, 409]
    assert await count(database, Order) == 1


async def test_a_key_in_flight_answers_409_while_the_first_runs(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Deterministic: the first request is held after claiming its key and before opening its
    order transaction, so the second finds the key in flight."""
    item = await add_product(database, shop.store)
    claimed = asyncio.Event()
    release = asyncio.Event()
    real_begin = idempotency.begin

    async def begin_then_hold(*args: Any, **kwargs: Any) -> Any:
        outcome = await real_begin(*args, **kwargs)
        if not claimed.is_set():
            claimed.set()
            await release.wait()
        return outcome

    monkeypatch.setattr(idempotency, "begin", begin_then_hold)
    body = order_body(item.line())
    first = asyncio.create_task(place(client, shop.kiosk, body, key="k"))
    await asyncio.wait_for(claimed.wait(), 10)
    second = await place(client, shop.kiosk, body, key="k")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
    release.set()
    assert (await first).status_code == 201
    third = await place(client, shop.kiosk, body, key="k")
    assert third.status_code == 201
    assert third.json() == (await first).json()
    assert await count(database, Order) == 1


async def test_concurrent_requests_with_one_key_make_one_order(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    body = order_body(item.line())
    answers = await asyncio.gather(*(place(client, shop.kiosk, body, key="k") for _ in range(4)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    created = {a.json()["data"]["id"] for a in answers if a.status_code == 201}
    assert len(created) == 1
    assert await count(database, Order) == 1


async def test_keys_are_scoped_per_kiosk(
    client: httpx.AsyncClient, database: Database, shop: Shop
) -> None:
    item = await add_product(database, shop.store)
    neighbour = await another_kiosk(database, shop.store)
    body = order_body(item.line())
    first = await place(client, shop.kiosk, body, key="same")
    second = await place(client, neighbour, body, key="same")
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["data"]["id"] != second.json()["data"]["id"]
    assert await count(database, Order) == 2


async def test_a_key_expires_after_24_hours(
    client: httpx.AsyncClient, database: Database, shop: Shop, clock: FakeClock
) -> None:
    item = await add_product(database, shop.store)
    body = order_body(item.line())
    first = await place(client, shop.kiosk, body, key="k")
    clock.advance(23 * 3600)
    assert (await place(client, shop.kiosk, body, key="k")).json() == first.json()
    clock.advance(2 * 3600)
    later = await place(client, shop.kiosk, order_body(item.line(2)), key="k")
    assert later.status_code == 201
    assert later.json()["data"]["id"] != first.json()["data"]["id"]
    assert await count(database, IdempotencyKey) == 1


async def test_a_key_abandoned_in_flight_is_taken_over(
    client: httpx.AsyncClient,
    database: Database,
    shop: Shop,
    clock: FakeClock,
    settings: Settings,
) -> None:
    """A request that died holding its key (a killed process) never released it; after
    `idempotency_takeover_s` (a minute) a retry may run, and nothing had committed for the dead
    one."""
    item = await add_product(database, shop.store)
    body = order_body(item.line())
    now = clock.now()
    async with database.transaction() as session:
        session.add(
            IdempotencyKey(
                organization_id=shop.store.organization_id,
                store_id=shop.store.id,
                kiosk_id=shop.kiosk.kiosk.id,
                key="k",
                request_hash="0" * 64,
                status="in_flight",
                lock_token=uuid.uuid4().hex,
                locked_at=now,
                created_at=now,
                expires_at=now.replace(year=now.year + 1),
            )
        )
    assert (await place(client, shop.kiosk, body, key="k")).status_code == 409
    clock.advance(settings.idempotency_takeover_s - 1)
    assert (await place(client, shop.kiosk, body, key="k")).status_code == 409
    clock.advance(2)
    assert (await place(client, shop.kiosk, body, key="k")).status_code == 201
