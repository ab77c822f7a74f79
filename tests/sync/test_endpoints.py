"""The operator endpoints of sync: ask for a run (202 / 409), runs and issues paged, the
schedule and field mapping, and reconciliation against a fresh POS read."""

from __future__ import annotations

import random
from typing import Any

import httpx
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import JobServices, Worker
from ridgeline.models import Product, SyncKind, SyncRun, SyncTrigger
from ridgeline.models.sync import DEFAULT_CATALOG_INTERVAL_S
from ridgeline.pos.client import PosConnector
from ridgeline.pos.tasks import POS_CONNECTOR
from ridgeline.sync.tasks import sync_tasks
from tests.assertions import assert_error, data_of
from tests.factories import sign_in
from tests.sync.conftest import SyncedStore, make_sync_tenant, sync


def worker(database: Database, connector: PosConnector, clock: FakeClock) -> Worker:
    services = JobServices()
    services.provide(POS_CONNECTOR, connector)
    return Worker(database, sync_tasks, clock=clock, rng=random.Random(1), services=services)


def url(store: SyncedStore, tail: str) -> str:
    return f"/api/v1/stores/{store.store_id}/{tail}"


async def test_request_a_sync_then_409_while_it_waits(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    new_store: Any,
    clock: FakeClock,
) -> None:
    store = await new_store(8)
    headers = await sign_in(client, store.tenant.admin)
    response = await client.post(url(store, "sync"), json={"kind": "full"}, headers=headers)
    assert response.status_code == 202, response.text
    queued = data_of(response, 202)
    assert queued["kind"] == "full"
    assert queued["job_id"]
    again = await client.post(url(store, "sync"), json={"kind": "full"}, headers=headers)
    assert_error(again, 409, "SYNC_IN_PROGRESS")
    other = await client.post(url(store, "sync"), json={"kind": "inventory"}, headers=headers)
    assert other.status_code == 202

    assert await worker(database, connector, clock).run_until_idle() == 2
    runs = data_of(await client.get(url(store, "sync-runs"), headers=headers))
    assert sorted((r["kind"], r["status"], r["trigger"]) for r in runs) == [
        ("full", "succeeded", "operator"),
        ("inventory", "succeeded", "operator"),
    ]
    # Done: a new one may be asked for.
    response = await client.post(url(store, "sync"), json={"kind": "full"}, headers=headers)
    assert response.status_code == 202

    bad = await client.post(url(store, "sync"), json={"kind": "partial"}, headers=headers)
    assert bad.status_code == 422


async def test_409_while_a_run_of_that_kind_is_running(
    client: httpx.AsyncClient, database: Database, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(3)
    async with database.transaction() as session:
        session.add(
            SyncRun(
                organization_id=store.tenant.organization.id,
                store_id=store.store_id,
                kind=SyncKind.INCREMENTAL,
                trigger=SyncTrigger.SCHEDULE,
                started_at=clock.now(),
                heartbeat_at=clock.now(),
            )
        )
    headers = await sign_in(client, store.tenant.admin)
    response = await client.post(url(store, "sync"), json={"kind": "incremental"}, headers=headers)
    assert_error(response, 409, "SYNC_IN_PROGRESS")
    running = await client.get(url(store, "sync-runs?status=running"), headers=headers)
    assert [r["kind"] for r in data_of(running)] == ["incremental"]


async def test_runs_and_issues_are_paged_and_a_run_shows_its_issues(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    new_store: Any,
    clock: FakeClock,
) -> None:
    store = await new_store(30)
    for _ in range(3):
        await sync(database, connector, store)
        clock.advance(1)
    store.sim.add_fault("products", "bad_records", count=1)
    partial = await sync(database, connector, store)
    assert partial.invalid > 1
    headers = await sign_in(client, store.tenant.admin)

    first = (await client.get(url(store, "sync-runs?limit=3"), headers=headers)).json()
    assert first["meta"]["count"] == 3
    assert first["meta"]["next_cursor"]
    rest = await client.get(
        url(store, "sync-runs"), params={"cursor": first["meta"]["next_cursor"]}, headers=headers
    )
    assert [r["id"] for r in data_of(rest)] == [str(partial.id)]
    failed = await client.get(url(store, "sync-runs?status=partially_succeeded"), headers=headers)
    assert [r["id"] for r in data_of(failed)] == [str(partial.id)]

    detail = data_of(await client.get(f"/api/v1/sync-runs/{partial.id}", headers=headers))
    assert detail["status"] == "partially_succeeded"
    assert len(detail["issues"]) == partial.invalid == detail["invalid"]
    assert all(issue["reason"] for issue in detail["issues"])

    page = (await client.get(url(store, "sync-issues?limit=1"), headers=headers)).json()
    assert page["meta"]["count"] == 1
    assert page["meta"]["next_cursor"]
    assert page["data"][0]["sync_run_id"] == str(partial.id)

    stranger = await new_store(1)
    outsider = await sign_in(client, stranger.tenant.admin)
    assert_error(
        await client.get(f"/api/v1/sync-runs/{partial.id}", headers=outsider), 404, "NOT_FOUND"
    )


async def test_sync_state_and_field_mapping(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    new_store: Any,
) -> None:
    store = await new_store(10)
    headers = await sign_in(client, store.tenant.admin)
    state = data_of(await client.get(url(store, "sync-state"), headers=headers))
    assert state["stale"] is True
    assert state["last_success_at"] is None
    assert state["catalog_interval_s"] == DEFAULT_CATALOG_INTERVAL_S == 30

    await sync(database, connector, store)
    brand = store.sim.products()[0]["brand"]
    body = {
        "catalog_interval_s": 300,
        "field_mapping": {"brand": {brand: "House Brand"}, "category": {"Sun Grown": "flower"}},
    }
    response = await client.put(url(store, "sync-state"), json=body, headers=headers)
    assert response.status_code == 200, response.text
    state = data_of(response)
    assert state["catalog_interval_s"] == 300
    assert state["stale"] is False
    assert state["field_mapping"]["brand"] == {brand: "House Brand"}

    invalid = {"field_mapping": {"category": {"Carts": "not_a_category"}}}
    assert_error(
        await client.put(url(store, "sync-state"), json=invalid, headers=headers),
        422,
        "VALIDATION_ERROR",
    )
    unknown: dict[str, object] = {"field_mapping": {"colour": {}}}
    assert_error(
        await client.put(url(store, "sync-state"), json=unknown, headers=headers),
        422,
        "VALIDATION_ERROR",
    )
    too_short = {"catalog_interval_s": 1}
    assert_error(
        await client.put(url(store, "sync-state"), json=too_short, headers=headers),
        422,
        "VALIDATION_ERROR",
    )

    run = await sync(database, connector, store)
    assert run.updated > 0
    async with database.transaction(write=False) as session:
        brands = set(
            (
                await session.scalars(
                    select(Product.brand).where(Product.store_id == store.store_id)
                )
            ).all()
        )
    assert "House Brand" in brands
    assert brand not in brands


async def test_reconciliation_lists_differences_without_writing(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    new_store: Any,
) -> None:
    store = await new_store(10)
    await sync(database, connector, store)
    await sync(database, connector, store, SyncKind.INVENTORY)
    products = [p for p in store.sim.products() if p.get("active", True)]
    store.sim.change_product(products[0]["id"], price_cents=products[0]["price_cents"] + 500)
    store.sim.change_product(products[1]["id"], quantity=0)
    store.sim.control.delete(f"/_sim/stores/{store.sim.id}/products/{products[2]['id']}")
    store.sim.control.post(f"/_sim/stores/{store.sim.id}/products", json={"count": 1})
    headers = await sign_in(client, store.tenant.admin)

    response = await client.get(url(store, "reconciliation"), headers=headers)
    assert response.status_code == 200, response.text
    report = data_of(response)
    assert str(products[0]["id"]) in {d["external_id"] for d in report["price_differences"]}
    assert str(products[1]["id"]) in {d["external_id"] for d in report["stock_differences"]}
    assert [m["external_id"] for m in report["missing_in_pos"]] == [str(products[2]["id"])]
    assert len(report["missing_in_catalog"]) == 1
    # Nothing was written: a sync still has all of it to do.
    run = await sync(database, connector, store)
    assert (run.created, run.deactivated) == (1, 1)
    assert run.updated >= 1


async def test_a_store_without_pos_cannot_sync_and_a_pos_outage_is_a_502(
    client: httpx.AsyncClient, database: Database, new_store: Any
) -> None:
    bare = await make_sync_tenant(database)
    headers = await sign_in(client, bare.admin)
    response = await client.post(
        f"/api/v1/stores/{bare.store.id}/sync", json={"kind": "full"}, headers=headers
    )
    assert_error(response, 409, "POS_NOT_CONFIGURED")

    store = await new_store(3)
    store.sim.add_fault("products", "unauthorized")
    headers = await sign_in(client, store.tenant.admin)
    response = await client.get(url(store, "reconciliation"), headers=headers)
    body = assert_error(response, 502, "POS_READ_FAILED")
    assert body["error"]["details"]["reason"]
