"""The store health API: a store's health and the fleet, pause and resume, thresholds, the
recovery procedure and manual runs, the connection reset, and what kiosks read."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import StreamMessage
from ridgeline.realtime.streams import ops_stream, store_stream
from tests.assertions import assert_error, data_of
from tests.health.conftest import HealthStore, health_store
from tests.simulated_pos import Harness


async def stream(database: Database, stream_id: str) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        rows = await session.scalars(
            select(StreamMessage)
            .where(StreamMessage.stream_id == stream_id)
            .order_by(StreamMessage.offset)
        )
        return [row.payload for row in rows]


def url(store: HealthStore, tail: str) -> str:
    return f"/api/v1/stores/{store.store_id}/{tail}"


async def test_a_healthy_store_reads_connected_with_its_evidence(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    health = await store.health()
    assert (health["state"], health["cause"], health["ordering"]) == ("connected", "ok", "live")
    assert health["catalog"]["stale"] is False
    evidence = health["evidence"]
    assert evidence["breaker"]["state"] == "closed"
    assert evidence["window"]["failed"] == 0
    assert evidence["window"]["calls"] >= 2  # the first full and inventory syncs
    assert sorted(run["kind"] for run in evidence["last_syncs"]) == ["full", "inventory"]
    assert evidence["kiosks"] == {"online": 0, "total": 1, "last_heartbeat_at": None}
    assert evidence["queued_orders"]["count"] == 0
    assert health["thresholds"]["offline_after_s"] == 120
    procedure = data_of(await store.client.get(url(store, "recovery"), headers=store.operator))
    assert procedure["steps"] == []
    assert "nothing to do" in procedure["diagnosis"]
    # What a kiosk reads over REST is what `store.status` carries.
    status = data_of(await store.client.get("/api/v1/kiosks/me/store-status", headers=store.kiosk))
    assert status["state"] == "connected"
    assert status["ordering"] == "live"
    assert status["catalog"]["stale"] is False


async def test_pause_refuses_orders_stops_automatic_calls_and_resume_restores(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    paused = data_of(
        await store.client.post(
            url(store, "pause"), json={"reason": "stocktaking"}, headers=store.operator
        )
    )
    assert (paused["state"], paused["ordering"]) == ("paused", "paused")
    response = await store.client.post(
        "/api/v1/orders",
        json={"items": [store.item.line(1)]},
        headers={**store.kiosk, "Idempotency-Key": "paused-1"},
    )
    assert_error(response, 409, "STORE_PAUSED")
    await store.browse()  # browsing goes on
    calls = await store.pos_requests()
    await store.settle(rounds=10, step_s=30)  # syncs and drains would be due
    assert await store.pos_requests() == calls
    health = await store.health()
    assert health["paused"]["reason"] == "stocktaking"
    assert health["paused"]["by"].startswith("operator:")
    events = await stream(database, store_stream(store.store_id))
    statuses = [e["data"] for e in events if e["type"] == "store.status"]
    assert statuses[-1]["ordering"] == "paused"
    resumed = data_of(await store.client.post(url(store, "resume"), headers=store.operator))
    assert (resumed["state"], resumed["ordering"]) == ("connected", "live")
    await store.place_order()
    transitions = [(t["from_state"], t["to_state"]) for t in (await store.health())["transitions"]]
    assert transitions[:2] == [("paused", "connected"), ("connected", "paused")]


async def test_the_fleet_counts_and_filters_by_state(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    data_of(
        await store.client.post(
            url(store, "pos/breaker"), json={"action": "force_open"}, headers=store.operator
        )
    )
    response = await store.client.get(
        "/api/v1/health/stores", params={"state": "error"}, headers=store.operator
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [(e["store_id"], e["cause"]) for e in page["data"]] == [
        (str(store.store_id), "breaker_forced_open")
    ]
    assert page["meta"]["counts"]["error"] == 1
    assert page["meta"]["counts"]["connected"] == 0
    none = await store.client.get(
        "/api/v1/health/stores", params={"cause": "pos_unreachable"}, headers=store.operator
    )
    assert none.json()["data"] == []
    bad = await store.client.get(
        "/api/v1/health/stores", params={"state": "sideways"}, headers=store.operator
    )
    assert_error(bad, 422, "VALIDATION_ERROR")
    # Forced open is an operator's decision: no automatic run, and the procedure says so.
    health = await store.health()
    assert health["next_recovery_at"] is None
    procedure = data_of(await store.client.get(url(store, "recovery"), headers=store.operator))
    assert procedure["steps"][0]["name"] == "reset_breaker"
    # The ops stream heard the transition and the alert it raised.
    ops = await stream(database, ops_stream(store.organization_id))
    assert ("store.status", "error") in [(e["type"], e["data"].get("state")) for e in ops]


async def test_thresholds_are_validated_and_judge_the_store_at_once(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    bad = await store.client.put(
        url(store, "health/thresholds"),
        json={"thresholds": {"offline_after_s": -5}},
        headers=store.operator,
    )
    fields = assert_error(bad, 422, "VALIDATION_ERROR")["error"]["details"]["fields"]
    assert [f["loc"] for f in fields] == [["body", "thresholds", "offline_after_s"]]
    typo = await store.client.put(
        url(store, "health/thresholds"),
        json={"thresholds": {"ofline_after_s": 5}},
        headers=store.operator,
    )
    assert_error(typo, 422, "VALIDATION_ERROR")
    saved = data_of(
        await store.client.put(
            url(store, "health/thresholds"),
            json={"thresholds": {"offline_after_s": 30, "window_calls": 10}},
            headers=store.operator,
        )
    )
    assert (saved["offline_after_s"], saved["window_calls"]) == (30, 10)
    health = await store.health()
    assert health["thresholds"]["offline_after_s"] == 30
    restored = data_of(
        await store.client.put(
            url(store, "health/thresholds"),
            json={"thresholds": {"offline_after_s": None}},
            headers=store.operator,
        )
    )
    assert (restored["offline_after_s"], restored["window_calls"]) == (120, 10)


async def test_a_manual_run_is_one_at_a_time_and_records_every_step(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    run = data_of(await store.client.post(url(store, "recovery"), headers=store.operator), 202)
    assert (run["trigger"], run["status"]) == ("manual", "running")
    assert run["actor"].startswith("operator:")
    again = await store.client.post(url(store, "recovery"), headers=store.operator)
    body = assert_error(again, 409, "RECOVERY_IN_PROGRESS")
    assert body["error"]["details"]["recovery_run_id"] == run["id"]
    await store.worker.run_until_idle()
    done = data_of(
        await store.client.get(f"/api/v1/recovery-runs/{run['id']}", headers=store.operator)
    )
    assert done["status"] == "succeeded"
    assert [s["outcome"] for s in done["steps"]] == ["passed"] * 5
    assert all(s["finished_at"] >= s["started_at"] for s in done["steps"])
    listed = data_of(await store.client.get(url(store, "recovery-runs"), headers=store.operator))
    assert [r["id"] for r in listed] == [run["id"]]
    # A new run may start once it has finished.
    data_of(await store.client.post(url(store, "recovery"), headers=store.operator), 202)


async def test_reset_drops_the_cached_adapter_and_the_next_call_builds_a_new_one(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    connector = store.harness.connector
    reset = data_of(await store.client.post(url(store, "pos/reset"), headers=store.operator))
    assert reset["adapters_dropped"] == 1
    assert reset["pool_dropped"] is True
    again = data_of(await store.client.post(url(store, "pos/reset"), headers=store.operator))
    assert again["adapters_dropped"] == 0
    run = await store.sync()
    assert run.error is None
    assert len([key for key in connector._adapters if key[0] == store.store_id]) == 1


async def test_kiosks_keep_the_last_good_catalog_marked_stale_with_the_reason(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    data_of(
        await store.client.post(
            url(store, "pos/breaker"), json={"action": "force_open"}, headers=store.operator
        )
    )
    fresh = (await store.browse())["meta"]["catalog"]
    assert (fresh["stale"], fresh["stale_reason"], fresh["store_state"]) == (False, None, "error")
    clock.advance(3601)  # past the store's stale_after_s with no successful sync
    await store.worker.run_until_idle()  # the sweep notices and tells the kiosks
    page = await store.browse()
    catalog = page["meta"]["catalog"]
    assert (catalog["stale"], catalog["stale_reason"]) == (True, "breaker_forced_open")
    statuses = [
        e["data"]
        for e in await stream(database, store_stream(store.store_id))
        if e["type"] == "store.status"
    ]
    assert statuses[-1]["catalog"]["stale"] is True
    assert statuses[-1]["ordering"] == "queued"
    # Orders are still taken, and wait.
    await store.place_order()
