"""Refused credentials: the store ends in `error` with the manual procedure, nothing automatic
calls its POS with them again, and saving new ones recovers the store in one run."""

from __future__ import annotations

from typing import Any

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.sync import SyncStatus
from tests.assertions import data_of
from tests.health.conftest import HealthStore, health_store
from tests.simulated_pos import Harness


async def store_alerts(store: HealthStore, state: str) -> list[dict[str, Any]]:
    response = await store.client.get(
        "/api/v1/alerts",
        params={"store_id": str(store.store_id), "state": state},
        headers=store.operator,
    )
    alerts: list[dict[str, Any]] = data_of(response)
    return alerts


async def test_refused_credentials_stop_automatic_calls_until_new_ones_are_saved(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await health_store(database, harness, clock, settings)
    await store.fault("*", "unauthorized")
    run = await store.sync()
    assert run.status is SyncStatus.FAILED
    assert await store.state() == ("error", "credentials_refused")
    procedure = data_of(
        await store.client.get(f"/api/v1/stores/{store.store_id}/recovery", headers=store.operator)
    )
    assert procedure["cause"] == "credentials_refused"
    names = [step["name"] for step in procedure["steps"]]
    assert names[:4] == ["log_in", "api_settings", "regenerate", "update_credentials"]
    assert procedure["steps"][3]["how"] == f"PUT /api/v1/stores/{store.store_id}/pos"
    [alert] = await store_alerts(store, "firing")
    assert alert["kind"] == "store_credentials_refused"

    # Kiosks keep browsing and ordering; then time passes with every schedule running.
    await store.browse()
    order = await store.place_order()
    calls = await store.pos_requests()
    await store.settle(rounds=12, step_s=30)
    rerun = await store.sync()  # an operator's sync is refused before it calls
    assert rerun.status is SyncStatus.FAILED
    assert rerun.error is not None
    assert "refused" in rerun.error
    assert await store.pos_requests() == calls, "a call went out with refused credentials"
    assert await store.state() == ("error", "credentials_refused")
    # One alert for the cause, however many runs and ticks failed meanwhile.
    [still] = await store_alerts(store, "firing")
    assert (still["id"], still["occurrences"]) == (alert["id"], 1)
    health = await store.health()
    assert health["evidence"]["credentials_refused_at"] is not None
    assert health["next_recovery_at"] is None  # nothing automatic: the manual procedure

    # The operator saves new credentials: one run brings the store back.
    await store.clear_faults()
    saved = data_of(
        await store.client.put(
            f"/api/v1/stores/{store.store_id}/pos",
            json={"provider": "dutchie", "config": store.summary["config"]},
            headers=store.operator,
        )
    )
    assert saved["credentials_refused_at"] is None
    await store.worker.run_until_idle()
    recovery = data_of(
        await store.client.get(
            f"/api/v1/recovery-runs/{saved['recovery_run_id']}", headers=store.operator
        )
    )
    assert recovery["trigger"] == "credentials_updated"
    assert recovery["status"] == "succeeded", recovery
    assert [(s["name"], s["outcome"]) for s in recovery["steps"]] == [
        ("reset_connection", "passed"),
        ("verify_credentials", "passed"),
        ("test_connection", "passed"),
        ("sync", "passed"),
        ("drain_orders", "passed"),
    ]
    assert await store.state() == ("connected", "ok")
    assert await store.at_pos(order) == 1
    assert await store_alerts(store, "firing") == []
    resolved = await store_alerts(store, "resolved")
    assert [a["id"] for a in resolved] == [alert["id"]]
