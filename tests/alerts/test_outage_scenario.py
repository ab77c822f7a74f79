"""The regional outage of docs/alerting.md, end to end: a fleet of stores on one POS vendor (the
simulator, over its HTTP API) go offline together. Each channel, a real local receiver, gets a
handful of grouped notifications, not one per store: level 0 of the escalation policy first,
level 1 when nobody acknowledges, then the acknowledgement, and the resolution once every store
is back.

The suite plays it with 20 stores (a minute of the suite's time); the table in
docs/alerting.md is the 50-store run: `RIDGELINE_OUTAGE_STORES=50 pytest
tests/alerts/test_outage_scenario.py -s` prints what each channel received."""

from __future__ import annotations

import os
import random
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import Worker
from ridgeline.models import (
    AdminNotification,
    AlertDelivery,
    AlertGroup,
    Job,
    Order,
    StoreHealth,
    SyncKind,
)
from ridgeline.models.alert_channel import DeliveryStatus
from ridgeline.models.sync import SyncTrigger
from ridgeline.pos import service as pos_service
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.sync.service import run_sync
from ridgeline.tasks import job_registry, job_schedules, job_services
from tests.alerts.receivers import HttpReceiver, smtp_server
from tests.factories import make_store, make_tenant, sign_in
from tests.possim.servers import running
from tests.simulated_pos import Harness

STORES = int(os.environ.get("RIDGELINE_OUTAGE_STORES", "20"))
SMTP_PASSWORD = "smtp-pass-outage"


@pytest.fixture
def harness_seed() -> int:
    return 31


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[HttpReceiver, str]]:
    http = HttpReceiver(200)
    manager = running(http, http="h11")
    url: str = await manager.__aenter__()
    yield http, url
    await manager.__aexit__(None, None, None)


async def states(database: Database, store_ids: list[uuid.UUID]) -> dict[str, int]:
    async with database.transaction(write=False) as session:
        rows = (
            await session.execute(
                select(StoreHealth.state, func.count())
                .where(StoreHealth.store_id.in_(store_ids))
                .group_by(StoreHealth.state)
            )
        ).all()
    return {str(state): int(count) for state, count in rows}


async def told(database: Database, channel_id: str) -> list[dict[str, Any]]:
    async with database.transaction(write=False) as session:
        rows = (
            await session.scalars(
                select(AlertDelivery)
                .where(AlertDelivery.channel_id == uuid.UUID(channel_id))
                .order_by(AlertDelivery.created_at, AlertDelivery.id)
            )
        ).all()
    return [
        {
            "state": row.notification["state"],
            "alerts": len(row.notification["alert_ids"]),
            "title": row.notification["title"],
            "status": row.status,
            "at": row.created_at,
        }
        for row in rows
    ]


async def test_a_fleet_offline_makes_a_handful_of_notifications_per_channel(
    database: Database,
    harness: Harness,
    clock: FakeClock,
    settings: Settings,
    receiver: tuple[HttpReceiver, str],
) -> None:
    http, base = receiver
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        # Only what this scenario makes: make_tenant's placeholder job, order (with no items:
        # the POS would reject it once back), alert and group go.
        await session.execute(delete(Job).where(Job.id == tenant.job_id))
        await session.execute(delete(Order).where(Order.id == tenant.order_id))
        await session.execute(
            delete(AdminNotification).where(AdminNotification.id == tenant.alert_id)
        )
        await session.execute(delete(AlertGroup).where(AlertGroup.id == tenant.alert_group_id))
    client = harness.client
    cipher = app_services(harness.app).pos_connector.cipher
    store_ids: list[uuid.UUID] = []
    sims: list[str] = []
    for n in range(STORES):
        response = await harness.control.post(
            "/_sim/stores", json={"dialect": "dutchie", "products": 2}
        )
        assert response.status_code == 201, response.text
        summary = response.json()
        store = (
            tenant.store
            if n == 0
            else await make_store(database, tenant.organization, f"Store {n:02d}")
        )
        async with database.transaction() as session:
            await pos_service.configure(
                session,
                TenantScope.everything(),
                store.id,
                StorePosUpdate(provider="dutchie", config=summary["config"]),
                cipher=cipher,
                now=datetime.now(UTC),
            )
        run = await run_sync(
            database, harness.connector, store.id, SyncKind.FULL, SyncTrigger.OPERATOR, clock=clock
        )
        assert run.error is None, run.error
        store_ids.append(store.id)
        sims.append(summary["id"])

    worker = Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(31),
        services=job_services(harness.connector),
        poll_interval_s=0.01,
        concurrency=8,
        schedules=job_schedules(settings),
    )

    async def settle(seconds: float, step_s: float = 30.0) -> None:
        for _ in range(int(seconds // step_s)):
            clock.advance(step_s)
            await worker.run_until_idle()

    with smtp_server("alerts", SMTP_PASSWORD) as (smtp_port, smtp):
        headers = await sign_in(client, tenant.admin)

        async def channel(kind: str, config: dict[str, Any]) -> str:
            response = await client.post(
                "/api/v1/alert-channels",
                json={"name": f"{kind} on call", "kind": kind, "config": config},
                headers=headers,
            )
            assert response.status_code == 201, response.text
            channel_id: str = response.json()["data"]["id"]
            return channel_id

        level0 = {
            "ops": await channel("ops", {}),
            "slack": await channel("slack", {"url": f"{base}/slack/T0KEN"}),
            "webhook": await channel(
                "webhook", {"url": f"{base}/hook", "secret": "whsec-outage-0123456789"}
            ),
        }
        level1 = {
            "pagerduty": await channel(
                "pagerduty", {"routing_key": "ROUTING-KEY-1", "url": f"{base}/pd"}
            ),
            "email": await channel(
                "email",
                {
                    "host": "127.0.0.1",
                    "port": smtp_port,
                    "security": "none",
                    "username": "alerts",
                    "password": SMTP_PASSWORD,
                    "from_address": "alerts@example.com",
                    "to_addresses": ["oncall@example.com"],
                },
            ),
        }
        policy = await client.post(
            "/api/v1/escalation-policies",
            json={
                "name": "Store POS on call",
                "levels": [
                    {"delay_s": 0, "channel_ids": list(level0.values())},
                    {"delay_s": 900, "channel_ids": list(level1.values())},
                ],
                "rules": [],
            },
            headers=headers,
        )
        assert policy.status_code == 201, policy.text

        # The vendor goes down: every store's POS resets connections.
        faulted = clock.now()
        for sim in sims:
            response = await harness.control.post(
                f"/_sim/stores/{sim}/faults", json={"endpoint": "*", "kind": "reset"}
            )
            assert response.status_code in (200, 201), response.text
        for _ in range(20):
            await settle(30)
            if (await states(database, store_ids)).get("offline") == STORES:
                break
        assert await states(database, store_ids) == {"offline": STORES}

        # Nobody acknowledges: level 1 hears 15 minutes after level 0.
        await settle(960, step_s=60)
        assert len(await told(database, level1["pagerduty"])) == 1

        headers = await sign_in(client, tenant.admin)
        groups = await client.get("/api/v1/alert-groups", headers=headers)
        offline = [g for g in groups.json()["data"] if g["rule"] == "store_pos_offline"]
        assert [g["counts"] for g in offline] == [{"firing": STORES}]
        assert offline[0]["escalation_level"] == 1
        acknowledged = await client.post(
            f"/api/v1/alert-groups/{offline[0]['id']}/acknowledge", headers=headers
        )
        assert acknowledged.status_code == 200, acknowledged.text
        await settle(300, step_s=60)

        # The vendor is back: stores reconnect, their alerts resolve, everyone hears.
        for sim in sims:
            response = await harness.control.delete(f"/_sim/stores/{sim}/faults")
            assert response.status_code in (200, 204), response.text
        for _ in range(40):
            await settle(60, step_s=60)
            if (await states(database, store_ids)).get("connected") == STORES:
                break
        assert await states(database, store_ids) == {"connected": STORES}
        await settle(600, step_s=60)

        everyone = {**level0, **level1}
        heard = {name: await told(database, channel_id) for name, channel_id in everyone.items()}
        sys.stdout.write("\nchannel     | notifications (state, alerts, minutes after the fault)\n")
        for name, notes in heard.items():
            line = ", ".join(
                f"{n['state']} ({n['alerts']}, {(n['at'] - faulted).total_seconds() / 60:.0f})"
                for n in notes
            )
            sys.stdout.write(f"{name:<11} | {line}\n")
        for name, notes in heard.items():
            assert 2 <= len(notes) <= 5, (name, notes)  # a handful, not one per store
            assert notes[-1]["state"] == "resolved", (name, notes)
            assert all(n["status"] is DeliveryStatus.SENT for n in notes), (name, notes)
            assert "acknowledged" in [n["state"] for n in notes], (name, notes)
        for name in level0:
            assert heard[name][0]["state"] == "firing"
        for name in level1:
            assert heard[name][0]["state"] == "firing"
            assert heard[name][0]["at"] > heard["ops"][0]["at"]  # escalated, later
        # make_tenant's ops channel is not in the policy: it heard nothing.
        assert await told(database, str(tenant.alert_channel_id)) == []

    # The receivers really got them: Slack- and PagerDuty-shaped bodies, signed webhooks, mail.
    assert len(http.on("/slack/T0KEN")) == len(heard["slack"])
    assert len(http.on("/hook")) == len(heard["webhook"])
    pagerduty = [request.json() for request in http.on("/pd")]
    assert [body["event_action"] for body in pagerduty][-1] == "resolve"
    assert len({body["dedup_key"] for body in pagerduty}) == 1  # one incident, opened and closed
    assert len(smtp.messages) == len(heard["email"])
