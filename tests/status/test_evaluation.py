"""Components follow the platform by themselves: the rules judged against planted store health,
orders, jobs, process reports and platform alerts, and the drafts they propose."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from ridgeline.alerts.platform import platform_organization_id
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import (
    AdminNotification,
    ComponentStatus,
    Job,
    JobStatus,
    Order,
    OrderStatus,
    Organization,
    ProcessReport,
    StatusComponent,
    StatusIncident,
    Store,
    StoreConnectionState,
    StoreHealth,
)
from ridgeline.monitoring.fleet import refresh_fleet_metrics
from ridgeline.status import rules, service
from ridgeline.status.rules import Observations, ProcessView, VendorStores
from tests.factories import make_organization

OPERATIONAL = ComponentStatus.OPERATIONAL
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE


# The rules alone.


@pytest.mark.parametrize(
    ("stores", "expected"),
    [
        (VendorStores(total=10, connected=10), OPERATIONAL),
        (
            VendorStores(total=40, connected=39, down=1),
            OPERATIONAL,
        ),  # 2.5%: one store's own trouble
        (VendorStores(total=20, connected=19, down=1), DEGRADED),  # 5%
        (VendorStores(total=10, connected=7, degraded=3), DEGRADED),  # 30% slow, none down
        (VendorStores(total=10, connected=8, down=2), PARTIAL),  # 20%
        (VendorStores(total=10, connected=5, down=5), MAJOR),  # 50%
        (VendorStores(total=1, down=1), MAJOR),  # the demo: one store per vendor
        # Refused credentials are the store's own fault, not the vendor's.
        (VendorStores(total=4, connected=1, own_fault=3), OPERATIONAL),
        (VendorStores(), OPERATIONAL),
    ],
)
def test_a_vendors_component_follows_the_share_of_its_stores_down(
    stores: VendorStores, expected: ComponentStatus
) -> None:
    findings = rules.evaluate_all(Observations(vendors={"treez": stores}))
    assert findings["pos_treez"].status is expected
    assert findings["pos_dutchie"].status is OPERATIONAL
    if expected is not OPERATIONAL:
        assert "%" in findings["pos_treez"].reason


def view(requests: int, errors: int, p95: float | None = 0.05, **realtime: Any) -> ProcessView:
    return ProcessView(
        requests=requests,
        errors=errors,
        p95_s=p95,
        backplane=realtime.get("backplane", "memory"),
        backplane_connected=realtime.get("connected", True),
    )


@pytest.mark.parametrize(
    ("processes", "expected"),
    [
        ((view(1000, 0),), OPERATIONAL),
        ((view(10, 9),), OPERATIONAL),  # too few requests to judge
        ((view(1000, 20),), DEGRADED),
        ((view(500, 0), view(500, 60)), PARTIAL),  # 6% over both processes
        ((view(1000, 300),), MAJOR),
        ((view(1000, 0, p95=3.0),), DEGRADED),
    ],
)
def test_the_api_follows_the_error_rate_and_latency_of_live_processes(
    processes: tuple[ProcessView, ...], expected: ComponentStatus
) -> None:
    assert rules.evaluate_all(Observations(processes=processes))["api"].status is expected


def test_real_time_degrades_when_servers_lose_their_backplane() -> None:
    one_cut = (
        view(100, 0, backplane="redis", connected=False),
        view(100, 0, backplane="redis", connected=True),
    )
    findings = rules.evaluate_all(Observations(processes=one_cut))
    assert findings["realtime"].status is DEGRADED
    all_cut = (view(100, 0, backplane="redis", connected=False),)
    assert rules.evaluate_all(Observations(processes=all_cut))["realtime"].status is PARTIAL
    embedded = (view(100, 0),)
    assert rules.evaluate_all(Observations(processes=embedded))["realtime"].status is OPERATIONAL


def test_catalog_sync_and_orders_follow_stores_whose_pos_answers_and_the_job_backlog() -> None:
    findings = rules.evaluate_all(
        Observations(answering_stores=10, sync_failing_stores=3, order_stuck_stores=0)
    )
    assert findings["catalog_sync"].status is PARTIAL
    assert findings["order_submission"].status is OPERATIONAL
    late = rules.evaluate_all(Observations(answering_stores=10, oldest_due_job_s=900))
    assert late["catalog_sync"].status is PARTIAL
    assert late["order_submission"].status is PARTIAL
    assert "behind" in late["order_submission"].reason


def test_platform_alerts_raise_their_components() -> None:
    findings = rules.evaluate_all(
        Observations(firing_platform_alerts=frozenset({"api_error_rate", "job_backlog"}))
    )
    assert findings["api"].status is PARTIAL
    assert findings["catalog_sync"].status is DEGRADED
    assert findings["order_submission"].status is DEGRADED
    assert findings["api"].evidence["platform_alerts"] == ["api_error_rate"]


# Against the database.


async def vendor_store(
    database: Database,
    organization: Organization,
    vendor: str,
    state: StoreConnectionState,
    *,
    cause: str = "test",
    stale: bool = False,
) -> Store:
    now = datetime.now(UTC)
    async with database.transaction() as session:
        store = Store(
            organization_id=organization.id,
            name=f"Store {uuid.uuid4().hex[:6]}",
            pos_provider=vendor,
        )
        session.add(store)
        await session.flush()
        session.add(
            StoreHealth(
                store_id=store.id,
                organization_id=organization.id,
                state=state,
                cause=cause,
                since=now,
                evidence={},
                catalog_stale=stale,
                updated_at=now,
            )
        )
    return store


async def evaluate(database: Database, clock: FakeClock) -> service.Evaluation:
    async with database.transaction() as session:
        return await service.evaluate(session, clock.now())


async def shown(database: Database) -> dict[str, ComponentStatus]:
    async with database.transaction(write=False) as session:
        rows = (await session.scalars(select(StatusComponent))).all()
        return {row.key: row.status for row in rows}


async def incidents(database: Database) -> list[StatusIncident]:
    async with database.transaction(write=False) as session:
        return list((await session.scalars(select(StatusIncident))).all())


async def test_a_vendor_outage_turns_its_component_and_drafts_an_incident(
    database: Database, clock: FakeClock
) -> None:
    organization = await make_organization(database)
    treez = [
        await vendor_store(database, organization, "treez", StoreConnectionState.CONNECTED)
        for _ in range(3)
    ]
    await vendor_store(database, organization, "dutchie", StoreConnectionState.CONNECTED)
    await evaluate(database, clock)
    assert set((await shown(database)).values()) == {OPERATIONAL}

    async with database.transaction() as session:
        for store in treez[:2]:
            row = await session.get(StoreHealth, store.id)
            assert row is not None
            row.state = StoreConnectionState.OFFLINE
    clock.advance(15)
    result = await evaluate(database, clock)
    assert result.changed == ["pos_treez"]
    assert (await shown(database))["pos_treez"] is MAJOR
    (draft,) = await incidents(database)
    assert draft.published_at is None
    assert draft.source == "component:pos_treez"
    assert draft.components == {"pos_treez": "major_outage"}
    assert "Treez" in draft.name

    # The next evaluation does not propose it twice.
    clock.advance(15)
    assert (await evaluate(database, clock)).drafted == []

    # Recovery: the component comes back by itself and the unpublished draft is withdrawn.
    async with database.transaction() as session:
        for store in treez[:2]:
            row = await session.get(StoreHealth, store.id)
            assert row is not None
            row.state = StoreConnectionState.CONNECTED
    clock.advance(15)
    await evaluate(database, clock)
    assert (await shown(database))["pos_treez"] is OPERATIONAL
    (withdrawn,) = await incidents(database)
    assert withdrawn.status.value == "resolved"
    assert withdrawn.published_at is None


async def test_stores_with_their_own_trouble_do_not_count_against_the_vendor(
    database: Database, clock: FakeClock
) -> None:
    organization = await make_organization(database)
    await vendor_store(
        database,
        organization,
        "blaze",
        StoreConnectionState.ERROR,
        cause="credentials_refused",
    )
    await vendor_store(database, organization, "blaze", StoreConnectionState.CONNECTED)
    await vendor_store(database, organization, "blaze", StoreConnectionState.PAUSED)
    await evaluate(database, clock)
    assert (await shown(database))["pos_blaze"] is OPERATIONAL


async def test_stuck_orders_and_stale_catalogs_of_answering_stores_count(
    database: Database, clock: FakeClock
) -> None:
    organization = await make_organization(database)
    answering = await vendor_store(
        database, organization, "flowhub", StoreConnectionState.CONNECTED, stale=True
    )
    down = await vendor_store(database, organization, "flowhub", StoreConnectionState.ERROR)
    placed = clock.now() - timedelta(minutes=10)
    async with database.transaction() as session:
        for store in (answering, down):
            session.add(
                Order(
                    organization_id=organization.id,
                    store_id=store.id,
                    reference=f"RL-{uuid.uuid4().hex[:10].upper()}",
                    status=OrderStatus.QUEUED,
                    subtotal_cents=100,
                    currency="USD",
                    pos_idempotency_key=uuid.uuid4().hex,
                    status_changed_at=placed,
                    created_at=placed,
                )
            )
    await evaluate(database, clock)
    statuses = await shown(database)
    # One answering store: its stale catalog and its stuck order are Ridgeline's to explain;
    # the store whose POS is down explains its own.
    assert statuses["catalog_sync"] is MAJOR
    assert statuses["order_submission"] is MAJOR
    assert statuses["pos_flowhub"] is MAJOR


async def test_live_process_reports_and_the_job_backlog_are_read(
    database: Database, clock: FakeClock
) -> None:
    now = clock.now()
    report = {
        "http": {"overall": {"count": 400, "errors": 40, "p95_s": 0.2}},
        "realtime": {"backplane": "redis", "backplane_connected": False, "connections": 3},
    }
    async with database.transaction() as session:
        session.add(
            ProcessReport(
                process_key="web-1:1:1", role="api", started_at=now, updated_at=now, report=report
            )
        )
        # A worker's report (no HTTP) and a stale API report are not judged.
        session.add(
            ProcessReport(
                process_key="worker-1:2:1",
                role="worker",
                started_at=now,
                updated_at=now,
                report={"http": {"overall": {"count": 1000, "errors": 1000}}},
            )
        )
        session.add(
            ProcessReport(
                process_key="web-old:3:1",
                role="api",
                started_at=now - timedelta(hours=1),
                updated_at=now - timedelta(hours=1),
                report={"http": {"overall": {"count": 1000, "errors": 1000}}},
            )
        )
        session.add(
            Job(
                kind="sync.run",
                payload={},
                status=JobStatus.QUEUED,
                run_at=now - timedelta(minutes=5),
            )
        )
    await evaluate(database, clock)
    statuses = await shown(database)
    assert statuses["api"] is PARTIAL  # 10% errors
    assert statuses["realtime"] is PARTIAL  # the only scaled process lost Redis
    assert statuses["catalog_sync"] is DEGRADED  # five minutes behind
    assert statuses["order_submission"] is DEGRADED


async def test_a_critical_platform_alert_proposes_a_draft(
    database: Database, clock: FakeClock
) -> None:
    async with database.transaction() as session:
        platform_id = await platform_organization_id(session, create=True)
        assert platform_id is not None
        session.add(
            AdminNotification(
                organization_id=platform_id,
                kind="api_error_rate",
                severity="critical",
                title="API errors",
                message="5xx over threshold",
                state="firing",
            )
        )
    await evaluate(database, clock)
    assert (await shown(database))["api"] is PARTIAL
    (draft,) = await incidents(database)
    assert draft.source is not None
    assert draft.source.startswith("alert:")
    assert draft.published_at is None
    assert draft.impact.value == "major"


async def test_the_fleet_gauge_shows_each_components_status(
    database: Database, clock: FakeClock
) -> None:
    organization = await make_organization(database)
    await vendor_store(database, organization, "treez", StoreConnectionState.OFFLINE)
    await evaluate(database, clock)
    async with database.transaction(write=False) as session:
        await refresh_fleet_metrics(session, clock.now())

    def value(component: str, status: str) -> float | None:
        return REGISTRY.get_sample_value(
            "ridgeline_status_component", {"component": component, "status": status}
        )

    assert value("pos_treez", "major_outage") == 1.0
    assert value("pos_treez", "operational") == 0.0
    assert value("api", "operational") == 1.0
