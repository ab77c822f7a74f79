"""Rules, `for`, grouping and its intervals, inhibition, silences and escalation, driven with the
injected clock: alerts raised as the domain code raises them, `alerts.notify` run as the job
runs it, and what each channel was queued read back from the deliveries."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select

from ridgeline.alerts.rules import RULES
from ridgeline.alerts.service import raise_alert, resolve_alerts
from ridgeline.alerts.tasks import run_notify
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import (
    AdminNotification,
    AlertDelivery,
    AlertEscalationPolicy,
    AlertGroup,
    AlertSilence,
    Job,
    Store,
)
from tests.factories import Tenant, make_store, make_tenant, sign_in


@dataclass
class Org:
    tenant: Tenant
    headers: dict[str, str]
    stores: list[Store]

    @property
    def id(self) -> uuid.UUID:
        return self.tenant.organization.id


@pytest.fixture
async def org(database: Database, client: httpx.AsyncClient) -> Org:
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        # Only the jobs and alerts a test makes: make_tenant's are placeholders.
        await session.execute(delete(Job).where(Job.id == tenant.job_id))
        await session.execute(
            delete(AdminNotification).where(AdminNotification.id == tenant.alert_id)
        )
        await session.execute(delete(AlertGroup).where(AlertGroup.id == tenant.alert_group_id))
    stores = [tenant.store] + [
        await make_store(database, tenant.organization, f"Store {n}") for n in range(2, 6)
    ]
    return Org(tenant, await sign_in(client, tenant.admin), stores)


async def channel(client: httpx.AsyncClient, org: Org, name: str) -> str:
    response = await client.post(
        "/api/v1/alert-channels",
        json={"name": name, "kind": "ops", "config": {}},
        headers=org.headers,
    )
    assert response.status_code == 201, response.text
    channel_id: str = response.json()["data"]["id"]
    return channel_id


async def raise_(
    database: Database,
    org: Org,
    clock: FakeClock,
    kind: str,
    store: Store,
    *,
    cause: str = "x",
    figure: float | None = None,
) -> uuid.UUID | None:
    async with database.transaction() as session:
        row = await raise_alert(
            session,
            organization_id=org.id,
            store_id=store.id,
            kind=kind,
            title=f"{kind} at {store.name}",
            message=f"{kind} ({cause})",
            details={},
            at=clock.now(),
            dedup_key=f"test:{store.id}:{kind}:{cause}",
            figure=figure,
        )
        return None if row is None else row.id


async def clear(database: Database, org: Org, clock: FakeClock, store: Store) -> None:
    async with database.transaction() as session:
        await resolve_alerts(
            session, org.id, f"test:{store.id}:", at=clock.now(), resolution="cleared"
        )


async def told(database: Database, channel_id: str) -> list[dict[str, Any]]:
    """What the channel was queued, oldest first: each notification's state and alert count."""
    async with database.transaction(write=False) as session:
        rows = (
            await session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.channel_id == uuid.UUID(channel_id))
                .order_by(AlertDelivery.created_at, AlertDelivery.id)
            )
        ).all()
    return [
        {"state": r.notification["state"], "alerts": len(r.notification["alert_ids"])} for r in rows
    ]


async def alert(client: httpx.AsyncClient, org: Org, alert_id: uuid.UUID | None) -> dict[str, Any]:
    response = await client.get(f"/api/v1/alerts/{alert_id}", headers=org.headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def tick(database: Database, clock: FakeClock, seconds: float = 0) -> None:
    clock.advance(seconds)
    await run_notify(database, clock)


# `for`, thresholds and overrides.


async def test_a_rule_with_for_is_pending_then_fires_unless_it_clears_first(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    ops = await channel(client, org, "ops")
    store = org.stores[0]
    first = await raise_(database, org, clock, "store_pos_error", store, cause="a")
    assert (await alert(client, org, first))["state"] == "pending"
    await tick(database, clock, 119)
    assert (await alert(client, org, first))["state"] == "pending"
    await tick(database, clock, 1)
    fired = await alert(client, org, first)
    assert fired["state"] == "firing"
    assert [e["move"] for e in fired["timeline"]] == ["raised", "for_elapsed"]

    # A condition that clears inside its `for` resolves quietly: nobody is told of it.
    second = await raise_(database, org, clock, "store_pos_error", org.stores[1], cause="b")
    await tick(database, clock, 60)
    await clear(database, org, clock, org.stores[1])
    await tick(database, clock, 120)
    assert (await alert(client, org, second))["state"] == "resolved"
    await tick(database, clock, 30)
    assert await told(database, ops) == [{"state": "firing", "alerts": 1}]


async def test_a_threshold_and_overrides_resolve_store_over_organization_over_default(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    store, other = org.stores[0], org.stores[1]
    # sync_failed fires at 5 failures in a row by default.
    assert await raise_(database, org, clock, "sync_failed", store, figure=4) is None
    assert await raise_(database, org, clock, "sync_failed", store, figure=5) is not None
    response = await client.put(
        "/api/v1/alert-rules/sync_failed",
        json={"threshold": 7, "for_s": 60},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    response = await client.put(
        f"/api/v1/stores/{other.id}/alert-rules/sync_failed",
        json={"threshold": 1},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    assert await raise_(database, org, clock, "sync_failed", org.stores[2], figure=6) is None
    at_other = await raise_(database, org, clock, "sync_failed", other, figure=1)
    # The store's threshold, the organization's `for`.
    found = await alert(client, org, at_other)
    assert found["state"] == "pending"
    assert found["fires_at"] is not None
    response = await client.put(
        f"/api/v1/stores/{org.stores[3].id}/alert-rules/order_failed",
        json={"enabled": False},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    assert await raise_(database, org, clock, "order_failed", org.stores[3]) is None


# Grouping and its intervals.


async def test_alerts_of_one_rule_are_told_together_then_by_change_and_repeat(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    ops = await channel(client, org, "ops")
    for store in org.stores[:3]:
        await raise_(database, org, clock, "store_pos_offline", store)
        await tick(database, clock, 5)
    assert await told(database, ops) == []  # the group waits 30 s for more
    await tick(database, clock, 15)
    assert await told(database, ops) == [{"state": "firing", "alerts": 3}]

    # A change is told at most once per group interval (5 min).
    await raise_(database, org, clock, "store_pos_offline", org.stores[3])
    await tick(database, clock, 60)
    await raise_(database, org, clock, "store_pos_offline", org.stores[4])
    await tick(database, clock, 60)
    assert len(await told(database, ops)) == 1
    await tick(database, clock, 180)
    assert (await told(database, ops))[-1] == {"state": "firing", "alerts": 5}
    assert len(await told(database, ops)) == 2

    # Raising what is already open changes nothing to tell; unchanged, it repeats after 4 h.
    await raise_(database, org, clock, "store_pos_offline", org.stores[0])
    await tick(database, clock, 3600)
    assert len(await told(database, ops)) == 2
    await tick(database, clock, 3 * 3600)
    assert len(await told(database, ops)) == 3

    # Everything resolves: one resolved notification (a change: at the group interval after
    # the last one), and the group closes.
    for store in org.stores:
        await clear(database, org, clock, store)
    await tick(database, clock, 299)
    assert len(await told(database, ops)) == 3
    await tick(database, clock, 1)
    assert (await told(database, ops))[-1] == {"state": "resolved", "alerts": 5}
    headers = await sign_in(client, org.tenant.admin)  # hours passed: the token expired
    assert (await client.get("/api/v1/alert-groups", headers=headers)).json()["data"] == []
    groups = await client.get("/api/v1/alert-groups", params={"open": False}, headers=headers)
    assert groups.status_code == 200, groups.text
    [group] = groups.json()["data"]
    assert group["open"] is False
    assert group["counts"] == {"resolved": 5}


async def test_rules_are_grouped_apart_and_group_settings_can_be_overridden(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    ops = await channel(client, org, "ops")
    response = await client.put(
        "/api/v1/alert-rules/order_failed", json={"group_wait_s": 0}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    await raise_(database, org, clock, "order_failed", org.stores[0])
    await raise_(database, org, clock, "store_pos_offline", org.stores[1])
    await tick(database, clock)
    assert await told(database, ops) == [{"state": "firing", "alerts": 1}]
    await tick(database, clock, 30)
    assert len(await told(database, ops)) == 2


# Inhibition and silences.


async def test_a_store_that_is_down_inhibits_its_own_sync_and_order_alerts(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    ops = await channel(client, org, "ops")
    down, up = org.stores[0], org.stores[1]
    await raise_(database, org, clock, "store_pos_offline", down)
    inhibited = await raise_(database, org, clock, "sync_failed", down, figure=5)
    await raise_(database, org, clock, "order_failed", down)
    told_sync = await raise_(database, org, clock, "sync_failed", up, figure=5)
    await tick(database, clock, 30)
    assert (await alert(client, org, inhibited))["suppressed_by"] is not None
    assert (await alert(client, org, told_sync))["suppressed_by"] is None
    notes = await told(database, ops)
    # The store's own alert, and the other store's sync alert: nothing about the down store's
    # sync or orders.
    assert sorted(n["alerts"] for n in notes) == [1, 1]
    assert len(notes) == 2

    # Its POS comes back: what it held back is told once the store has been back for the
    # recovery grace (5 min) and its sync alert is still open.
    async with database.transaction() as session:
        await resolve_alerts(
            session,
            org.id,
            f"test:{down.id}:store_pos_offline",
            at=clock.now(),
            resolution="back",
        )
    await tick(database, clock, 299)
    assert (await alert(client, org, inhibited))["suppressed_by"] is not None
    await tick(database, clock, 1)
    assert (await alert(client, org, inhibited))["suppressed_by"] is None
    assert {"state": "firing", "alerts": 1} in (await told(database, ops))[2:]


async def test_a_silence_mutes_what_it_matches_until_it_ends(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    ops = await channel(client, org, "ops")
    store = org.stores[0]
    async with database.transaction() as session:
        silence = AlertSilence(
            organization_id=org.id,
            matchers=[
                {"label": "rule", "op": "=", "value": "order_failed"},
                {"label": "store_id", "op": "=", "value": str(store.id)},
            ],
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(hours=1),
            comment="maintenance",
            created_by="test",
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(silence)
    muted = await raise_(database, org, clock, "order_failed", store)
    await raise_(database, org, clock, "order_failed", org.stores[1])
    await tick(database, clock, 30)
    assert (await alert(client, org, muted))["suppressed_by"] == f"silence:{silence.id}"
    assert await told(database, ops) == [{"state": "firing", "alerts": 1}]
    await tick(database, clock, 3600)  # the silence expires: the muted alert is told
    assert (await told(database, ops))[-1] == {"state": "firing", "alerts": 2}


# Escalation, acknowledgement, resolution.


async def test_an_unacknowledged_group_escalates_and_acknowledging_stops_it(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    first, second, third = [await channel(client, org, f"level {n}") for n in range(3)]
    bystander = await channel(client, org, "not in the policy")
    async with database.transaction() as session:
        session.add(
            AlertEscalationPolicy(
                organization_id=org.id,
                name="on call",
                levels=[
                    {"delay_s": 0, "channel_ids": [first]},
                    {"delay_s": 600, "channel_ids": [second]},
                    {"delay_s": 900, "channel_ids": [third]},
                ],
                rules=[],
                created_at=clock.now(),
                updated_at=clock.now(),
            )
        )
    alert_id = await raise_(database, org, clock, "store_pos_offline", org.stores[0])
    await tick(database, clock, 30)
    assert len(await told(database, first)) == 1
    assert await told(database, second) == []
    await tick(database, clock, 599)
    assert await told(database, second) == []
    await tick(database, clock, 1)
    assert await told(database, second) == [{"state": "firing", "alerts": 1}]

    found = await alert(client, org, alert_id)
    acknowledged = await client.post(
        f"/api/v1/alert-groups/{found['group_id']}/acknowledge", headers=org.headers
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["data"]["counts"] == {"acknowledged": 1}
    await tick(database, clock, 3600)
    assert await told(database, third) == []  # acknowledged: no further level
    assert (await told(database, first))[-1]["state"] == "acknowledged"

    await clear(database, org, clock, org.stores[0])
    await tick(database, clock, 300)
    # Everyone who heard hears of the resolution; a channel outside the policy heard nothing.
    assert (await told(database, first))[-1]["state"] == "resolved"
    assert (await told(database, second))[-1]["state"] == "resolved"
    assert await told(database, third) == []
    assert await told(database, bystander) == []


# The docs behind each rule.


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", markdown, re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_rule_is_in_the_operations_table_with_a_runbook_that_exists() -> None:
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    anchors = _anchors(operations)
    for rule in RULES.values():
        assert f"| `{rule.name}` |" in operations, rule.name
        assert rule.runbook in anchors, (rule.name, rule.runbook)
        assert f"(#{rule.runbook})" in operations, rule.name
