"""`ridgeline doctor`: a healthy store passes every check and the command exits 0; each broken
scenario fails the check that names it (with its fix) and the store is unhealthy."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select, update
from typer.testing import CliRunner

from ridgeline.app import app_services
from ridgeline.cli import app as cli_app
from ridgeline.cli.doctor import DoctorTools, run_doctor_command
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.health.doctor import CHECKS, Doctor, StoreReport
from ridgeline.health.findings import Verdict
from ridgeline.health.kiosk_checks import is_stuck
from ridgeline.models import KioskApiKey, SyncKind
from ridgeline.models.kiosk import Kiosk, KioskKeyPurpose
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.sync import StoreSyncState, SyncIssue, SyncRun, SyncStatus
from tests.health.conftest import HealthStore, health_store
from tests.health.test_fault_classes import drive_until
from tests.net import free_port
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import LiveServer, start_server
from tests.simulated_pos import Harness
from tests.test_cli import session_logging_kept
from tests.webhooks.conftest import CONFIGS, configure


def verdicts(report: StoreReport) -> dict[str, Verdict]:
    return {check.name: check.verdict for check in report.checks}


def failed(report: StoreReport) -> set[str]:
    return {check.name for check in report.checks if check.verdict is Verdict.FAIL}


async def examine(store: HealthStore, settings: Settings, **options: Any) -> StoreReport:
    doctor = Doctor(settings, store.database, store.harness.connector, store.clock, **options)
    report = await doctor.examine(store.store_id)
    assert [check.name for check in report.checks] == list(CHECKS)
    return report


async def kiosk_seen_now(store: HealthStore) -> uuid.UUID:
    """The store's kiosk sent a heartbeat just now (as the server records it)."""
    async with store.database.transaction() as session:
        kiosk = await session.scalar(select(Kiosk).where(Kiosk.store_id == store.store_id))
        assert kiosk is not None
        kiosk.last_seen_at = store.clock.now()
        return kiosk.id


async def sim_products(store: HealthStore) -> list[dict[str, Any]]:
    response = await store.harness.control.get(f"/_sim/stores/{store.sim_id}/products")
    assert response.status_code == 200, response.text
    products: list[dict[str, Any]] = response.json()["products"]
    return products


async def change_at_pos(store: HealthStore, product_id: str, **change: Any) -> None:
    response = await store.harness.control.patch(
        f"/_sim/stores/{store.sim_id}/products/{product_id}", json=change
    )
    assert response.status_code == 200, response.text


# --- healthy ---------------------------------------------------------------------------------


@pytest.fixture
async def live(
    settings: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[LiveServer]:
    """A real server (uvicorn on a free port) for `/cable`, polling stream positions often."""
    cable = settings.model_copy(update={"cable_ping_interval_s": 0.5, "cable_poll_interval_s": 0.2})
    server = await start_server(cable, database, clock)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def cli_database(settings: Settings) -> AsyncIterator[Database]:
    """The command's own connection to the database, as a separate process would have: its
    commits reach the server's kiosks through the server's poll, not this process's memory."""
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


async def test_a_healthy_store_passes_every_check_and_the_command_exits_0(
    database: Database,
    harness: Harness,
    clock: FakeClock,
    settings: Settings,
    live: LiveServer,
    cli_database: Database,
) -> None:
    store = await health_store(database, harness, clock, settings)
    key = store.kiosk["Authorization"].removeprefix("Bearer ")
    kiosk = await CableClient.connect(live.base_url, token=key)
    try:
        await kiosk.welcome()
        assert (await kiosk.subscribe(identifier("KioskChannel")))["type"] == "confirm_subscription"
        # Its connection is what the server records as the kiosk being seen.
        await app_services(live.app).kiosk_activity.flush(database)
        out = io.StringIO()
        code = await run_doctor_command(
            settings,
            store.store_id,
            as_json=True,
            server_url=live.base_url,
            console=Console(file=io.StringIO()),
            out=out,
            tools=DoctorTools(cli_database, harness.connector, clock),
        )
        report = json.loads(out.getvalue())
        assert {c["name"]: c["verdict"] for c in report["checks"]} == dict.fromkeys(CHECKS, "pass")
        assert code == 0
        assert report["healthy"] is True
        assert (report["state"], report["cause"]) == ("connected", "ok")
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["pos_reachable"]["detail"]["latency_ms"] >= 0
        assert checks["realtime_round_trip"]["detail"]["latency_ms"] > 0
        assert all(c["fix"] is None for c in report["checks"])
        # The real kiosk heard the ping too: a `kiosk.command` it may ignore.
        [frame] = await kiosk.messages(1)
        assert frame["message"]["type"] == "kiosk.command"
        assert frame["message"]["data"]["command"] == "doctor_ping"
    finally:
        await kiosk.close()
    # The doctor's key for the kiosk is revoked; the kiosk's own still works.
    async with database.transaction(write=False) as session:
        keys = (await session.scalars(select(KioskApiKey))).all()
    assert sorted(k.revoked_at is None for k in keys) == [False, True]


async def test_the_round_trip_does_not_keep_a_dead_kiosk_looking_online(
    database: Database,
    harness: Harness,
    clock: FakeClock,
    settings: Settings,
    live: LiveServer,
    cli_database: Database,
) -> None:
    store = await health_store(database, harness, clock, settings)
    kiosk_id = await kiosk_seen_now(store)  # its last heartbeat; then it went away
    seen_at = clock.now()
    clock.advance(60)
    doctor = Doctor(settings, cli_database, harness.connector, clock, server_url=live.base_url)
    report = await doctor.examine(store.store_id)
    assert verdicts(report)["kiosks"] is Verdict.PASS
    assert verdicts(report)["realtime_round_trip"] is Verdict.PASS, report.check(
        "realtime_round_trip"
    )
    # The doctor connected as the kiosk with a diagnostic key: the kiosk was not seen.
    services = app_services(live.app)
    await services.kiosk_activity.flush(database)
    await services.kiosk_key_usage.flush(database)
    async with database.transaction(write=False) as session:
        kiosk = await session.get_one(Kiosk, kiosk_id)
        keys = (
            await session.scalars(select(KioskApiKey).where(KioskApiKey.kiosk_id == kiosk_id))
        ).all()
    assert kiosk.last_seen_at == seen_at
    [doctors] = [key for key in keys if key.purpose is KioskKeyPurpose.DIAGNOSTIC]
    assert doctors.revoked_at is not None
    assert doctors.expires_at == doctors.created_at + timedelta(seconds=120)
    assert doctors.last_used_at is not None
    # 90 s after its last heartbeat the kiosk is offline, however often the doctor ran.
    clock.advance(31)
    later = await doctor.examine(store.store_id)
    assert verdicts(later)["kiosks"] is Verdict.WARN
    assert verdicts(later)["realtime_round_trip"] is Verdict.SKIP


# --- broken scenarios ----------------------------------------------------------------------


async def test_refused_credentials_fail_credentials_and_the_connection_test(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "unauthorized")
    assert (await store.sync()).status is SyncStatus.FAILED
    report = await examine(store, settings)
    assert {"credentials", "pos_reachable"} <= failed(report)
    credentials = report.check("credentials")
    assert "refused" in credentials.summary
    assert f"PUT /api/v1/stores/{store.store_id}/pos" in (credentials.fix or "")
    assert report.check("pos_reachable").detail["diagnosis"] == "bad_credentials"
    assert verdicts(report)["discrepancies"] is Verdict.SKIP
    assert not report.healthy
    assert (report.state, report.cause) == ("error", "credentials_refused")


@pytest.mark.parametrize(
    ("kind", "options", "diagnosis"),
    [("status", {"status": 503}, "pos_error"), ("reset", {}, "unreachable")],
)
async def test_a_pos_that_is_down_fails_the_connection_test_then_the_breaker(
    database: Database,
    harness: Harness,
    clock: FakeClock,
    settings: Settings,
    kind: str,
    options: dict[str, Any],
    diagnosis: str,
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", kind, **options)
    first = await examine(store, settings)
    assert verdicts(first)["pos_reachable"] is Verdict.FAIL
    assert first.check("pos_reachable").detail["diagnosis"] == diagnosis
    assert verdicts(first)["discrepancies"] is Verdict.SKIP
    assert not first.healthy
    # The calls that keep failing open the breaker.
    await drive_until(store, {"error", "offline"})
    second = await examine(store, settings)
    assert {"pos_reachable", "breaker"} <= failed(second)
    assert second.check("breaker").detail["state"] == "open"
    assert f"/api/v1/stores/{store.store_id}/recovery" in (second.check("breaker").fix or "")
    assert second.check("pos_reachable").detail["diagnosis"] == "circuit_open"


async def test_orders_waiting_too_long_are_stuck(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "reset")
    order = await store.place_order()
    await store.worker.run_until_idle()
    assert await store.orders_in(OrderStatus.QUEUED) == 1
    # The POS is back and an operator reset the breaker; nothing sent the queue since.
    await store.clear_faults()
    response = await store.client.post(
        f"/api/v1/stores/{store.store_id}/pos/breaker",
        json={"action": "reset"},
        headers=store.operator,
    )
    assert response.status_code == 200, response.text
    waiting = await examine(store, settings)
    assert verdicts(waiting)["orders"] is Verdict.PASS
    assert waiting.check("orders").detail["waiting"] == 1
    clock.advance(6 * 60)
    stuck = await examine(store, settings)
    assert failed(stuck) == {"orders"}
    [sample] = stuck.check("orders").detail["sample"]
    assert sample["reference"] == order["reference"]
    assert sample["why"].startswith("waiting for 6 min")
    assert "/recovery" in (stuck.check("orders").fix or "")


def test_what_makes_a_waiting_order_stuck() -> None:
    clock = FakeClock()
    now = clock.now()

    def order(status: OrderStatus, age_s: float, lease_s: float | None = None) -> Order:
        lease = None if lease_s is None else now + timedelta(seconds=lease_s)
        return Order(
            status=status, created_at=now - timedelta(seconds=age_s), submit_lease_until=lease
        )

    assert is_stuck(order(OrderStatus.QUEUED, 30), now) is None
    assert is_stuck(order(OrderStatus.RECEIVED, 30), now) is None
    assert is_stuck(order(OrderStatus.QUEUED, 240, lease_s=20), now) is None  # an attempt runs
    assert "never sent" in (is_stuck(order(OrderStatus.RECEIVED, 90), now) or "")
    assert "attempt died" in (is_stuck(order(OrderStatus.QUEUED, 200, lease_s=-120), now) or "")
    assert "waiting for 6 min" in (is_stuck(order(OrderStatus.QUEUED, 360), now) or "")


async def test_a_stale_catalog_fails_catalog_staleness(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    assert verdicts(await examine(store, settings))["catalog_staleness"] is Verdict.PASS
    clock.advance(3601)
    report = await examine(store, settings)
    assert failed(report) == {"catalog_staleness"}
    assert "stale" in report.check("catalog_staleness").summary
    assert f"ridgeline sync {store.store_id}" in (report.check("catalog_staleness").fix or "")
    assert verdicts(report)["last_syncs"] is Verdict.PASS


async def test_a_failed_last_sync_fails_last_syncs_with_its_error(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("inventory", "status", status=500)
    clock.advance(30)
    run = await store.sync(SyncKind.INVENTORY)
    assert run.status is SyncStatus.FAILED
    await store.clear_faults()
    report = await examine(store, settings)
    assert "last_syncs" in failed(report)
    last = report.check("last_syncs")
    assert last.detail["inventory"]["status"] == "failed"
    assert last.detail["inventory"]["error"] == run.error
    assert f"ridgeline sync {store.store_id} --inventory" in (last.fix or "")
    assert verdicts(report)["pos_reachable"] is Verdict.PASS
    # The next successful run ends it.
    clock.advance(30)
    assert (await store.sync(SyncKind.INVENTORY)).status is SyncStatus.SUCCEEDED
    assert verdicts(await examine(store, settings))["last_syncs"] is Verdict.PASS


async def test_a_bad_stored_field_mapping_fails_field_mapping(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    async with database.transaction() as session:
        await session.execute(
            update(StoreSyncState)
            .where(StoreSyncState.store_id == store.store_id)
            .values(field_mapping={"category": {"Vapes & Carts": "spaceship"}})
        )
    report = await examine(store, settings)
    assert failed(report) == {"field_mapping"}
    [error] = report.check("field_mapping").detail["errors"]
    assert error["loc"][-2:] == ["category", "Vapes & Carts"]
    assert "sync-state" in (report.check("field_mapping").fix or "")


async def test_a_price_changed_at_the_pos_is_a_discrepancy_and_moved_stock_a_warning(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    first, second = (await sim_products(store))[:2]
    await change_at_pos(store, first["id"], quantity=first["quantity"] + 5)
    moved = await examine(store, settings)
    assert verdicts(moved)["discrepancies"] is Verdict.WARN
    assert moved.check("discrepancies").detail["stock_differences"] >= 1
    assert moved.healthy  # stock moves with every sale: a warning only
    await change_at_pos(store, second["id"], price_cents=second["price_cents"] + 100)
    report = await examine(store, settings)
    assert failed(report) == {"discrepancies"}
    assert not report.healthy
    detail = report.check("discrepancies").detail
    assert detail["price_differences"] >= 1
    [price] = [entry for entry in detail["sample"] if entry["kind"] == "price_differences"][:1]
    assert price["external_id"] == second["id"]
    assert price["pos_cents"] > price["ours_cents"]
    assert "--full" in (report.check("discrepancies").fix or "")
    # A sync brings the catalog in line.
    await store.sync(SyncKind.FULL)
    await store.sync(SyncKind.INVENTORY)
    assert verdicts(await examine(store, settings))["discrepancies"] is Verdict.PASS


async def test_quarantined_records_are_a_warning_with_a_sample(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    async with database.transaction() as session:
        run = await session.scalar(
            select(SyncRun)
            .where(SyncRun.store_id == store.store_id, SyncRun.kind == SyncKind.FULL)
            .order_by(SyncRun.started_at.desc())
        )
        assert run is not None
        session.add(
            SyncIssue(
                organization_id=store.organization_id,
                store_id=store.store_id,
                sync_run_id=run.id,
                external_id="bad-1",
                reason="price is not a number",
                raw_record={"id": "bad-1"},
            )
        )
    report = await examine(store, settings)
    assert verdicts(report)["quarantined_records"] is Verdict.WARN
    assert report.check("quarantined_records").detail == {
        "count": 1,
        "sample": [{"external_id": "bad-1", "reason": "price is not a number"}],
    }
    assert report.healthy


async def test_no_kiosk_online_is_a_warning_and_skips_the_round_trip(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    report = await examine(store, settings)
    assert verdicts(report)["kiosks"] is Verdict.WARN
    assert "never seen" in report.check("kiosks").summary
    assert verdicts(report)["realtime_round_trip"] is Verdict.SKIP
    assert report.healthy


async def test_the_round_trip_fails_when_no_server_listens(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    kiosk_id = await kiosk_seen_now(store)
    server = f"http://127.0.0.1:{free_port()}"
    report = await examine(store, settings, server_url=server)
    assert verdicts(report)["kiosks"] is Verdict.PASS
    assert failed(report) == {"realtime_round_trip"}
    trip = report.check("realtime_round_trip")
    assert "cannot connect" in trip.summary
    assert trip.fix is not None
    assert trip.fix.startswith(f"check the /cable path: ridgeline cable-check {server}")
    async with database.transaction(write=False) as session:
        keys = (
            await session.scalars(select(KioskApiKey).where(KioskApiKey.kiosk_id == kiosk_id))
        ).all()
    assert sorted(k.revoked_at is None for k in keys) == [False, True]  # the doctor's is revoked


# --- the command line ----------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RIDGELINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RIDGELINE_ENV", "test")
    # The command sets up logging (at WARNING) for its process; later tests read INFO lines.
    with session_logging_kept():
        yield


async def store_with_pos_away(database: Database, app: Any) -> uuid.UUID:
    """A store whose POS settings point at a port nothing listens on."""
    config = {**CONFIGS["dutchie"], "base_url": f"http://127.0.0.1:{free_port()}"}
    tenant = await configure(database, app, "dutchie", config)
    return tenant.store.id


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "Give a store id or --all"),
        ([str(uuid.uuid4()), "--all"], "Give a store id or --all"),
        (["not-a-uuid"], "Not a store id"),
        ([str(uuid.uuid4())], "No store with id"),
    ],
)
async def test_usage_errors_exit_2(arguments: list[str], message: str, database: Database) -> None:
    result = await asyncio.to_thread(runner.invoke, cli_app, ["doctor", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


@pytest.mark.usefixtures("cli_env")
async def test_json_is_the_only_thing_on_stdout_and_a_broken_store_exits_1(
    database: Database, app: Any
) -> None:
    store_id = await store_with_pos_away(database, app)
    result = await asyncio.to_thread(runner.invoke, cli_app, ["doctor", str(store_id), "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert set(report) == {
        "store_id",
        "store_name",
        "healthy",
        "state",
        "cause",
        "checked_at",
        "checks",
    }
    assert report["store_id"] == str(store_id)
    assert report["healthy"] is False
    assert [c["name"] for c in report["checks"]] == list(CHECKS)
    for check in report["checks"]:
        assert set(check) == {"name", "verdict", "summary", "detail", "fix"}
        assert check["verdict"] in {"pass", "warn", "fail", "skip"}
        assert (check["fix"] is not None) or check["verdict"] != "fail", check
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["pos_reachable"]["verdict"] == "fail"
    assert checks["pos_reachable"]["detail"]["diagnosis"] == "unreachable"
    assert checks["catalog_staleness"]["verdict"] == "fail"  # never synced

    every = await asyncio.to_thread(runner.invoke, cli_app, ["doctor", "--all", "--json"])
    assert every.exit_code == 1, every.output
    fleet = json.loads(every.stdout)
    assert fleet["healthy"] is False
    assert fleet["summary"]["stores"] == len(fleet["stores"]) >= 1
    assert fleet["summary"]["unhealthy"] == fleet["summary"]["stores"]
    assert fleet["summary"]["failed_checks"]["pos_reachable"] >= 1


@pytest.mark.usefixtures("cli_env")
async def test_the_table_names_each_check_its_verdict_and_fix(database: Database, app: Any) -> None:
    store_id = await store_with_pos_away(database, app)
    result = await asyncio.to_thread(
        runner.invoke, cli_app, ["doctor", str(store_id)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1, result.output
    assert "UNHEALTHY" in result.stdout
    for name in CHECKS:
        assert name in result.stdout
    assert f"POST /api/v1/stores/{store_id}/pos/test" in result.stdout
