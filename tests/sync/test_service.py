"""The sync engine against the simulator over HTTP: what each kind of run writes, what it leaves
alone, what it emits, and how it fails."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.errors import SyncInProgress
from ridgeline.models import (
    AdminNotification,
    Product,
    ProductEnrichment,
    ProductVariant,
    StoreSyncState,
    SyncIssue,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.pos.client import PosConnector
from ridgeline.sync import service, writes
from ridgeline.sync.service import STALE_RUN_AFTER
from tests.sync.conftest import catalog_of, configure_store, count_rows, stream_events, sync

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_full_sync_creates_the_catalog(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(25)
    run = await sync(database, connector, store)
    sim_products = store.sim.products()
    assert run.status is SyncStatus.SUCCEEDED, run.error
    assert run.fetched == len(sim_products) == 25
    assert (run.created, run.updated, run.deactivated, run.unchanged, run.invalid) == (
        25,
        0,
        0,
        0,
        0,
    )
    catalog = await catalog_of(database, store)
    assert set(catalog) == {str(p["id"]) for p in sim_products}
    events = await stream_events(database, store)
    # Products kiosks may not see (inactive at the POS) are announced as deactivated, never as
    # created, so a kiosk applying events never shows them.
    visible = sum(1 for fields in catalog.values() if fields[3])  # is_active
    assert 0 < visible < 25
    types = [e["type"] for e in events]
    assert sorted(types) == sorted(
        ["product.created"] * visible + ["product.deactivated"] * (25 - visible)
    )
    view = next(e for e in events if e["type"] == "product.created")["data"]
    assert {"id", "external_id", "name", "brand", "category", "variants", "tags"} <= set(view)
    assert {"id", "label", "price_cents", "quantity_available"} <= set(view["variants"][0])

    again = await sync(database, connector, store)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 25)
    assert len(await stream_events(database, store)) == 25  # unchanged: no events


async def test_incremental_after_changes_matches_a_fresh_full_sync(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(30)
    await sync(database, connector, store)
    products = store.sim.products()
    store.sim.change_product(products[0]["id"], price_cents=4242)
    store.sim.change_product(products[1]["id"], price_cents=1999, name="Renamed Flower")
    store.sim.change_product(products[2]["id"], quantity=3)
    store.sim.change_product(products[3]["id"], active=False)
    added = store.sim.control.post(f"/_sim/stores/{store.sim.id}/products", json={"count": 2})
    added.raise_for_status()
    clock.advance(60)

    incremental = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert incremental.status is SyncStatus.SUCCEEDED, incremental.error
    assert incremental.created == 2
    # Dutchie's product records carry no stock: the quantity change waits for an inventory sync.
    assert incremental.updated == 3
    assert incremental.fetched == incremental.created + incremental.updated + incremental.unchanged

    await sync(database, connector, store, SyncKind.INVENTORY)
    fresh = await configure_store(database, connector, store.sim)
    await sync(database, connector, fresh)
    await sync(database, connector, fresh, SyncKind.INVENTORY)
    assert await catalog_of(database, store) == await catalog_of(database, fresh)

    # A product removed at the POS: only a full sync can see it go; then both agree again.
    gone = products[4]["id"]
    store.sim.control.delete(f"/_sim/stores/{store.sim.id}/products/{gone}").raise_for_status()
    full = await sync(database, connector, store)
    assert (full.deactivated, full.created, full.updated) == (1, 0, 0)
    ours = await catalog_of(database, store)
    assert ours[str(gone)][3] is False  # kept, inactive
    second = await configure_store(database, connector, store.sim)
    await sync(database, connector, second)
    await sync(database, connector, second, SyncKind.INVENTORY)
    active = {key: value for key, value in ours.items() if value[3] or key != str(gone)}
    assert active == await catalog_of(database, second)


async def test_enrichment_survives_every_kind_of_sync(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(12)
    await sync(database, connector, store)
    product_id = str(store.sim.products()[0]["id"])
    async with database.transaction() as session:
        product = (
            await session.scalars(
                select(Product).where(
                    Product.store_id == store.store_id, Product.external_id == product_id
                )
            )
        ).one()
        session.add(
            ProductEnrichment(
                product_id=product.id,
                organization_id=product.organization_id,
                store_id=product.store_id,
                description="Staff pick",
                tags=["local"],
                featured=True,
                sort_order=3,
            )
        )
    store.sim.change_product(product_id, price_cents=5555, quantity=9, name="New Name")
    clock.advance(60)
    seen = len(await stream_events(database, store))
    for kind in (SyncKind.INCREMENTAL, SyncKind.INVENTORY, SyncKind.FULL):
        run = await sync(database, connector, store, kind)
        assert run.status is SyncStatus.SUCCEEDED, (kind, run.error)
    # The update event carries the same kiosk view the catalog API serves, enrichment included.
    updated = [
        e for e in (await stream_events(database, store))[seen:] if e["type"] == "product.updated"
    ]
    assert updated[0]["data"]["name"] == "New Name"
    assert updated[0]["data"]["description"] == "Staff pick"
    assert "local" in updated[0]["data"]["tags"]
    store.sim.control.delete(f"/_sim/stores/{store.sim.id}/products/{product_id}")
    assert (await sync(database, connector, store)).deactivated == 1
    async with database.transaction(write=False) as session:
        enrichment = (await session.scalars(select(ProductEnrichment))).one()
        renamed = await session.get(Product, enrichment.product_id)
    assert renamed is not None
    assert renamed.name == "New Name"
    assert not renamed.is_active
    assert (
        enrichment.description,
        enrichment.tags,
        enrichment.featured,
        enrichment.sort_order,
    ) == (
        "Staff pick",
        ["local"],
        True,
        3,
    )


async def test_bad_records_are_quarantined_and_the_run_partially_succeeds(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(40)
    store.sim.add_fault("products", "bad_records", count=1)
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.PARTIALLY_SUCCEEDED
    assert run.invalid > 0
    assert run.created + run.invalid == run.fetched == 40
    async with database.transaction(write=False) as session:
        issues = (
            await session.scalars(select(SyncIssue).where(SyncIssue.sync_run_id == run.id))
        ).all()
    assert len(issues) == run.invalid
    assert all(issue.reason and issue.raw_record is not None for issue in issues)
    assert await count_rows(database, Product, store) == run.created

    # The fault is gone: the next full sync takes the records and hides nothing.
    again = await sync(database, connector, store)
    assert again.status is SyncStatus.SUCCEEDED
    assert (again.created, again.deactivated, again.invalid) == (run.invalid, 0, 0)


async def test_a_pos_outage_leaves_the_catalog_and_reschedules(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(15)
    await sync(database, connector, store)
    before = await catalog_of(database, store)
    events_before = len(await stream_events(database, store))
    store.sim.change_product(store.sim.products()[0]["id"], price_cents=1)
    store.sim.add_fault("products", "status", status=503)

    run = await sync(database, connector, store)
    assert run.status is SyncStatus.FAILED
    assert run.error is not None
    assert "503" in run.error
    assert await catalog_of(database, store) == before
    assert len(await stream_events(database, store)) == events_before
    async with database.transaction(write=False) as session:
        notices = (await session.scalars(select(AdminNotification))).all()
        state = await session.get(StoreSyncState, store.store_id)
    # `sync_failed` fires at its threshold of failures in a row (3 by default), not at one.
    assert notices == []
    assert state is not None
    assert state.consecutive_failures == 1
    assert state.next_catalog_sync_at is not None
    assert state.next_catalog_sync_at > clock.now()
    first_retry = state.next_catalog_sync_at

    second = await sync(database, connector, store)
    assert second.status is SyncStatus.FAILED
    async with database.transaction(write=False) as session:
        state = await session.get(StoreSyncState, store.store_id)
    assert state is not None
    assert state.consecutive_failures == 2
    assert state.next_catalog_sync_at is not None
    assert state.next_catalog_sync_at - clock.now() > first_retry - clock.now()  # backoff grows

    store.sim.control.delete(f"/_sim/stores/{store.sim.id}/faults").raise_for_status()
    await connector.breakers.for_store(store.store_id).reset(actor="test")
    recovered = await sync(database, connector, store)
    assert recovered.status is SyncStatus.SUCCEEDED, recovered.error
    assert recovered.updated == 1


async def test_a_truncated_full_fetch_is_refused(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(20)
    await sync(database, connector, store)
    before = await catalog_of(database, store)
    for product in store.sim.products()[:11]:
        store.sim.control.delete(f"/_sim/stores/{store.sim.id}/products/{product['id']}")
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.FAILED
    assert run.error is not None
    assert "truncated" in run.error
    assert await catalog_of(database, store) == before  # nothing hidden


async def test_two_concurrent_runs_of_a_kind_one_wins(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(10)
    # The first run holds the lock while the POS takes its time to answer.
    store.sim.add_fault("*", "latency", latency_ms=1500, count=1)
    first = asyncio.create_task(sync(database, connector, store))
    for _ in range(200):
        async with database.transaction(write=False) as session:
            running = await session.scalar(
                select(SyncRun.id).where(
                    SyncRun.store_id == store.store_id, SyncRun.status == SyncStatus.RUNNING
                )
            )
        if running is not None:
            break
        await asyncio.sleep(0.01)
    assert running is not None
    assert not first.done()
    with pytest.raises(SyncInProgress):
        await sync(database, connector, store)
    assert (await first).status is SyncStatus.SUCCEEDED
    # Another kind is not blocked, and the lock is free again afterwards.
    assert (
        await sync(database, connector, store, SyncKind.INVENTORY)
    ).status is SyncStatus.SUCCEEDED
    assert (await sync(database, connector, store)).status is SyncStatus.SUCCEEDED


async def test_a_stale_running_run_is_abandoned_and_replaced(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(5)
    async with database.transaction() as session:
        stale = SyncRun(
            organization_id=store.tenant.organization.id,
            store_id=store.store_id,
            kind=SyncKind.FULL,
            trigger=SyncTrigger.SCHEDULE,
            started_at=clock.now(),
            heartbeat_at=clock.now(),
        )
        session.add(stale)
    with pytest.raises(SyncInProgress):
        await sync(database, connector, store)
    # Full and incremental exclude each other; inventory runs alongside.
    with pytest.raises(SyncInProgress):
        await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert (await sync(database, connector, store, SyncKind.INVENTORY)).status is (
        SyncStatus.SUCCEEDED
    )
    clock.advance(STALE_RUN_AFTER.total_seconds() + 1)
    run = await sync(database, connector, store)
    assert run.status is SyncStatus.SUCCEEDED
    async with database.transaction(write=False) as session:
        abandoned = await session.get(SyncRun, stale.id)
    assert abandoned is not None
    assert (abandoned.status, abandoned.error) == (SyncStatus.FAILED, "abandoned: worker stopped")


async def test_events_one_per_change_none_for_unchanged(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(20)
    await sync(database, connector, store)
    offset = len(await stream_events(database, store))
    products = store.sim.products()
    store.sim.change_product(products[0]["id"], price_cents=777)
    store.sim.change_product(products[1]["id"], active=False)
    clock.advance(60)
    await sync(database, connector, store, SyncKind.INCREMENTAL)
    events = (await stream_events(database, store))[offset:]
    assert sorted((e["type"], e["data"]["external_id"]) for e in events) == sorted(
        [
            ("product.updated", str(products[0]["id"])),
            ("product.deactivated", str(products[1]["id"])),
        ]
    )
    updated = next(e for e in events if e["type"] == "product.updated")
    assert {v["price_cents"] for v in updated["data"]["variants"]} != set()
    async with database.transaction(write=False) as session:
        variants = (
            await session.scalars(
                select(ProductVariant).where(
                    ProductVariant.product_id == uuid_of(updated["data"]["id"])
                )
            )
        ).all()
    assert sorted(v["price_cents"] for v in updated["data"]["variants"]) == sorted(
        v.price_cents for v in variants
    )

    # Inventory: only the variants whose stock moved; a product the list omits has none.
    offset = len(await stream_events(database, store))
    store.sim.change_product(products[2]["id"], quantity=0)
    store.sim.change_product(products[3]["id"], quantity=41)
    run = await sync(database, connector, store, SyncKind.INVENTORY)
    events = (await stream_events(database, store))[offset:]
    assert {e["type"] for e in events} == {"inventory.changed"}
    assert len(events) == run.updated > 0
    quantities = {e["data"]["variant_id"]: e["data"]["quantity_available"] for e in events}
    async with database.transaction(write=False) as session:
        for variant_id, quantity in quantities.items():
            variant = await session.get(ProductVariant, uuid_of(variant_id))
            assert variant is not None
            assert variant.quantity_available == quantity
    again = await sync(database, connector, store, SyncKind.INVENTORY)
    assert again.updated == 0
    assert len(await stream_events(database, store)) == offset + len(events)


def uuid_of(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def test_work_is_proportional_to_changes(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(10_000)
    full = await sync(database, connector, store)
    assert (full.status, full.created) == (SyncStatus.SUCCEEDED, 10_000)
    events = await stream_events(database, store)
    assert [e["type"] for e in events] == ["catalog.resync"]  # too many changes for events
    if database.is_sqlite:  # a bulk change refreshes SQLite's planner statistics
        async with database.transaction(write=False) as session:
            analyzed = await session.scalar(
                text("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'products'")
            )
        assert analyzed

    # Products kiosks see: a change to one the POS lists as inactive (or off its online menu) is
    # announced as `product.deactivated`, and the seeded catalog has some of those.
    visible = {
        external_id
        for external_id, fields in (await catalog_of(database, store)).items()
        if fields[3]
    }
    products = [p for p in store.sim.products() if str(p["id"]) in visible]
    for product in products[::900][:10]:
        store.sim.change_product(product["id"], price_cents=product["price_cents"] + 100)
    clock.advance(60)
    run = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert run.status is SyncStatus.SUCCEEDED
    assert (run.created, run.updated, run.deactivated) == (0, 10, 0)
    assert run.unchanged == run.fetched - 10
    new_events = (await stream_events(database, store))[len(events) :]
    assert [e["type"] for e in new_events] == ["product.updated"] * 10


async def test_two_processes_racing_for_the_lock_one_runs(
    database: Database, connector: PosConnector, new_store: Any, settings: Any
) -> None:
    store = await new_store(10)
    store.sim.add_fault("products", "latency", latency_ms=1500, count=1)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.sync.probe_sync",
            settings.database_url,
            str(store.store_id),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            while (line := await asyncio.wait_for(process.stdout.readline(), 30)) != b"ready\n":
                assert line, "the probe exited before it was ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        outcomes = []
        for process in processes:
            assert process.stdout is not None
            # Log lines share stdout; the outcome is the last line.
            output = await asyncio.wait_for(process.stdout.read(), 30)
            outcomes.append(output.strip().splitlines()[-1])
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()
    assert sorted(outcomes) == [b"in_progress", b"succeeded"]
    assert await count_rows(database, Product, store) == 10


async def test_a_resync_run_failing_midway_still_tells_kiosks_to_reload(
    database: Database,
    connector: PosConnector,
    new_store: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Batches of a run with too many changes for events commit without them: if the run then
    fails, the batches that did commit must still reach kiosks (one `catalog.resync`)."""
    store = await new_store(1_200)
    real_write = writes.write_products
    batches = 0

    async def failing_second_batch(*args: Any, **kwargs: Any) -> Any:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("disk full")
        return await real_write(*args, **kwargs)

    monkeypatch.setattr("ridgeline.sync.service.write_products", failing_second_batch)
    with pytest.raises(RuntimeError, match="disk full"):  # unexpected: recorded, then raised
        await sync(database, connector, store, clock=clock)
    async with database.transaction(write=False) as session:
        run = (await session.scalars(select(SyncRun))).one()
    assert run.status is SyncStatus.FAILED
    assert run.created == service.BATCH_SIZE  # the first batch committed
    events = await stream_events(database, store)
    assert [e["type"] for e in events] == ["catalog.resync"]
    assert events[0]["data"]["sync_run_id"] == str(run.id)


async def test_a_run_asked_to_read_after_a_time_does_not_start_when_one_has(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(4)
    since = clock.now()

    async def after(kind: SyncKind, read_since: Any) -> SyncRun:
        return await service.run_sync(
            database,
            connector,
            store.store_id,
            kind,
            SyncTrigger.WEBHOOK,
            clock=clock,
            read_since=read_since,
        )

    full = await sync(database, connector, store, clock=clock)
    stock = await after(SyncKind.INVENTORY, since)
    with pytest.raises(service.AlreadyRead) as read:
        await after(SyncKind.INVENTORY, since)
    assert (read.value.run_id, read.value.status) == (stock.id, stock.status)
    # A full run read the whole catalog: it covers an incremental read too.
    with pytest.raises(service.AlreadyRead) as read:
        await after(SyncKind.INCREMENTAL, since)
    assert read.value.run_id == full.id
    # After every run so far: started.
    clock.advance(1)
    later = await after(SyncKind.INCREMENTAL, clock.now())
    assert later.kind is SyncKind.INCREMENTAL
    assert later.status is SyncStatus.SUCCEEDED
    async with database.transaction(write=False) as session:
        runs = (await session.scalars(select(SyncRun.kind))).all()
    assert sorted(runs) == sorted([SyncKind.FULL, SyncKind.INVENTORY, SyncKind.INCREMENTAL])
