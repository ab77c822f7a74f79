"""Operator alerts: raised in the transaction of what they are about, pushed as `alert.changed`
on the organization's ops stream, listed with filters, acknowledged once, and never seen by
another organization."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ridgeline.alerts.lifecycle import (
    FLAP_WINDOW,
    AlertMove,
    AlertState,
    IllegalAlertMove,
    check_move,
)
from ridgeline.alerts.service import raise_alert, resolve_alerts
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.realtime.streams import ops_stream, position, read_since
from tests.assertions import assert_error
from tests.factories import Tenant, make_tenant, sign_in


async def _raise(database: Database, tenant: Tenant, clock: FakeClock, kind: str) -> str:
    async with database.transaction() as session:
        row = await raise_alert(
            session,
            organization_id=tenant.organization.id,
            store_id=tenant.store.id,
            kind=kind,
            title=f"{kind} at {tenant.store.name}",
            message="something an operator must hear about",
            details={"order_reference": "RL-TEST"},
            at=clock.now(),
        )
    assert row is not None
    return str(row.id)


async def _alert_changes(database: Database, tenant: Tenant) -> list[dict[str, Any]]:
    """The `alert.changed` messages on the organization's ops stream, oldest first."""
    stream_id = ops_stream(tenant.organization.id)
    async with database.transaction(write=False) as session:
        at = await position(session, stream_id)
        entries = await read_since(session, stream_id, epoch=at.epoch, offset=0, limit=1000)
    return [entry.message["data"] for entry in entries if entry.message["type"] == "alert.changed"]


async def _list(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/alerts", params=params, headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]
    return found


async def test_an_alert_is_listed_newest_first_and_filtered(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)  # comes with one sync_failed alert
    clock.advance(1)
    failed = await _raise(database, tenant, clock, "order_failed")
    headers = await sign_in(client, tenant.admin)
    listed = await _list(client, headers)
    assert [alert["id"] for alert in listed] == [failed, str(tenant.alert_id)]
    [only] = await _list(client, headers, kind="order_failed")
    assert only["id"] == failed
    assert only["severity"] == "critical"
    assert only["state"] == "firing"
    assert only["store_id"] == str(tenant.store.id)
    assert await _list(client, headers, state="acknowledged") == []
    other = await make_tenant(database)
    assert await _list(client, headers, store_id=str(other.store.id)) == []


async def test_acknowledging_changes_the_state_once_and_is_pushed(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    alert_id = await _raise(database, tenant, clock, "order_rejected")
    headers = await sign_in(client, tenant.admin)
    first = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["data"]["state"] == "acknowledged"
    again = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers)
    assert again.json()["data"] == first.json()["data"]  # again changes nothing
    [acked] = await _list(client, headers, state="acknowledged")
    assert acked["id"] == alert_id

    changes = [
        data["state"] for data in await _alert_changes(database, tenant) if data["id"] == alert_id
    ]
    assert changes == ["firing", "acknowledged"]  # raised, then acknowledged once


async def test_another_organization_never_sees_or_acknowledges_an_alert(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    alert_id = await _raise(database, tenant, clock, "order_failed")
    intruder = await make_tenant(database)
    headers = await sign_in(client, intruder.admin)
    listed = await _list(client, headers)
    assert {alert["id"] for alert in listed} == {str(intruder.alert_id)}
    refused = await client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=headers)
    assert_error(refused, 404, "NOT_FOUND")
    owner = await sign_in(client, tenant.admin)
    [still] = await _list(client, owner, kind="order_failed")
    assert still["state"] == "firing"


async def test_a_bad_filter_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    bad = await client.get("/api/v1/alerts", params={"state": "sleeping"}, headers=headers)
    assert_error(bad, 422, "VALIDATION_ERROR")
    store = await client.get("/api/v1/alerts", params={"store_id": "nope"}, headers=headers)
    assert_error(store, 422, "VALIDATION_ERROR")


async def _raise_keyed(database: Database, tenant: Tenant, clock: FakeClock, key: str) -> str:
    async with database.transaction() as session:
        row = await raise_alert(
            session,
            organization_id=tenant.organization.id,
            store_id=tenant.store.id,
            kind="sync_failed",
            title="Sync failed",
            message=f"seen at {clock.now().isoformat()}",
            details={},
            at=clock.now(),
            dedup_key=key,
        )
    assert row is not None
    return str(row.id)


async def test_a_dedup_key_makes_one_open_alert_and_resolution_ends_it(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    first = await _raise_keyed(database, tenant, clock, "sync_failed:s:catalog")
    clock.advance(60)
    assert await _raise_keyed(database, tenant, clock, "sync_failed:s:catalog") == first
    response = await client.get(f"/api/v1/alerts/{first}", headers=headers)
    assert response.status_code == 200, response.text
    alert = response.json()["data"]
    assert (alert["occurrences"], alert["state"]) == (2, "firing")
    assert alert["last_occurred_at"] > alert["created_at"]
    # An operator resolves it; again changes nothing; it is pushed once.
    done = await client.post(f"/api/v1/alerts/{first}/resolve", headers=headers)
    assert done.status_code == 200, done.text
    assert done.json()["data"]["state"] == "resolved"
    again = await client.post(f"/api/v1/alerts/{first}/resolve", headers=headers)
    assert again.json()["data"] == done.json()["data"]
    changes = [d["state"] for d in await _alert_changes(database, tenant) if d["id"] == first]
    assert changes == ["firing", "resolved"]
    # Seen again long after the resolution: a new alert.
    clock.advance(FLAP_WINDOW.total_seconds() + 1)
    assert await _raise_keyed(database, tenant, clock, "sync_failed:s:catalog") != first
    intruder = await make_tenant(database)
    other = await sign_in(client, intruder.admin)
    assert_error(await client.get(f"/api/v1/alerts/{first}", headers=other), 404, "NOT_FOUND")
    refused = await client.post(f"/api/v1/alerts/{first}/resolve", headers=other)
    assert_error(refused, 404, "NOT_FOUND")


async def test_a_condition_back_within_the_flap_window_fires_the_same_alert_again(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    key = "store_health:s:breaker_open"
    first = await _raise_keyed(database, tenant, clock, key)
    done = await client.post(f"/api/v1/alerts/{first}/acknowledge", headers=headers)
    assert done.json()["data"]["state"] == "acknowledged"
    async with database.transaction() as session:
        await resolve_alerts(
            session, tenant.organization.id, key, at=clock.now(), resolution="store recovered"
        )
    clock.advance(60)  # back within the flap window: the same alert fires again
    assert await _raise_keyed(database, tenant, clock, key) == first
    response = await client.get(f"/api/v1/alerts/{first}", headers=headers)
    alert = response.json()["data"]
    assert (alert["state"], alert["flaps"], alert["acknowledged_at"]) == ("firing", 1, None)
    assert [(e["from_state"], e["to_state"], e["move"]) for e in alert["timeline"]] == [
        (None, "firing", "raised"),
        ("firing", "acknowledged", "acknowledged"),
        ("acknowledged", "resolved", "cleared"),
        ("resolved", "firing", "flapped"),
    ]
    assert alert["timeline"][1]["actor"] == f"operator:{tenant.admin.id}"
    assert alert["timeline"][2]["note"] == "store recovered"
    # Resolved for longer than the window: a new alert.
    async with database.transaction() as session:
        await resolve_alerts(session, tenant.organization.id, key, at=clock.now(), resolution="ok")
    clock.advance(FLAP_WINDOW.total_seconds() + 1)
    assert await _raise_keyed(database, tenant, clock, key) != first


def test_the_lifecycle_allows_only_its_table() -> None:
    check_move(AlertState.PENDING, AlertState.FIRING, AlertMove.FOR_ELAPSED)
    check_move(AlertState.RESOLVED, AlertState.FIRING, AlertMove.FLAPPED)
    with pytest.raises(IllegalAlertMove):
        check_move(AlertState.RESOLVED, AlertState.ACKNOWLEDGED, AlertMove.ACKNOWLEDGED)
    with pytest.raises(IllegalAlertMove):
        check_move(AlertState.PENDING, AlertState.ACKNOWLEDGED, AlertMove.ACKNOWLEDGED)
    with pytest.raises(IllegalAlertMove):
        check_move(AlertState.FIRING, AlertState.RESOLVED, AlertMove.FLAPPED)
