"""Freshness by polling (docs/sync.md, "Freshness"): at the default schedule a POS without
webhooks is read every 30 s, incrementally where it filters by modification time (with an overlap
window, and records seen twice written once), the price taken from the endpoint that carries it;
and the polls of the stores sharing a vendor's limits stay inside them. Against the simulator
over real HTTP, on the test clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.jobs import NoPayload
from ridgeline.models import Job, JobStatus, StoreSyncState, SyncKind, SyncStatus
from ridgeline.models.sync import DEFAULT_CATALOG_INTERVAL_S, DEFAULT_INVENTORY_INTERVAL_S
from ridgeline.pos.adapters.dutchie import RATE_LIMITS as DUTCHIE_LIMITS
from ridgeline.pos.adapters.dutchie import DutchieAdapter
from ridgeline.pos.adapters.flowhub import FlowhubAdapter
from ridgeline.pos.client import PosConnector
from ridgeline.possim.model import parse_iso
from ridgeline.resilience.rate_limit import RateLimit, RateLimits
from ridgeline.sync.polling import POLL_SHARE, budgeted_due_at, poll_spacing_s
from ridgeline.sync.tasks import (
    ENQUEUE_DUE,
    ENQUEUE_DUE_EVERY_S,
    IDLE_RUN_RETENTION,
    PURGE_IDLE_RUNS,
    enqueue_due_syncs,
    purge_idle_runs,
)
from tests.factories import job_context, make_store
from tests.pos.simulator import create_store
from tests.sync.conftest import (
    SyncedStore,
    SyncTenant,
    catalog_of,
    configure_store,
    make_sync_tenant,
    stream_events,
    sync,
)
from tests.sync.test_tasks import runs_by_kind, scheduled_worker

# One retailer-wide limit of 12 calls a minute (no headroom): both polls read its one bucket.
TIGHT = RateLimits(
    vendor="flowhub", buckets={"default": RateLimit(limit=12, period_s=60.0, burst=1)}
)


def prices_of(catalog: dict[str, Any], external_id: str) -> set[int]:
    return {variant[2] for variant in catalog[external_id][5]}


def first_active(store: SyncedStore) -> list[dict[str, Any]]:
    return [p for p in store.sim.products() if p["active"] and p["online"]]


async def set_cursor(database: Database, store: SyncedStore, **change: Any) -> None:
    async with database.transaction() as session:
        state = await session.get(StoreSyncState, store.store_id)
        assert state is not None
        for name, value in change.items():
            setattr(state, name, value)


# --- the schedule at its defaults ------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["dutchie", "flowhub"])
async def test_at_the_defaults_a_price_and_a_stock_change_arrive_with_the_next_polls(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock, dialect: str
) -> None:
    assert DEFAULT_CATALOG_INTERVAL_S == DEFAULT_INVENTORY_INTERVAL_S == 30
    store = await new_store(8, dialect)
    work = scheduled_worker(database, connector, clock)
    await work.run_until_idle()  # the first full and inventory syncs
    priced, stocked = first_active(store)[:2]
    store.sim.change_product(priced["id"], price_cents=priced["price_cents"] + 101)
    store.sim.change_product(stocked["id"], quantity=stocked["quantity"] + 7)

    # One interval and one tick of the schedule later, both polls have run.
    clock.advance(DEFAULT_CATALOG_INTERVAL_S + ENQUEUE_DUE_EVERY_S)
    await work.run_until_idle()
    kinds = await runs_by_kind(database)
    assert (SyncKind.INCREMENTAL, SyncStatus.SUCCEEDED) in kinds
    assert kinds.count((SyncKind.INVENTORY, SyncStatus.SUCCEEDED)) == 2
    catalog = await catalog_of(database, store)
    assert priced["price_cents"] + 101 in prices_of(catalog, priced["id"])
    assert sum(v[3] for v in catalog[stocked["id"]][5]) == stocked["quantity"] + 7


async def test_a_poll_of_dutchie_asks_only_for_what_changed(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(10, "dutchie")
    await sync(database, connector, store)
    before = len(store.sim.requests())
    run = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    polled = store.sim.requests()[before:]
    assert [(r["path"], r["endpoint"]) for r in polled] == [
        ("/dutchie/products", "products_changed")
    ]
    assert run.fetched < 10  # the changed-since filter, not the whole catalog


# --- overlap and dedupe --------------------------------------------------------------------------


async def test_the_overlap_window_catches_a_change_just_behind_the_cursor(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(10, "dutchie")
    await sync(database, connector, store)
    target = first_active(store)[0]
    changed = store.sim.change_product(target["id"], price_cents=target["price_cents"] + 55)
    modified = parse_iso(changed["updated_at"])

    # The change showed late (Dutchie: 1-5 minutes after the register) and other records had
    # moved the cursor 5 minutes past its modification time: the overlap still reads it.
    overlap = timedelta(seconds=DutchieAdapter.cursor_overlap_s)
    assert overlap >= timedelta(minutes=5)
    await set_cursor(database, store, catalog_cursor=modified + timedelta(minutes=5))
    run = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    assert run.updated == 1
    catalog = await catalog_of(database, store)
    assert target["price_cents"] + 55 in prices_of(catalog, target["id"])

    # Read again by the next overlapping poll, and twice in one answer: written once.
    events = len(await stream_events(database, store))
    store.sim.add_fault("products_changed", "duplicate_page", count=1)
    await set_cursor(database, store, catalog_cursor=modified + timedelta(minutes=5))
    again = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert again.status is SyncStatus.SUCCEEDED, again.error
    assert (again.updated, again.created) == (0, 0)
    assert again.unchanged >= 1
    assert len(await stream_events(database, store)) == events

    # Beyond the window, a change behind the cursor is not read (the full sync's job).
    changed = store.sim.change_product(target["id"], price_cents=target["price_cents"] + 77)
    modified = parse_iso(changed["updated_at"])
    await set_cursor(database, store, catalog_cursor=modified + overlap + timedelta(seconds=30))
    missed = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert missed.fetched == 0


async def test_flowhub_takes_the_price_from_the_inventory_it_polls(
    database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(8, "flowhub")
    await sync(database, connector, store)
    target = first_active(store)[0]
    store.sim.change_product(target["id"], price_cents=target["price_cents"] + 33)
    before = len(store.sim.requests())
    run = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    polled = store.sim.requests()[before:]
    assert len(polled) == 1
    assert polled[0]["path"].endswith("/inventory")
    catalog = await catalog_of(database, store)
    assert target["price_cents"] + 33 in prices_of(catalog, target["id"])


async def test_a_poll_that_meets_a_429_waits_its_retry_after_and_goes_on(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(8, "dutchie")
    await sync(database, connector, store)
    target = first_active(store)[0]
    store.sim.change_product(target["id"], price_cents=target["price_cents"] + 9)
    store.sim.add_fault("products_changed", "rate_limit", retry_after_s=1, count=1)
    before, started = len(store.sim.requests()), clock.now()
    run = await sync(database, connector, store, SyncKind.INCREMENTAL)
    assert run.status is SyncStatus.SUCCEEDED, run.error
    assert [r["status"] for r in store.sim.requests()[before:]] == [429, 200]
    assert (clock.now() - started).total_seconds() >= 1
    catalog = await catalog_of(database, store)
    assert target["price_cents"] + 9 in prices_of(catalog, target["id"])


# --- rate-limit budget ---------------------------------------------------------------------------


@pytest.mark.parametrize("stores", [1, 3, 10, 40])
def test_a_retailers_polls_stay_inside_its_share_of_a_shared_limit(stores: int) -> None:
    per_minute = 0.0
    for kind in (SyncKind.INCREMENTAL, SyncKind.INVENTORY):
        spacing = max(30.0, poll_spacing_s(TIGHT, kind, stores))
        per_minute += stores * 60.0 / spacing
    assert per_minute <= 12 * POLL_SHARE + 1e-9


def test_dutchie_counts_each_store_on_its_own_key() -> None:
    due = FakeClock().now()
    for kind in (SyncKind.INCREMENTAL, SyncKind.INVENTORY):
        # A retailer of 100 Dutchie stores still polls each every 30 s: one key per location.
        assert budgeted_due_at(due, 30, DUTCHIE_LIMITS, kind, retailer_stores=100) == due


async def queued_syncs(database: Database) -> dict[str, set[str]]:
    async with database.transaction(write=False) as session:
        jobs = (
            await session.scalars(
                select(Job).where(Job.kind == "sync.run", Job.status == JobStatus.QUEUED)
            )
        ).all()
    queued: dict[str, set[str]] = {}
    for job in jobs:
        queued.setdefault(job.payload["store_id"], set()).add(job.payload["kind"])
    return queued


async def test_the_schedule_spaces_the_polls_of_stores_sharing_a_limit(
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    new_store: Any,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(FlowhubAdapter, "rate_limits", TIGHT)
    first = await make_sync_tenant(database)
    shared = [
        await configure_store(database, connector, create_store(control, "flowhub", 3), first)
    ]
    for n in range(2):
        store = await make_store(database, first.organization, f"Branch {n}")
        tenant = SyncTenant(first.organization, store, first.admin)
        shared.append(
            await configure_store(database, connector, create_store(control, "flowhub", 3), tenant)
        )
    alone = await new_store(3, "dutchie")  # its own key: not held back
    context = job_context(database, clock, ENQUEUE_DUE)
    # 3 stores x 2 polls on a 12/min limit, half of it for polls: one poll of each kind per
    # store a minute, 30 s beyond the default interval.
    spacing = poll_spacing_s(TIGHT, SyncKind.INVENTORY, 3)
    assert spacing == pytest.approx(60.0)
    start = clock.now()
    await enqueue_due_syncs(context, NoPayload())
    assert await queued_syncs(database) == {str(alone.store_id): {"full", "inventory"}}
    # A tick looks one tick ahead: not yet due before the next one, not queued.
    held_until = start + timedelta(seconds=spacing - DEFAULT_INVENTORY_INTERVAL_S)
    clock.advance((held_until - start).total_seconds() - ENQUEUE_DUE_EVERY_S - 1)
    await enqueue_due_syncs(context, NoPayload())
    assert set(await queued_syncs(database)) == {str(alone.store_id)}
    # Due before the next tick: queued now, to run when the limit allows it.
    clock.advance(2)
    await enqueue_due_syncs(context, NoPayload())
    queued = await queued_syncs(database)
    assert {str(s.store_id) for s in shared} <= set(queued)
    assert all(queued[str(s.store_id)] == {"full", "inventory"} for s in shared)
    sharing = {str(s.store_id) for s in shared}
    async with database.transaction(write=False) as session:
        jobs = (await session.scalars(select(Job).where(Job.kind == "sync.run"))).all()
    run_at = {job.run_at for job in jobs if job.payload["store_id"] in sharing}
    assert {at.replace(tzinfo=None) for at in run_at} == {held_until.replace(tzinfo=None)}


# --- the run history -----------------------------------------------------------------------------


async def test_runs_that_changed_nothing_are_purged_after_a_day(
    database: Database, connector: PosConnector, new_store: Any, clock: FakeClock
) -> None:
    store = await new_store(6, "dutchie")
    full = await sync(database, connector, store)
    stocked = await sync(database, connector, store, SyncKind.INVENTORY)
    idle = await sync(database, connector, store, SyncKind.INVENTORY)
    store.sim.add_fault("inventory", "status", status=500, count=5)
    failed = await sync(database, connector, store, SyncKind.INVENTORY)
    assert (full.created, idle.updated, failed.status) == (6, 0, SyncStatus.FAILED)
    assert stocked.updated > 0
    context = job_context(database, clock, PURGE_IDLE_RUNS)
    clock.advance(IDLE_RUN_RETENTION.total_seconds() - 60)
    await purge_idle_runs(context, NoPayload())
    assert len(await runs_by_kind(database)) == 4
    clock.advance(120)
    await purge_idle_runs(context, NoPayload())
    # The run that found nothing to change goes; those that wrote and the failed one stay.
    assert await runs_by_kind(database) == [
        (SyncKind.FULL, SyncStatus.SUCCEEDED),
        (SyncKind.INVENTORY, SyncStatus.FAILED),
        (SyncKind.INVENTORY, SyncStatus.SUCCEEDED),
    ]
