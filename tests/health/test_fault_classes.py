"""Each fault class the simulator injects drives a store into the right connection state;
kiosks keep browsing and orders queue; recovery runs record their steps; once the fault clears
the store is `connected` again and every queued order is at the POS exactly once."""

from __future__ import annotations

from typing import Any

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.order import OrderStatus
from tests.assertions import data_of
from tests.health.conftest import HealthStore, health_store
from tests.simulated_pos import Harness

WAITING = (OrderStatus.RECEIVED, OrderStatus.QUEUED)


async def drive_until(store: HealthStore, wanted: set[str], attempts: int = 25) -> tuple[str, str]:
    """POS calls (inventory syncs through the resilient client) until the state is one of
    `wanted`; a few seconds pass between calls, as they would."""
    state = await store.state()
    for _ in range(attempts):
        if state[0] in wanted:
            return state
        await store.sync()
        store.clock.advance(2)
        state = await store.state()
    raise AssertionError(f"the store stayed {state}, wanted {wanted}")


async def runs(store: HealthStore) -> list[dict[str, Any]]:
    response = await store.client.get(
        f"/api/v1/stores/{store.store_id}/recovery-runs", headers=store.operator
    )
    result: list[dict[str, Any]] = data_of(response)
    return result


async def back_to_connected(store: HealthStore, orders: list[dict[str, Any]]) -> None:
    """After the fault clears: the store returns to `connected` by itself and every order
    placed meanwhile is at the POS exactly once."""
    await store.clear_faults()
    for _ in range(60):
        await store.settle(rounds=1, step_s=10)
        if await store.state() == ("connected", "ok") and not await store.orders_in(*WAITING):
            break
    assert await store.state() == ("connected", "ok")
    assert await store.orders_in(*WAITING) == 0
    for order in orders:
        assert await store.at_pos(order) == 1, order["reference"]


async def queued_while_down(store: HealthStore) -> dict[str, Any]:
    """A kiosk still browses and its order is accepted and waits for the POS."""
    page = await store.browse()
    assert page["meta"]["catalog"]["store_state"] in ("error", "offline")
    order = await store.place_order()
    await store.worker.run_until_idle()
    assert await store.orders_in(*WAITING) >= 1
    return order


async def test_timeouts_open_the_breaker_then_the_store_goes_offline(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "timeout")
    state = await drive_until(store, {"error", "offline"})
    assert state == ("error", "breaker_open")
    order = await queued_while_down(store)
    # Nothing has answered for longer than the offline threshold: offline.
    await store.settle(rounds=5, step_s=30)
    assert await store.state() == ("offline", "pos_unreachable")
    health = await store.health()
    assert health["ordering"] == "queued"
    assert health["evidence"]["queued_orders"]["count"] >= 1
    # Reconnection runs on its own, records its steps, and fails while the POS is away.
    automatic = [run for run in await runs(store) if run["trigger"] == "automatic"]
    assert automatic, "no automatic recovery run"
    failed = automatic[0]
    assert failed["status"] == "failed"
    outcomes = {step["name"]: step["outcome"] for step in failed["steps"]}
    assert outcomes["reset_connection"] == "passed"
    assert outcomes["test_connection"] == "failed"
    assert outcomes["sync"] == outcomes["drain_orders"] == "skipped"
    await back_to_connected(store, [order])


async def test_server_errors_put_the_store_in_error_and_recovery_resolves_its_alert(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "status", status=503)
    assert await drive_until(store, {"error"}) == ("error", "breaker_open")
    order = await queued_while_down(store)
    await store.settle(rounds=5, step_s=30)
    # Answers came back (503s): error, never offline; its alert fired once `for` (120 s) passed.
    assert await store.state() == ("error", "breaker_open")
    alerts = await open_alerts(store)
    assert [a["kind"] for a in alerts] == ["store_pos_error"]
    await back_to_connected(store, [order])
    assert await open_alerts(store) == []


async def test_a_full_outage_is_offline_and_recovers_with_the_queue_drained_once(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "reset")
    await drive_until(store, {"error", "offline"})
    orders = [await queued_while_down(store) for _ in range(3)]
    await store.settle(rounds=5, step_s=30)
    assert await store.state() == ("offline", "pos_unreachable")
    await back_to_connected(store, orders)


async def ordering_stays_live(store: HealthStore) -> dict[str, Any]:
    """A degraded store still sends orders at once (a failed attempt retries in its queue)."""
    await store.browse()
    assert (await store.health())["ordering"] == "live"
    order = await store.place_order()
    await store.worker.run_until_idle()
    return order


async def recovers_once_the_window_clears(store: HealthStore, order: dict[str, Any]) -> None:
    await store.clear_faults()
    store.clock.advance(301)  # the faulty calls age out of the judged window
    await store.sync()
    await back_to_connected(store, [order])


async def test_slow_answers_degrade_the_store_and_orders_stay_live(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "latency", latency_ms=3000)
    assert await drive_until(store, {"degraded"}) == ("degraded", "slow_calls")
    order = await ordering_stays_live(store)
    assert await store.at_pos(order) == 1  # slow, not down: it went at once
    await recovers_once_the_window_clears(store, order)


async def test_rate_limiting_degrades_the_store(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "rate_limit", retry_after_s=0.1, probability=0.3)
    assert await drive_until(store, {"degraded"}) == ("degraded", "rate_limited")
    order = await ordering_stays_live(store)
    await recovers_once_the_window_clears(store, order)


async def test_flaky_connections_degrade_the_store_without_opening_the_breaker(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("inventory", "reset", probability=0.3)
    assert await drive_until(store, {"degraded"}) == ("degraded", "failure_rate")
    for _ in range(10):
        await store.sync()
    health = await store.health()
    assert health["state"] == "degraded"
    assert health["evidence"]["breaker"]["state"] == "closed"
    order = await ordering_stays_live(store)
    assert await store.at_pos(order) == 1
    await recovers_once_the_window_clears(store, order)


async def open_alerts(store: HealthStore) -> list[dict[str, Any]]:
    response = await store.client.get(
        "/api/v1/alerts",
        params={"store_id": str(store.store_id), "state": "firing"},
        headers=store.operator,
    )
    alerts: list[dict[str, Any]] = data_of(response)
    return [a for a in alerts if a["kind"].startswith("store_")]
