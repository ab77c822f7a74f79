"""Receiving POS webhooks: the store's URL authenticates the POS, an event is stored first and
once, bodies that are not events store nothing, and operators see the events and the URL."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Job, Role, Store
from ridgeline.models.pos_event import PosEvent
from ridgeline.webhooks.service import PROCESS_EVENT_JOB, webhook_token
from tests.assertions import assert_error, data_of
from tests.factories import make_operator, sign_in
from tests.sync.conftest import SyncTenant, make_sync_tenant
from tests.webhooks.conftest import (
    blaze_event,
    configure,
    count,
    hook,
    sync_jobs,
    webhook_runs,
    webhook_worker,
)


async def test_a_redelivered_event_is_stored_once_and_processed_once(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    url = hook(settings, tenant.store.id)
    first = data_of(await client.post(url, json=blaze_event()))
    again = data_of(await client.post(url, json=blaze_event()))
    assert first["duplicate"] is False
    assert again == {"event_id": first["event_id"], "duplicate": True}
    assert await count(database, PosEvent) == 1
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 1

    await webhook_worker(database, clock).run_until_idle()
    async with database.transaction(write=False) as session:
        event = await session.get(PosEvent, uuid.UUID(first["event_id"]))
    assert event is not None
    assert event.processed_at is not None
    assert event.external_id == f"{tenant.store.id}:evt-1"
    assert event.event_type == "UPDATE_PRODUCT"
    assert event.payload == blaze_event()
    # The job read the POS itself (this one is unreachable: the runs failed, and say so).
    assert event.outcome == "incremental synced (failed); inventory synced (failed)"
    assert event.error is not None
    assert "POS_CONNECTION_FAILED" in event.error
    assert await webhook_runs(database) == [("incremental", "failed"), ("inventory", "failed")]
    assert await sync_jobs(database) == []  # no second job

    # Delivered once more after processing: still one row, no new job, no new read.
    assert data_of(await client.post(url, json=blaze_event()))["duplicate"] is True
    await webhook_worker(database, clock).run_until_idle()
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 1
    assert len(await webhook_runs(database)) == 2


async def test_a_wrong_token_or_unknown_store_is_one_401_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    other = await configure(database, app, "blaze")
    unknown = uuid.uuid4()
    attempts = [
        f"/api/v1/pos-webhooks/{tenant.store.id}",  # no token
        hook(settings, tenant.store.id, token=""),
        hook(settings, tenant.store.id, token="0" * 64),
        hook(settings, tenant.store.id, token=webhook_token(settings.secret_key, other.store.id)),
        hook(settings, tenant.store.id, token=webhook_token("another-secret", tenant.store.id)),
        hook(settings, unknown),  # the right token for a store that does not exist
    ]
    bodies = []
    for url in attempts:
        body = assert_error(
            await client.post(url, json=blaze_event()), 401, "INVALID_WEBHOOK_TOKEN"
        )
        body["error"]["details"].pop("request_id")
        bodies.append(body)
    assert all(body == bodies[0] for body in bodies)
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0


async def test_bodies_that_are_not_events_are_refused_and_store_nothing(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    blaze = await configure(database, app, "blaze")
    treez = await configure(database, app, "blaze")
    flowhub = await configure(database, app, "flowhub")
    async with database.transaction() as session:
        store = await session.get(Store, treez.store.id)
        assert store is not None
        store.pos_provider = "treez"  # the endpoint reads only the provider of a Treez store
    cases: list[tuple[SyncTenant, bytes]] = [
        (blaze, b"not json"),
        (blaze, b"\xff\xfe\x00"),
        (blaze, b""),
        (blaze, b"[1, 2]"),
        (blaze, json.dumps(blaze_event(eventId=None)).encode()),
        (blaze, json.dumps(blaze_event(eventId="  ")).encode()),
        (blaze, json.dumps(blaze_event(eventId="x" * 200)).encode()),
        (blaze, json.dumps(blaze_event(webHookType="DELETE_EVERYTHING")).encode()),
        (blaze, json.dumps({k: v for k, v in blaze_event().items() if k != "shopId"}).encode()),
        (treez, json.dumps({"event_type": "PRODUCT", "data": {}}).encode()),
        (treez, json.dumps({"event_type": "INVOICE", "event_id": "e1"}).encode()),
        (flowhub, json.dumps({"orderId": "o-1", "externalId": "RL-1"}).encode()),
        (flowhub, json.dumps({"orderId": ["o-1"], "status": "ready"}).encode()),
    ]
    for tenant, content in cases:
        response = await client.post(
            hook(settings, tenant.store.id),
            content=content,
            headers={"content-type": "application/json"},
        )
        body = assert_error(response, 400, "POS_EVENT_INVALID")
        assert body["error"]["details"]["reason"], content
    too_big = b'{"pad": "' + b"x" * settings.max_body_bytes + b'"}'
    response = await client.post(hook(settings, blaze.store.id), content=too_big)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0

    # Any media type: a POS that labels its JSON otherwise is understood.
    response = await client.post(
        hook(settings, blaze.store.id),
        content=json.dumps(blaze_event()),
        headers={"content-type": "text/plain; charset=utf-8"},
    )
    assert data_of(response)["duplicate"] is False


async def test_a_blaze_event_from_another_shop_is_refused(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    tenant = await configure(database, app, "blaze")
    response = await client.post(
        hook(settings, tenant.store.id), json=blaze_event(shopId="someone-else")
    )
    assert_error(response, 403, "POS_WEBHOOK_SHOP_MISMATCH")
    assert await count(database, PosEvent) == 0
    assert await count(database, Job, Job.kind == PROCESS_EVENT_JOB) == 0


async def test_dutchie_and_a_store_without_pos_have_no_webhooks(
    client: httpx.AsyncClient, app: FastAPI, database: Database, settings: Settings
) -> None:
    dutchie = await configure(database, app, "dutchie")
    bare = await make_sync_tenant(database)
    response = await client.post(hook(settings, dutchie.store.id), json=blaze_event())
    assert_error(response, 409, "POS_WEBHOOKS_UNSUPPORTED")
    response = await client.post(hook(settings, bare.store.id), json=blaze_event())
    assert_error(response, 409, "POS_NOT_CONFIGURED")
    headers = await sign_in(client, dutchie.admin)
    for method in ("GET", "POST"):
        path = f"/api/v1/stores/{dutchie.store.id}/pos/webhooks"
        response = await client.request(method, path, headers=headers)
        assert_error(response, 409, "POS_WEBHOOKS_UNSUPPORTED")
    assert await count(database, PosEvent) == 0


async def test_flowhub_postbacks_are_kept_once_per_order_status(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "flowhub")
    url = hook(settings, tenant.store.id)

    def postback(status: str) -> dict[str, Any]:
        return {"orderId": "o-7", "externalId": "RL-ABC", "status": status, "updatedAt": "x"}

    first = data_of(await client.post(url, json=postback("started")))
    assert data_of(await client.post(url, json=postback("started")))["duplicate"] is True
    clock.advance(1)
    assert data_of(await client.post(url, json=postback("ready")))["duplicate"] is False
    await webhook_worker(database, clock).run_until_idle()
    assert await sync_jobs(database) == []  # order events never touch the catalog
    assert await webhook_runs(database) == []

    headers = await sign_in(client, tenant.admin)
    events = data_of(
        await client.get(f"/api/v1/stores/{tenant.store.id}/pos-events", headers=headers)
    )
    assert [(e["external_id"], e["kind"], e["outcome"]) for e in events] == [
        # o-7 is no order of ours: processed (as an unknown order), not an error.
        (f"{tenant.store.id}:o-7:started", "order", "unknown order"),
        (f"{tenant.store.id}:o-7:ready", "order", "unknown order"),
    ]
    assert [e["error"] for e in events] == [None, None]
    assert events[0]["id"] == first["event_id"]
    assert events[0]["event_type"] == "ORDER_POSTBACK"


async def test_operators_page_the_events_and_filter_by_processed(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    clock: FakeClock,
) -> None:
    tenant = await configure(database, app, "blaze")
    for n in range(3):
        await client.post(hook(settings, tenant.store.id), json=blaze_event(f"e{n}"))
        clock.advance(1)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    headers = await sign_in(client, viewer)
    path = f"/api/v1/stores/{tenant.store.id}/pos-events"
    waiting = data_of(await client.get(path, params={"processed": "false"}, headers=headers))
    assert [e["external_id"].split(":")[1] for e in waiting] == ["e0", "e1", "e2"]
    assert all(e["processed_at"] is None and e["outcome"] is None for e in waiting)

    await webhook_worker(database, clock).run_until_idle()
    assert data_of(await client.get(path, params={"processed": "false"}, headers=headers)) == []
    seen: list[str] = []
    errors: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "processed": "true"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers)
        body = response.json()
        seen += [e["external_id"].split(":")[1] for e in data_of(response)]
        errors += [e["error"] for e in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == ["e0", "e1", "e2"]
    # This POS is unreachable: each event shows its reads failed.
    assert all("POS_CONNECTION_FAILED" in error for error in errors)
    # One read of each kind for the three: the first did them, after all three had arrived.
    async with database.transaction(write=False) as session:
        outcomes = (
            await session.scalars(select(PosEvent.outcome).order_by(PosEvent.received_at))
        ).all()
    shared = "read by a run that started after it (failed)"
    assert (
        list(outcomes)
        == ["incremental synced (failed); inventory synced (failed)"]
        + [f"incremental {shared}; inventory {shared}"] * 2
    )
    assert len(await webhook_runs(database)) == 2
    # The webhook URL is the org admin's: it carries the token.
    response = await client.get(f"/api/v1/stores/{tenant.store.id}/pos/webhooks", headers=headers)
    assert_error(response, 403, "FORBIDDEN")


async def test_the_token_never_reaches_the_logs(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tenant = await configure(database, app, "blaze")
    token = webhook_token(settings.secret_key, tenant.store.id)
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as logs:
        await client.post(hook(settings, tenant.store.id), json=blaze_event())
        await client.post(hook(settings, tenant.store.id, token=token[::-1]), json=blaze_event())
    assert any(line["event"] == "http_request_finished" for line in logs)
    for text in (repr(logs), caplog.text):  # ours, and every library's (httpx logs URLs)
        assert token not in text
        assert token[::-1] not in text
