"""The evaluated rules (`alerts.evaluate`): each condition raises its alert, a store's or an
organization's override moves when it fires, and the alert resolves by itself once the
condition clears. Driven with the injected clock and `evaluate_rules` called as the job calls it;
alerts read back from the database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from ridgeline.alerts.evaluation import EvaluationResult, evaluate_rules
from ridgeline.alerts.platform import PLATFORM_SLUG
from ridgeline.alerts.rules import EVALUATE_EVERY_S
from ridgeline.alerts.tasks import EVALUATE_JOB, alert_schedules, alert_tasks, run_notify
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import (
    AdminNotification,
    AlertGroup,
    Job,
    Kiosk,
    KioskApiKey,
    Order,
    OrderStatus,
    Organization,
    Store,
    StoreConnectionState,
    StoreHealth,
)
from ridgeline.models.job import JobStatus
from ridgeline.models.kiosk import KioskKeyPurpose, KioskStatus
from ridgeline.models.notification import AlertRuleOverride
from ridgeline.models.sync import StoreSyncState
from tests.factories import Tenant, make_kiosk, make_store, make_tenant


@dataclass
class Org:
    tenant: Tenant
    stores: list[Store]

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.organization.id

    @property
    def kiosk(self) -> Kiosk:
        return self.tenant.kiosk


async def make_org(database: Database) -> Org:
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        # Only what a test makes: make_tenant's job, alert, group and order are placeholders.
        await session.execute(delete(Job).where(Job.id == tenant.job_id))
        await session.execute(
            delete(AdminNotification).where(AdminNotification.id == tenant.alert_id)
        )
        await session.execute(delete(AlertGroup).where(AlertGroup.id == tenant.alert_group_id))
        await session.execute(delete(Order).where(Order.id == tenant.order_id))
    second = await make_store(database, tenant.organization, "Store 2")
    return Org(tenant, [tenant.store, second])


@pytest.fixture
async def org(database: Database) -> Org:
    return await make_org(database)


@pytest.fixture
async def other(database: Database) -> Org:
    """Another organization, whose data must never reach `org`'s alerts."""
    return await make_org(database)


# --- arranging the figures --------------------------------------------------------------------


async def add_order(
    database: Database,
    store: Store,
    clock: FakeClock,
    *,
    age_s: float,
    status: OrderStatus = OrderStatus.RECEIVED,
) -> Order:
    placed = clock.now() - timedelta(seconds=age_s)
    async with database.transaction() as session:
        order = Order(
            organization_id=store.organization_id,
            store_id=store.id,
            reference=f"RL-{uuid.uuid4().hex[:10].upper()}",
            status=status,
            subtotal_cents=0,
            currency=store.currency,
            pos_idempotency_key=uuid.uuid4().hex,
            status_changed_at=placed,
            created_at=placed,
        )
        session.add(order)
    return order


async def set_order_status(database: Database, order: Order, status: OrderStatus) -> None:
    async with database.transaction() as session:
        await session.execute(update(Order).where(Order.id == order.id).values(status=status))


async def set_health(database: Database, store: Store, state: StoreConnectionState) -> None:
    async with database.transaction() as session:
        row = await session.get(StoreHealth, store.id)
        if row is None:
            now = datetime.now(UTC)
            row = StoreHealth(
                store_id=store.id,
                organization_id=store.organization_id,
                state=state,
                cause="test",
                since=now,
                evidence={},
                updated_at=now,
            )
            session.add(row)
        row.state = state


async def set_sync(
    database: Database,
    store: Store,
    *,
    last_success_at: datetime | None,
    stale_after_s: int = 3600,
    configured_at: datetime | None = None,
) -> None:
    """Gives the store a POS and its sync state."""
    async with database.transaction() as session:
        await session.execute(
            update(Store)
            .where(Store.id == store.id)
            .values(pos_provider="dutchie", pos_config_updated_at=configured_at)
        )
        row = await session.get(StoreSyncState, store.id)
        if row is None:
            row = StoreSyncState(
                store_id=store.id, organization_id=store.organization_id, field_mapping={}
            )
            session.add(row)
        row.last_success_at = last_success_at
        row.stale_after_s = stale_after_s


async def set_kiosk(database: Database, kiosk: Kiosk, **values: Any) -> None:
    async with database.transaction() as session:
        await session.execute(update(Kiosk).where(Kiosk.id == kiosk.id).values(**values))


async def set_key(database: Database, key_id: uuid.UUID, **values: Any) -> None:
    async with database.transaction() as session:
        await session.execute(update(KioskApiKey).where(KioskApiKey.id == key_id).values(**values))


async def add_key(
    database: Database,
    kiosk: Kiosk,
    *,
    expires_at: datetime | None,
    purpose: KioskKeyPurpose = KioskKeyPurpose.KIOSK,
    revoked_at: datetime | None = None,
) -> uuid.UUID:
    key = new_kiosk_key()
    async with database.transaction() as session:
        row = KioskApiKey(
            organization_id=kiosk.organization_id,
            kiosk_id=kiosk.id,
            key_hash=digest(key),
            key_prefix=display_prefix(key),
            created_at=datetime.now(UTC),
            expires_at=expires_at,
            revoked_at=revoked_at,
            purpose=purpose,
        )
        session.add(row)
    return row.id


async def override(
    database: Database, org: Org, rule: str, store: Store | None = None, **settings: Any
) -> None:
    async with database.transaction() as session:
        session.add(
            AlertRuleOverride(
                organization_id=org.id,
                store_id=store.id if store is not None else None,
                rule=rule,
                settings=settings,
            )
        )


# --- reading the alerts back ------------------------------------------------------------------


async def alerts_of(database: Database, kind: str) -> list[AdminNotification]:
    """Every alert of the rule, oldest first."""
    async with database.transaction(write=False) as session:
        statement = (
            select(AdminNotification)
            .where(AdminNotification.kind == kind)
            .order_by(AdminNotification.created_at, AdminNotification.id)
        )
        return list((await session.scalars(statement)).all())


async def open_of(database: Database, kind: str) -> dict[uuid.UUID | None, AdminNotification]:
    """The rule's open alerts, by store."""
    return {a.store_id: a for a in await alerts_of(database, kind) if a.resolved_at is None}


def counts(result: EvaluationResult, rule: str) -> tuple[int, int, int]:
    tally = result.rules[rule]
    return tally.raised, tally.kept, tally.resolved


# --- the job ----------------------------------------------------------------------------------


def test_the_evaluation_runs_every_evaluate_every_s() -> None:
    schedules = {schedule.kind: schedule for schedule in alert_schedules()}
    assert schedules[EVALUATE_JOB].every_s == EVALUATE_EVERY_S
    assert EVALUATE_JOB in alert_tasks


async def test_nothing_is_raised_for_a_quiet_fleet(
    database: Database, clock: FakeClock, org: Org
) -> None:
    result = await evaluate_rules(database, clock=clock)
    assert all(tally.raised == tally.kept == tally.resolved == 0 for tally in result.rules.values())
    async with database.transaction(write=False) as session:
        assert (await session.scalars(select(AdminNotification))).all() == []


# --- orders_waiting ---------------------------------------------------------------------------


async def test_orders_waiting_raises_past_the_threshold_and_resolves_when_orders_flow(
    database: Database, clock: FakeClock, org: Org
) -> None:
    store = org.stores[0]
    oldest = await add_order(database, store, clock, age_s=500)
    accepted = await add_order(database, store, clock, age_s=5000, status=OrderStatus.ACCEPTED)
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 0, 0)

    clock.advance(101)  # 601 s: past the default 600
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (1, 0, 0)
    alert = (await open_of(database, "orders_waiting"))[store.id]
    assert alert.state == "firing"
    assert alert.dedup_key == f"orders_waiting:{store.id}:"
    assert alert.organization_id == org.id
    assert oldest.reference in alert.message
    assert accepted.reference not in alert.message
    assert alert.details["waiting"] == 1

    # A `submitted` order has not been accepted either: it waits too.
    await add_order(database, store, clock, age_s=30, status=OrderStatus.SUBMITTED)
    clock.advance(EVALUATE_EVERY_S)
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 1, 0)
    alert = (await open_of(database, "orders_waiting"))[store.id]
    assert alert.occurrences == 2
    assert alert.details["waiting"] == 2
    assert alert.details["oldest_reference"] == oldest.reference

    # The oldest is accepted; the one left has waited only a minute.
    await set_order_status(database, oldest, OrderStatus.ACCEPTED)
    clock.advance(EVALUATE_EVERY_S)
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 0, 1)
    [resolved] = await alerts_of(database, "orders_waiting")
    assert resolved.state == "resolved"
    assert resolved.details["resolution"] == "orders flowing again"


async def test_orders_waiting_resolves_when_no_order_waits(
    database: Database, clock: FakeClock, org: Org
) -> None:
    order = await add_order(database, org.stores[0], clock, age_s=700, status=OrderStatus.QUEUED)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "orders_waiting")) == {org.stores[0].id}

    await set_order_status(database, order, OrderStatus.FAILED)
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 0, 1)
    [resolved] = await alerts_of(database, "orders_waiting")
    assert resolved.details["resolution"].startswith("orders flowing again")


async def test_orders_waiting_follows_organization_and_store_thresholds(
    database: Database, clock: FakeClock, org: Org
) -> None:
    first, second = org.stores
    await add_order(database, first, clock, age_s=400)
    await add_order(database, second, clock, age_s=400)
    await evaluate_rules(database, clock=clock)
    assert await open_of(database, "orders_waiting") == {}

    # The organization waits 5 minutes; its second store a full hour.
    await override(database, org, "orders_waiting", threshold=300)
    await override(database, org, "orders_waiting", second, threshold=3600)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "orders_waiting")) == {first.id}

    # The organization raises its threshold again: the first store's alert clears by itself.
    async with database.transaction() as session:
        await session.execute(
            update(AlertRuleOverride)
            .where(AlertRuleOverride.store_id.is_(None))
            .values(settings={"threshold": 1200})
        )
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 0, 1)
    assert await open_of(database, "orders_waiting") == {}


@pytest.mark.parametrize("state", [StoreConnectionState.PAUSED, StoreConnectionState.UNCONFIGURED])
async def test_orders_waiting_leaves_out_paused_and_unconfigured_stores(
    database: Database, clock: FakeClock, org: Org, state: StoreConnectionState
) -> None:
    first, second = org.stores
    await add_order(database, first, clock, age_s=700)
    await add_order(database, second, clock, age_s=700)
    await set_health(database, second, state)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "orders_waiting")) == {first.id}

    # Pausing a store with an open alert resolves it: it is not judged any more.
    await set_health(database, first, state)
    assert counts(await evaluate_rules(database, clock=clock), "orders_waiting") == (0, 0, 1)
    [resolved] = await alerts_of(database, "orders_waiting")
    assert state.value in resolved.details["resolution"]


# --- catalog_stale ----------------------------------------------------------------------------


async def test_catalog_stale_raises_pending_then_fires_and_resolves_on_sync(
    database: Database, clock: FakeClock, org: Org
) -> None:
    store = org.stores[0]
    await set_sync(database, store, last_success_at=clock.now() - timedelta(minutes=50))
    await evaluate_rules(database, clock=clock)
    assert await open_of(database, "catalog_stale") == {}

    clock.advance(11 * 60)  # 61 min since the last success: past its stale-after hour
    assert counts(await evaluate_rules(database, clock=clock), "catalog_stale") == (1, 0, 0)
    alert = (await open_of(database, "catalog_stale"))[store.id]
    assert alert.state == "pending"  # the rule's `for` is 5 minutes
    assert alert.details["stale_after_s"] == 3600

    clock.advance(300)
    assert counts(await evaluate_rules(database, clock=clock), "catalog_stale") == (0, 1, 0)
    await run_notify(database, clock)
    assert (await open_of(database, "catalog_stale"))[store.id].state == "firing"

    await set_sync(database, store, last_success_at=clock.now())
    assert counts(await evaluate_rules(database, clock=clock), "catalog_stale") == (0, 0, 1)
    [resolved] = await alerts_of(database, "catalog_stale")
    assert resolved.details["resolution"] == "catalog synced again"


async def test_a_catalog_never_synced_is_stale_once_the_pos_is_configured_for_stale_after(
    database: Database, clock: FakeClock, org: Org
) -> None:
    store = org.stores[0]
    await set_sync(database, store, last_success_at=None, configured_at=clock.now())
    await evaluate_rules(database, clock=clock)
    assert await open_of(database, "catalog_stale") == {}

    clock.advance(3601)
    await evaluate_rules(database, clock=clock)
    assert "never synced" in (await open_of(database, "catalog_stale"))[store.id].message


async def test_catalog_stale_follows_the_store_settings(
    database: Database, clock: FakeClock, org: Org
) -> None:
    first, second = org.stores
    an_hour_ago = clock.now() - timedelta(hours=1, seconds=1)
    await set_sync(database, first, last_success_at=an_hour_ago)
    # The second store's catalog may be two hours old.
    await set_sync(database, second, last_success_at=an_hour_ago, stale_after_s=7200)
    # The organization wants to hear at once.
    await override(database, org, "catalog_stale", for_s=0)
    await evaluate_rules(database, clock=clock)
    alerts = await open_of(database, "catalog_stale")
    assert set(alerts) == {first.id}
    assert alerts[first.id].state == "firing"

    await set_sync(database, second, last_success_at=an_hour_ago, stale_after_s=1800)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "catalog_stale")) == {first.id, second.id}

    # The first store turns the rule off: its alert resolves.
    await override(database, org, "catalog_stale", first, enabled=False)
    assert counts(await evaluate_rules(database, clock=clock), "catalog_stale") == (0, 1, 1)
    assert set(await open_of(database, "catalog_stale")) == {second.id}


@pytest.mark.parametrize("state", [StoreConnectionState.PAUSED, StoreConnectionState.UNCONFIGURED])
async def test_catalog_stale_leaves_out_paused_and_unconfigured_stores(
    database: Database, clock: FakeClock, org: Org, state: StoreConnectionState
) -> None:
    first, second = org.stores
    for store in org.stores:
        await set_sync(database, store, last_success_at=clock.now() - timedelta(hours=3))
    await set_health(database, second, state)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "catalog_stale")) == {first.id}

    await set_health(database, first, state)
    assert counts(await evaluate_rules(database, clock=clock), "catalog_stale") == (0, 0, 1)
    assert await open_of(database, "catalog_stale") == {}


# --- kiosks_disconnected ----------------------------------------------------------------------


async def test_kiosks_disconnected_raises_past_the_threshold_and_resolves_on_contact(
    database: Database, clock: FakeClock, org: Org
) -> None:
    store = org.stores[0]
    await set_kiosk(database, org.kiosk, last_seen_at=clock.now())
    # A disabled kiosk's contact does not count, nor does one never seen.
    disabled, _, _ = await make_kiosk(database, store, "Kiosk 2")
    await make_kiosk(database, org.stores[1], "Never seen")
    await evaluate_rules(database, clock=clock)

    clock.advance(299)
    await set_kiosk(database, disabled, status=KioskStatus.DISABLED, last_seen_at=clock.now())
    await evaluate_rules(database, clock=clock)
    assert await open_of(database, "kiosks_disconnected") == {}

    clock.advance(1)  # 300 s: the default threshold
    assert counts(await evaluate_rules(database, clock=clock), "kiosks_disconnected") == (1, 0, 0)
    alert = (await open_of(database, "kiosks_disconnected"))[store.id]
    assert alert.dedup_key == f"kiosks_disconnected:{store.id}:"
    assert alert.details["active_kiosks"] == 1

    await set_kiosk(database, org.kiosk, last_seen_at=clock.now())
    assert counts(await evaluate_rules(database, clock=clock), "kiosks_disconnected") == (0, 0, 1)
    [resolved] = await alerts_of(database, "kiosks_disconnected")
    assert resolved.details["resolution"] == "a kiosk is in contact again"


async def test_kiosks_disconnected_follows_store_thresholds(
    database: Database, clock: FakeClock, org: Org
) -> None:
    first, second = org.stores
    kiosk, _, _ = await make_kiosk(database, second)
    for each in (org.kiosk, kiosk):
        await set_kiosk(database, each, last_seen_at=clock.now() - timedelta(minutes=10))
    await override(database, org, "kiosks_disconnected", second, threshold=900)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "kiosks_disconnected")) == {first.id}

    clock.advance(300)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "kiosks_disconnected")) == {first.id, second.id}


async def test_kiosks_silent_for_over_a_day_keep_their_alert_but_raise_no_new_one(
    database: Database, clock: FakeClock, org: Org
) -> None:
    first, second = org.stores
    kiosk, _, _ = await make_kiosk(database, second)
    await set_kiosk(database, org.kiosk, last_seen_at=clock.now())
    await set_kiosk(database, kiosk, last_seen_at=clock.now() - timedelta(days=2))
    clock.advance(600)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "kiosks_disconnected")) == {first.id}

    clock.advance(86400)
    result = await evaluate_rules(database, clock=clock)
    assert counts(result, "kiosks_disconnected") == (0, 1, 0)
    assert set(await open_of(database, "kiosks_disconnected")) == {first.id}

    # The store's kiosk is disabled: nothing is left to watch.
    await set_kiosk(database, org.kiosk, status=KioskStatus.DISABLED)
    assert counts(await evaluate_rules(database, clock=clock), "kiosks_disconnected") == (0, 0, 1)


# --- kiosk_keys_expiring ----------------------------------------------------------------------


async def test_kiosk_keys_expiring_raises_within_the_threshold_and_resolves_on_a_new_key(
    database: Database, clock: FakeClock, org: Org
) -> None:
    kiosk, key_id = org.kiosk, org.tenant.kiosk_key_id
    await set_key(database, key_id, expires_at=clock.now() + timedelta(days=20))
    # Neither a revoked key nor a diagnostic one keeps the kiosk going.
    await add_key(database, kiosk, expires_at=None, revoked_at=clock.now())
    await add_key(database, kiosk, expires_at=None, purpose=KioskKeyPurpose.DIAGNOSTIC)
    await evaluate_rules(database, clock=clock)
    assert await open_of(database, "kiosk_keys_expiring") == {}

    clock.advance(6 * 86400)  # 14 days left: the default threshold
    assert counts(await evaluate_rules(database, clock=clock), "kiosk_keys_expiring") == (1, 0, 0)
    alert = (await open_of(database, "kiosk_keys_expiring"))[org.stores[0].id]
    assert alert.dedup_key == f"kiosk_keys_expiring:{org.stores[0].id}:{kiosk.id}"
    assert alert.details["days_left"] == 14

    # A new key that never expires: the kiosk is fine.
    new_key = await add_key(database, kiosk, expires_at=None)
    assert counts(await evaluate_rules(database, clock=clock), "kiosk_keys_expiring") == (0, 0, 1)

    # With its later key expiring too, and every key expired: 0 days left.
    await set_key(database, new_key, expires_at=clock.now() + timedelta(days=1))
    clock.advance(30 * 86400)
    await evaluate_rules(database, clock=clock)
    alert = (await open_of(database, "kiosk_keys_expiring"))[org.stores[0].id]
    assert alert.details["days_left"] == 0
    assert "expired" in alert.message


async def test_kiosk_keys_expiring_follows_organization_and_store_thresholds(
    database: Database, clock: FakeClock, org: Org
) -> None:
    first, second = org.stores
    kiosk, _, key_id = await make_kiosk(database, second)
    await set_key(database, org.tenant.kiosk_key_id, expires_at=clock.now() + timedelta(days=20))
    await set_key(database, key_id, expires_at=clock.now() + timedelta(days=20))
    await override(database, org, "kiosk_keys_expiring", threshold=30)
    await override(database, org, "kiosk_keys_expiring", second, threshold=7)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "kiosk_keys_expiring")) == {first.id}

    clock.advance(14 * 86400)
    await evaluate_rules(database, clock=clock)
    assert set(await open_of(database, "kiosk_keys_expiring")) == {first.id, second.id}
    assert counts(await evaluate_rules(database, clock=clock), "kiosk_keys_expiring") == (0, 2, 0)

    # A disabled kiosk is not judged: its alert resolves.
    await set_kiosk(database, kiosk, status=KioskStatus.DISABLED)
    assert counts(await evaluate_rules(database, clock=clock), "kiosk_keys_expiring") == (0, 1, 1)
    assert set(await open_of(database, "kiosk_keys_expiring")) == {first.id}


# --- tenants ----------------------------------------------------------------------------------


async def test_another_organizations_figures_and_settings_stay_its_own(
    database: Database, clock: FakeClock, org: Org, other: Org
) -> None:
    # Every condition holds in `other`; `org` has only one of them, and silences one rule.
    await add_order(database, other.stores[0], clock, age_s=700)
    await set_sync(database, other.stores[0], last_success_at=clock.now() - timedelta(hours=2))
    await set_kiosk(database, other.kiosk, last_seen_at=clock.now() - timedelta(minutes=10))
    await set_key(database, other.tenant.kiosk_key_id, expires_at=clock.now() + timedelta(days=1))
    await set_kiosk(database, org.kiosk, last_seen_at=clock.now() - timedelta(minutes=10))
    await override(database, org, "orders_waiting", threshold=60)
    await override(database, other, "kiosks_disconnected", enabled=False)
    await add_order(database, org.stores[1], clock, age_s=90)

    await evaluate_rules(database, clock=clock)
    async with database.transaction(write=False) as session:
        rows = (await session.scalars(select(AdminNotification))).all()
        stores = (await session.execute(select(Store.id, Store.organization_id))).all()
    store_orgs = dict(stores)
    assert {(a.organization_id, a.kind) for a in rows} == {
        (org.id, "orders_waiting"),
        (org.id, "kiosks_disconnected"),
        (other.id, "orders_waiting"),
        (other.id, "catalog_stale"),
        (other.id, "kiosk_keys_expiring"),
    }
    assert all(store_orgs[a.store_id] == a.organization_id for a in rows if a.store_id)
    waiting = {a.organization_id: a.store_id for a in rows if a.kind == "orders_waiting"}
    assert waiting == {org.id: org.stores[1].id, other.id: other.stores[0].id}

    # `org`'s orders flow again: `other`'s alert stays open.
    await set_order_status(database, (await open_orders(database, org))[0], OrderStatus.ACCEPTED)
    await evaluate_rules(database, clock=clock)
    still_open = {
        (a.organization_id, a.kind)
        for a in (await alerts_of(database, "orders_waiting"))
        if a.resolved_at is None
    }
    assert still_open == {(other.id, "orders_waiting")}


async def open_orders(database: Database, org: Org) -> list[Order]:
    async with database.transaction(write=False) as session:
        statement = select(Order).where(Order.organization_id == org.id)
        return list((await session.scalars(statement)).all())


# --- platform rules: the job table ----------------------------------------------------------


async def add_job(
    database: Database, clock: FakeClock, *, status: JobStatus, age_s: float, kind: str
) -> uuid.UUID:
    at = clock.now() - timedelta(seconds=age_s)
    async with database.transaction() as session:
        job = Job(
            kind=kind,
            payload={},
            status=status,
            run_at=at,
            finished_at=at if status is JobStatus.DEAD else None,
            last_error="boom" if status is JobStatus.DEAD else None,
        )
        session.add(job)
    return job.id


async def platform_alerts(database: Database) -> list[AdminNotification]:
    async with database.transaction(write=False) as session:
        organization = await session.scalar(
            select(Organization).where(Organization.slug == PLATFORM_SLUG)
        )
        if organization is None:
            return []
        return list(
            (
                await session.scalars(
                    select(AdminNotification)
                    .where(AdminNotification.organization_id == organization.id)
                    .order_by(AdminNotification.kind)
                )
            ).all()
        )


async def test_dead_jobs_raise_a_platform_alert_that_retrying_resolves(
    database: Database, clock: FakeClock, org: Org
) -> None:
    await evaluate_rules(database, clock=clock)
    # Nothing to say: the platform organization is not even made.
    assert await platform_alerts(database) == []
    dead = await add_job(database, clock, status=JobStatus.DEAD, age_s=60, kind="sync.run")
    await evaluate_rules(database, clock=clock)
    [alert] = await platform_alerts(database)
    assert (alert.kind, alert.state, alert.store_id) == ("jobs_dead", "firing", None)
    assert alert.details["kinds"] == ["sync.run"]
    # A retailer never sees it.
    async with database.transaction(write=False) as session:
        mine = (
            await session.scalars(
                select(AdminNotification).where(AdminNotification.organization_id == org.id)
            )
        ).all()
    assert mine == []
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == dead).values(status=JobStatus.QUEUED, finished_at=None)
        )
    clock.advance(EVALUATE_EVERY_S)
    await evaluate_rules(database, clock=clock)
    [resolved] = await platform_alerts(database)
    assert resolved.state == "resolved"


async def test_a_job_backlog_is_pending_for_a_minute_then_fires_and_clears(
    database: Database, clock: FakeClock, org: Org
) -> None:
    waiting = await add_job(database, clock, status=JobStatus.QUEUED, age_s=200, kind="x.y")
    await add_job(database, clock, status=JobStatus.QUEUED, age_s=10, kind="x.y")
    await evaluate_rules(database, clock=clock)
    [alert] = await platform_alerts(database)
    assert (alert.kind, alert.state) == ("job_backlog", "pending")
    assert alert.details["due_not_started"] == 2
    clock.advance(60)
    await run_notify(database, clock)
    [alert] = await platform_alerts(database)
    assert alert.state == "firing"
    async with database.transaction() as session:
        await session.execute(delete(Job).where(Job.id == waiting))
    clock.advance(EVALUATE_EVERY_S)
    await evaluate_rules(database, clock=clock)
    [alert] = await platform_alerts(database)
    assert alert.state == "resolved"
