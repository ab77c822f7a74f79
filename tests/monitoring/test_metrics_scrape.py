"""The metrics of docs/monitoring.md, scraped from `/metrics` after the flows that feed them ran
for real: a store synced from the POS simulator, a kiosk order accepted at the POS, a POS outage
(breaker, store states, an alert notified, delivered and escalated, recovery), `/cable` traffic.

Every family in the document's table must be exposed with exactly its documented labels, and
every `ridgeline_*` family exposed must be in the table. prometheus_client shows a labelled
family without series until something was counted under it, so the flows must reach each one:
a family the scrape shows no series for fails the test rather than passing unchecked.

Counters and histograms are process-wide and other tests count too: nothing here assumes a
starting value."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from ridgeline.jobs.queue import claim
from ridgeline.models.operator import Role
from ridgeline.monitoring.fleet import refresh_fleet_metrics
from tests.factories import make_operator, sign_in
from tests.health.conftest import HealthStore, health_store
from tests.health.test_fault_classes import back_to_connected, drive_until, queued_while_down
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import start_server
from tests.simulated_pos import Harness

DOC = Path(__file__).resolve().parents[2] / "docs" / "monitoring.md"
# A row of the table: | `name` | type | `label`, `label` (or —) | ...
ROW = re.compile(r"^\| `(ridgeline_[a-z0-9_]+)` \| (counter|gauge|histogram) \| ([^|]*) \|", re.M)
# Labels Prometheus adds to a family's series, not the family's own.
SERIES_LABELS = frozenset({"le", "quantile"})


@dataclass(frozen=True)
class Documented:
    exposed: str  # as the table (and Prometheus) shows it: counters with `_total`
    kind: str
    labels: frozenset[str]

    @property
    def family(self) -> str:
        """The family's name as the parser reports it (counters without `_total`)."""
        return self.exposed.removesuffix("_total") if self.kind == "counter" else self.exposed


def documented() -> dict[str, Documented]:
    found: dict[str, Documented] = {}
    for name, kind, labels in ROW.findall(DOC.read_text()):
        names = frozenset(re.findall(r"`([a-z_]+)`", labels))
        row = Documented(name, kind, names)
        assert row.family not in found, f"{name} is in the table twice"
        found[row.family] = row
    return found


def label_names(family: Metric) -> set[frozenset[str]]:
    return {frozenset(sample.labels) - SERIES_LABELS for sample in family.samples}


async def scrape(client: httpx.AsyncClient) -> dict[str, Metric]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    return {family.name: family for family in text_string_to_metric_families(response.text)}


async def ops_channel(store: HealthStore, name: str) -> str:
    response = await store.client.post(
        "/api/v1/alert-channels",
        json={"name": name, "kind": "ops", "config": {}},
        headers=store.operator,
    )
    assert response.status_code == 201, response.text
    channel_id: str = response.json()["data"]["id"]
    return channel_id


async def escalating_policy(store: HealthStore) -> None:
    """Level 0 hears at once; level 1 a minute later while nobody acknowledges."""
    first, second = await ops_channel(store, "On call"), await ops_channel(store, "Managers")
    response = await store.client.post(
        "/api/v1/escalation-policies",
        json={
            "name": "Store POS",
            "levels": [
                {"delay_s": 0, "channel_ids": [first]},
                {"delay_s": 60, "channel_ids": [second]},
            ],
            "rules": [],
        },
        headers=store.operator,
    )
    assert response.status_code == 201, response.text


async def cable_traffic(store: HealthStore, settings: Settings) -> None:
    """A kiosk on `/cable`: subscribed to its store (and refused another's), told of an order it
    placed, gone, then back with its session."""
    cable_settings = settings.model_copy(update={"cable_poll_interval_s": 0.2})
    live = await start_server(cable_settings, store.database, store.clock)
    try:
        key = store.kiosk["Authorization"].removeprefix("Bearer ")
        kiosk = await CableClient.connect(live.base_url, token=key)
        sid = (await kiosk.welcome())["sid"]
        mine = identifier("StoreChannel", store_id=str(store.store_id))
        assert (await kiosk.subscribe(mine))["type"] == "confirm_subscription"
        other = identifier("StoreChannel", store_id=str(uuid.uuid4()))
        assert (await kiosk.subscribe(other))["type"] == "reject_subscription"
        await store.place_order()
        await store.worker.run_until_idle()
        await kiosk.messages(1)
        await kiosk.close()
        restored = await CableClient.connect(live.base_url, sid=sid)
        assert (await restored.welcome())["restored"] is True
        await restored.close()
    finally:
        await live.stop()


async def a_reclaimed_job(database: Database, clock: FakeClock) -> None:
    """A worker that took a job and vanished: its lease runs out and the next claim takes the
    job back."""
    async with database.transaction() as session:
        await enqueue(session, "metrics.probe", clock=clock, priority=-100)
    [job] = await claim(database, worker_id="gone", limit=1, lease_s=1, clock=clock)
    assert job.kind == "metrics.probe"
    clock.advance(5)
    await claim(database, worker_id="next", limit=1, lease_s=60, clock=clock)


async def a_slow_statement(database: Database) -> None:
    """Every statement is slow to a watcher with a threshold of 0 ms."""
    watched = Database(database.url, slow_statement_ms=0)
    try:
        async with watched.transaction(write=False) as session:
            await session.scalar(text("select 1"))
    finally:
        await watched.dispose()


async def run_the_flows(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> HealthStore:
    # A store synced from the simulator (POS calls, sync runs and records, jobs).
    store = await health_store(database, harness, clock, settings)
    await escalating_policy(store)
    # A kiosk order accepted at the POS.
    accepted = await store.place_order()
    await store.worker.run_until_idle()
    # The POS answers 503: the breaker opens, the store goes to error, an order waits, the
    # alert fires and is delivered, then escalated; the POS comes back and recovery runs.
    await store.fault("*", "status", status=503)
    await drive_until(store, {"error"})
    waiting = await queued_while_down(store)
    await store.settle(rounds=6, step_s=30)
    await back_to_connected(store, [accepted, waiting])
    await cable_traffic(store, settings)
    await a_reclaimed_job(database, clock)
    await a_slow_statement(database)
    # A platform admin reads the process's performance (the p95 gauge by route).
    admin = await make_operator(database, Role.PLATFORM_ADMIN)
    headers = await sign_in(store.client, admin)
    response = await store.client.get("/api/v1/system/performance", headers=headers)
    assert response.status_code == 200, response.text
    return store


async def test_every_documented_family_is_scraped_with_its_labels(
    database: Database, harness: Harness, clock: FakeClock, settings: Settings
) -> None:
    store = await run_the_flows(database, harness, clock, settings)
    # `/metrics` refreshes the fleet gauges itself at most every few seconds; refreshing here
    # makes them this test's figures whatever another test's scrape left.
    async with database.transaction(write=False) as session:
        await refresh_fleet_metrics(session, clock.now())
    exposed = await scrape(store.client)
    table = documented()
    assert len(table) >= 40, "the table in docs/monitoring.md was not read"
    missing = sorted(row.exposed for name, row in table.items() if name not in exposed)
    assert missing == [], f"documented but not exposed: {missing}"
    wrong: list[str] = []
    for name, row in table.items():
        family = exposed[name]
        if family.type != row.kind:
            wrong.append(f"{row.exposed}: a {family.type}, documented as a {row.kind}")
        elif not family.samples:
            wrong.append(f"{row.exposed}: no series after the flows, its labels went unchecked")
        elif label_names(family) != {row.labels}:
            seen = sorted(sorted(labels) for labels in label_names(family))
            wrong.append(f"{row.exposed}: labels {seen}, documented {sorted(row.labels)}")
    assert wrong == [], "\n".join(wrong)


async def test_every_exposed_family_is_documented(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    async with database.transaction(write=False) as session:
        await refresh_fleet_metrics(session, clock.now())
    exposed = await scrape(client)
    table = documented()
    # Counters and histograms come with a `_created` gauge of their own.
    timestamped = {f"{name}_created" for name, family in exposed.items() if family.type != "gauge"}
    undocumented = sorted(
        name
        for name in exposed
        if name.startswith("ridgeline_") and name not in table and name not in timestamped
    )
    assert undocumented == [], f"add these to the table in docs/monitoring.md: {undocumented}"


def test_the_table_names_follow_the_convention() -> None:
    for row in documented().values():
        assert row.exposed.startswith("ridgeline_"), row
        if row.kind == "counter":
            assert row.exposed.endswith("_total"), row
        if row.kind == "histogram":
            assert row.exposed.endswith("_seconds"), row
        assert not {"order_id", "product_id", "kiosk_id", "organization_id"} & row.labels, row
