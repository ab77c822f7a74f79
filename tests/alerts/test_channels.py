"""Alert notification channels: CRUD with validation and redaction, tenant isolation, and each
kind delivering to a real local receiver (HTTP and SMTP), including receivers that fail or hang
while the other channels still deliver on time."""

from __future__ import annotations

import asyncio
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import delete, select

from ridgeline.alerts.channels import Notification, NotificationState
from ridgeline.alerts.delivery import DELIVER_JOB, enqueue_notification
from ridgeline.alerts.tasks import CHANNEL_CIPHER, channel_cipher
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import JobServices, Worker
from ridgeline.models import AlertChannel, Role, StreamMessage
from ridgeline.models.job import Job, JobStatus
from ridgeline.realtime.streams import ops_stream
from ridgeline.tasks import job_registry
from tests.alerts.receivers import HttpReceiver, smtp_server
from tests.factories import Tenant, make_operator, make_tenant, sign_in
from tests.possim.servers import running

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerting.md"
WEBHOOK_SECRET = "whsec-0123456789abcdef"
SLACK_TOKEN = "XOXB-SLACK-TOKEN-1234"
ROUTING_KEY = "R0UT1NGKEY-PD-5678"
SMTP_PASSWORD = "smtp-pass-9abc"
SECRETS = (WEBHOOK_SECRET, SLACK_TOKEN, ROUTING_KEY, SMTP_PASSWORD)


def documented_verify() -> Callable[..., bool]:
    """The verification function docs/alerting.md gives receivers, run as written."""
    text = DOCS.read_text()
    block = re.search(r"```python\n(.*?def verify.*?)```", text, re.S)
    assert block is not None
    namespace: dict[str, Any] = {}
    exec(compile(block.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    verify: Callable[..., bool] = namespace["verify"]
    return verify


@dataclass
class Org:
    tenant: Tenant
    headers: dict[str, str]


@pytest.fixture
async def org(database: Database, client: httpx.AsyncClient) -> Org:
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        # Only the jobs a test makes: make_tenant's placeholder job has no handler.
        await session.execute(delete(Job).where(Job.id == tenant.job_id))
    return Org(tenant, await sign_in(client, tenant.admin))


@pytest.fixture
def worker(database: Database, settings: Settings, clock: FakeClock) -> Worker:
    services = JobServices()
    services.provide(CHANNEL_CIPHER, channel_cipher(settings))
    return Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(5),
        services=services,
        poll_interval_s=0.01,
        concurrency=8,
    )


@pytest.fixture
async def receiver_url() -> AsyncIterator[Callable[[HttpReceiver], Any]]:
    """Starts receivers on free ports; `await start(receiver)` gives its URL."""
    stacks: list[Any] = []

    async def start(receiver: HttpReceiver) -> str:
        manager = running(receiver, http="h11")
        stacks.append((manager, receiver))
        url: str = await manager.__aenter__()
        return url

    yield start
    for manager, receiver in reversed(stacks):
        receiver.release()
        await manager.__aexit__(None, None, None)


async def create(
    client: httpx.AsyncClient, headers: Mapping[str, str], kind: str, config: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/alert-channels",
        json={"name": f"{kind} channel", "kind": kind, "config": config},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def notification(clock: FakeClock, **changes: Any) -> Notification:
    values: dict[str, Any] = {
        "title": "POS offline at Main St",
        "message": "The POS has not answered for 5 minutes.",
        "severity": "critical",
        "state": NotificationState.FIRING,
        "dedup_key": "store_health:main:offline",
        "store_ids": [uuid.uuid4()],
        "at": clock.now(),
        "link_url": "https://ridgeline.example.com/alerts/1",
    }
    return Notification(**{**values, **changes})


async def notify(
    database: Database,
    org: Org,
    clock: FakeClock,
    channel_ids: list[str] | None = None,
    **changes: Any,
) -> list[uuid.UUID]:
    async with database.transaction() as session:
        rows = await enqueue_notification(
            session,
            organization_id=org.tenant.organization.id,
            notification=notification(clock, **changes),
            clock=clock,
            channel_ids=None if channel_ids is None else [uuid.UUID(c) for c in channel_ids],
        )
        return [row.id for row in rows]


async def deliveries(client: httpx.AsyncClient, org: Org, channel_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/alert-channels/{channel_id}/deliveries", headers=org.headers
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


# CRUD, validation, redaction, isolation.


async def test_channels_are_validated_stored_encrypted_and_answered_redacted(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    made = [
        await create(
            client,
            org.headers,
            "webhook",
            {"url": "https://hooks.example.com/in", "secret": WEBHOOK_SECRET},
        ),
        await create(
            client, org.headers, "slack", {"url": f"https://hooks.slack.com/services/{SLACK_TOKEN}"}
        ),
        await create(client, org.headers, "pagerduty", {"routing_key": ROUTING_KEY}),
        await create(
            client,
            org.headers,
            "email",
            {
                "host": "smtp.example.com",
                "username": "alerts",
                "password": SMTP_PASSWORD,
                "from_address": "alerts@example.com",
                "to_addresses": ["ops@example.com"],
            },
        ),
    ]
    assert made[0]["config"] == {
        "url": "https://hooks.example.com/in",
        "secret": "********",
        "timeout_s": 10.0,
    }
    assert made[1]["config"]["url"] == "********"
    assert made[2]["config"]["routing_key"] == "********"
    assert made[2]["config"]["url"] == "https://events.pagerduty.com/v2/enqueue"
    assert made[3]["config"]["password"] == "********"
    assert made[3]["config"]["security"] == "starttls"

    listed = await client.get("/api/v1/alert-channels", headers=org.headers)
    assert listed.json()["meta"]["count"] == 5  # and the factory's ops channel
    one = await client.get(f"/api/v1/alert-channels/{made[0]['id']}", headers=org.headers)
    async with database.transaction(write=False) as session:
        stored = (await session.scalars(select(AlertChannel.config_encrypted))).all()
    for text in [listed.text, one.text, *stored]:
        assert not any(secret in text for secret in SECRETS)

    # Sending ******** back keeps the stored secret; other fields change.
    updated = await client.put(
        f"/api/v1/alert-channels/{made[0]['id']}",
        json={"name": "Renamed", "enabled": False, "config": made[0]["config"]},
        headers=org.headers,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["name"] == "Renamed"
    assert updated.json()["data"]["enabled"] is False
    async with database.transaction(write=False) as session:
        row = await session.get(AlertChannel, uuid.UUID(made[0]["id"]))
        assert row is not None
        config = channel_cipher(Settings()).decrypt(row.config_encrypted, row.kind)
    assert config.secrets() == [WEBHOOK_SECRET]

    deleted = await client.delete(f"/api/v1/alert-channels/{made[3]['id']}", headers=org.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/alert-channels/{made[3]['id']}", headers=org.headers)
    assert gone.status_code == 404


@pytest.mark.parametrize(
    ("kind", "config", "field"),
    [
        ("webhook", {"url": "https://x.example.com", "secret": "short"}, "secret"),
        ("webhook", {"url": "ftp://x", "secret": WEBHOOK_SECRET}, "url"),
        ("slack", {"url": f"not a url {SLACK_TOKEN}"}, "url"),
        ("pagerduty", {"routing_key": ROUTING_KEY, "extra": 1}, "extra"),
        ("email", {"host": "h", "from_address": "x", "to_addresses": []}, "from_address"),
        ("ops", {"anything": SMTP_PASSWORD}, "anything"),
    ],
)
async def test_a_config_that_does_not_fit_is_refused_without_echoing_it(
    client: httpx.AsyncClient, org: Org, kind: str, config: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/api/v1/alert-channels",
        json={"name": "bad", "kind": kind, "config": config},
        headers=org.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    locations = [f["loc"] for f in response.json()["error"]["details"]["fields"]]
    assert ["body", "config", field] in locations
    assert not any(secret in response.text for secret in SECRETS)


async def test_viewers_read_admins_write_other_organizations_see_nothing(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    channel_id = org.tenant.alert_channel_id
    viewer = await make_operator(database, Role.VIEWER, org.tenant.organization)
    viewer_headers = await sign_in(client, viewer)
    assert (await client.get("/api/v1/alert-channels", headers=viewer_headers)).status_code == 200
    refused = await client.post(f"/api/v1/alert-channels/{channel_id}/test", headers=viewer_headers)
    assert refused.status_code == 403

    other = await make_tenant(database)
    other_headers = await sign_in(client, other.admin)
    listed = await client.get("/api/v1/alert-channels", headers=other_headers)
    assert str(channel_id) not in listed.text
    for method, path in [
        ("GET", f"/api/v1/alert-channels/{channel_id}"),
        ("PUT", f"/api/v1/alert-channels/{channel_id}"),
        ("DELETE", f"/api/v1/alert-channels/{channel_id}"),
        ("POST", f"/api/v1/alert-channels/{channel_id}/test"),
        ("GET", f"/api/v1/alert-channels/{channel_id}/deliveries"),
    ]:
        response = await client.request(
            method, path, json={"name": "x", "config": {}}, headers=other_headers
        )
        assert response.status_code == 404, (method, path, response.text)


# Deliveries to real receivers.


async def test_every_kind_delivers_to_its_real_receiver(
    client: httpx.AsyncClient,
    database: Database,
    org: Org,
    clock: FakeClock,
    worker: Worker,
    receiver_url: Callable[[HttpReceiver], Any],
) -> None:
    http = HttpReceiver(200)
    base = await receiver_url(http)
    with smtp_server("alerts", SMTP_PASSWORD) as (smtp_port, smtp):
        webhook = await create(
            client, org.headers, "webhook", {"url": f"{base}/hook", "secret": WEBHOOK_SECRET}
        )
        slack = await create(client, org.headers, "slack", {"url": f"{base}/slack/{SLACK_TOKEN}"})
        pagerduty = await create(
            client,
            org.headers,
            "pagerduty",
            {"routing_key": ROUTING_KEY, "url": f"{base}/pd", "source": "ridgeline-test"},
        )
        email = await create(
            client,
            org.headers,
            "email",
            {
                "host": "127.0.0.1",
                "port": smtp_port,
                "security": "none",
                "username": "alerts",
                "password": SMTP_PASSWORD,
                "from_address": "alerts@example.com",
                "to_addresses": ["ops@example.com", "oncall@example.com"],
            },
        )
        alert_id = org.tenant.alert_id
        queued = await notify(database, org, clock, alert_ids=[alert_id])
        assert len(queued) == 5  # the four above and the factory's ops channel
        tested = await client.post(
            f"/api/v1/alert-channels/{webhook['id']}/test", headers=org.headers
        )
        assert tested.status_code == 202, tested.text
        assert tested.json()["data"]["status"] == "queued"

        assert await worker.run_until_idle() == 6

    verify = documented_verify()
    hooks = http.on("/hook")
    assert len(hooks) == 2
    now = clock.now().timestamp()
    for request in hooks:
        assert verify(WEBHOOK_SECRET, request.headers, request.body, now=now)
        assert not verify(WEBHOOK_SECRET, request.headers, request.body + b" ", now=now)
        assert not verify("another-secret-value", request.headers, request.body, now=now)
        assert not verify(WEBHOOK_SECRET, request.headers, request.body, now=now + 301)
    bodies = {request.json()["notification"]["test"]: request.json() for request in hooks}
    assert bodies[False]["type"] == "alert.notification"
    assert bodies[False]["notification"]["alert_ids"] == [str(alert_id)]
    assert bodies[False]["notification"]["state"] == "firing"
    assert bodies[True]["delivery_id"] == tested.json()["data"]["delivery_id"]

    (slack_request,) = http.on(f"/slack/{SLACK_TOKEN}")
    assert slack_request.json()["text"] == "[FIRING] POS offline at Main St"
    assert [block["type"] for block in slack_request.json()["blocks"]] == [
        "section",
        "context",
        "actions",
    ]

    (pd_request,) = http.on("/pd")
    event = pd_request.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "store_health:main:offline"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["source"] == "ridgeline-test"
    assert set(event["payload"]) >= {"summary", "severity", "source", "timestamp"}

    (message,) = smtp.messages
    assert message["Subject"] == "[critical] [FIRING] POS offline at Main St"
    assert smtp.envelopes == [("alerts@example.com", ["ops@example.com", "oncall@example.com"])]
    assert smtp.logins == ["alerts"]

    async with database.transaction(write=False) as session:
        stream = (
            await session.scalars(
                select(StreamMessage).where(
                    StreamMessage.stream_id == ops_stream(org.tenant.organization.id)
                )
            )
        ).all()
    notified = [m.payload for m in stream if m.payload["type"] == "alert.notification"]
    assert len(notified) == 1
    assert notified[0]["data"]["title"] == "POS offline at Main St"
    assert notified[0]["data"]["delivery_id"]

    expected_codes = {webhook["id"]: 200, slack["id"]: 200, pagerduty["id"]: 200, email["id"]: 250}
    for channel_id, code in expected_codes.items():
        for item in await deliveries(client, org, channel_id):
            assert item["status"] == "sent", item
            assert item["status_code"] == code
            assert [a["outcome"] for a in item["attempt_log"]] == ["sent"]
    ops_items = await deliveries(client, org, str(org.tenant.alert_channel_id))
    assert [item["status"] for item in ops_items] == ["sent"]
    assert ops_items[0]["alert_id"] == str(alert_id)


async def test_a_failing_receiver_is_retried_with_backoff_then_dead(
    client: httpx.AsyncClient,
    database: Database,
    org: Org,
    clock: FakeClock,
    worker: Worker,
    receiver_url: Callable[[HttpReceiver], Any],
) -> None:
    broken = HttpReceiver(500)
    base = await receiver_url(broken)
    slack = await create(client, org.headers, "slack", {"url": f"{base}/slack/{SLACK_TOKEN}"})
    with structlog.testing.capture_logs() as logs:
        await notify(database, org, clock, channel_ids=[slack["id"]])
        for attempt in range(1, 6):
            assert await worker.run_until_idle() == 1
            assert len(broken.requests) == attempt
            async with database.transaction(write=False) as session:
                job = (await session.scalars(select(Job).where(Job.kind == DELIVER_JOB))).one()
            if attempt < 5:
                # Not run again at once: the job system's backoff holds it.
                assert job.status is JobStatus.FAILED
                assert job.run_at >= clock.now()
                assert await worker.run_until_idle() == 0
                clock.advance(60)  # past the backoff ceiling (1 s * 2 ** attempt)
    assert job.status is JobStatus.DEAD

    (item,) = await deliveries(client, org, slack["id"])
    assert item["status"] == "dead"
    assert item["attempts"] == 5
    assert item["status_code"] == 500
    assert [a["attempt"] for a in item["attempt_log"]] == [1, 2, 3, 4, 5]
    assert all(a["outcome"] == "failed" for a in item["attempt_log"])
    assert all(a["error"].startswith("HTTP 500") for a in item["attempt_log"])
    assert SLACK_TOKEN not in str(logs)
    assert SLACK_TOKEN not in (job.last_error or "")


async def test_a_hanging_receiver_times_out_while_the_others_deliver_on_time(
    client: httpx.AsyncClient,
    database: Database,
    org: Org,
    clock: FakeClock,
    worker: Worker,
    receiver_url: Callable[[HttpReceiver], Any],
) -> None:
    hanging = HttpReceiver(200, hang=True)
    healthy = HttpReceiver(200)
    hang_base = await receiver_url(hanging)
    ok_base = await receiver_url(healthy)
    stuck = await create(
        client,
        org.headers,
        "webhook",
        {"url": f"{hang_base}/hook", "secret": WEBHOOK_SECRET, "timeout_s": 2},
    )
    others = [
        await create(
            client, org.headers, "webhook", {"url": f"{ok_base}/hook", "secret": WEBHOOK_SECRET}
        ),
        await create(client, org.headers, "slack", {"url": f"{ok_base}/slack"}),
        await create(
            client, org.headers, "pagerduty", {"routing_key": "k", "url": f"{ok_base}/pd"}
        ),
    ]
    await notify(database, org, clock, channel_ids=[stuck["id"]] + [c["id"] for c in others])

    run = asyncio.create_task(worker.run_until_idle())
    await hanging.wait_for(1)
    await healthy.wait_for(3, timeout_s=1.5)
    # Every other channel was served while the stuck one still holds its request.
    assert hanging.in_flight == 1
    assert not run.done()
    assert await run == 4
    for channel in others:
        (sent,) = await deliveries(client, org, channel["id"])
        assert sent["status"] == "sent"
        assert sent["duration_ms"] < 1000

    (item,) = await deliveries(client, org, stuck["id"])
    assert item["status"] == "failed"  # retried later by the job system
    assert item["error"] == "timed out after 2 s"
    assert item["attempt_log"][0]["duration_ms"] >= 2000


async def test_a_channel_disabled_after_queueing_gets_nothing(
    client: httpx.AsyncClient, database: Database, org: Org, clock: FakeClock, worker: Worker
) -> None:
    channel_id = str(org.tenant.alert_channel_id)
    await notify(database, org, clock, channel_ids=[channel_id])
    response = await client.put(
        f"/api/v1/alert-channels/{channel_id}",
        json={"name": "Ops stream", "config": {}, "enabled": False},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    assert await worker.run_until_idle() == 1
    (item,) = await deliveries(client, org, channel_id)
    assert (item["status"], item["error"]) == ("dead", "the channel is disabled")
    # And a disabled channel is left out of new notifications.
    assert await notify(database, org, clock) == []
