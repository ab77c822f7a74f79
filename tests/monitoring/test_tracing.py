"""Traces (docs/monitoring.md#traces): a kiosk's order, its submit job and the POS call form one
trace, carried through the job row; so do an operator's sync, its job, the run and its POS calls.
Spans are read from the SDK's in-memory exporter."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.jobs.queue import enqueue
from ridgeline.models import Job, SyncKind, SyncStatus, SyncTrigger
from ridgeline.monitoring import tracing
from ridgeline.orders.service import SUBMIT_JOB
from ridgeline.pos.client import PosConnector
from ridgeline.sync.repository import SYNC_JOB
from ridgeline.sync.service import run_sync
from ridgeline.tasks import job_registry, job_services
from tests.factories import sign_in
from tests.orders.conftest import PosShop, order_body, orderable, place, pos_shop
from tests.pos.simulator import create_store
from tests.sync.conftest import configure_store

CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def simulator_seed() -> int:
    """The catalog the order tests were written against (tests/orders/conftest.py)."""
    return 17


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    yield memory
    tracing.reset_tracing()


@pytest.fixture
def worker(database: Database, connector: PosConnector, clock: FakeClock) -> Worker:
    return Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(5),
        services=job_services(connector),
        poll_interval_s=0.01,
    )


def named(spans: Sequence[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else int(span.parent.span_id)


async def place_order(client: httpx.AsyncClient, shop: PosShop, database: Database) -> None:
    item = await orderable(database, shop.store)
    body = order_body(
        item.line(1, expected_unit_price_cents=item.price_cents),
        customer_name="Trace Test",
        customer_phone="+15555550100",
    )
    response = await place(client, shop.kiosk, body)
    assert response.status_code == 201, response.text


async def trace_contexts(database: Database, kind: str) -> list[str | None]:
    async with database.transaction(write=False) as session:
        return list(
            (await session.scalars(select(Job.trace_context).where(Job.kind == kind))).all()
        )


async def test_an_order_its_job_and_the_pos_call_are_one_trace(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    settings: Settings,
    exporter: InMemorySpanExporter,
) -> None:
    shop = await pos_shop(database, connector, control, "dutchie")
    assert tracing.configure_tracing(settings, role="embedded", exporter=exporter)
    item = await orderable(database, shop.store)
    body = order_body(
        item.line(1, expected_unit_price_cents=item.price_cents),
        customer_name="Trace Test",
        customer_phone="+15555550100",
    )
    # The kiosk app's own trace continues here.
    caller = {"traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"}
    response = await client.post(
        "/api/v1/orders",
        json=body,
        headers={**shop.kiosk.headers, **caller, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    [context] = await trace_contexts(database, SUBMIT_JOB)
    assert context is not None
    assert context.split("-")[1] == CALLER_TRACE_ID
    assert await worker.run_until_idle() == 1

    spans = exporter.get_finished_spans()
    [request] = named(spans, "POST /api/v1/orders")
    [job] = named(spans, f"job {SUBMIT_JOB}")
    pos_calls = named(spans, "pos dutchie ")
    assert pos_calls
    assert request.kind is SpanKind.SERVER
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/api/v1/orders"
    assert request.attributes["http.response.status_code"] == 201
    assert request.attributes["ridgeline.request_id"] == response.headers["x-request-id"]
    assert f"{trace_id(request):032x}" == CALLER_TRACE_ID
    assert parent_id(request) == int(CALLER_SPAN_ID, 16)
    assert job.kind is SpanKind.CONSUMER
    assert trace_id(job) == trace_id(request)
    assert parent_id(job) == span_id(request)
    assert job.attributes is not None
    assert job.attributes["job.kind"] == SUBMIT_JOB
    assert job.attributes["job.attempt"] == 1
    assert job.status.status_code is StatusCode.UNSET
    for call in pos_calls:
        assert call.kind is SpanKind.CLIENT
        assert trace_id(call) == trace_id(request)
        assert parent_id(call) == span_id(job)
    [submit] = [call for call in pos_calls if call.name == "pos dutchie order_submit"]
    assert submit.attributes is not None
    assert submit.attributes["pos.vendor"] == "dutchie"
    assert submit.attributes["pos.endpoint"] == "order_submit"
    assert submit.attributes["pos.outcome"] == "success"
    assert submit.status.status_code is StatusCode.UNSET


async def test_an_operators_sync_its_job_the_run_and_its_pos_calls_are_one_trace(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    settings: Settings,
    exporter: InMemorySpanExporter,
) -> None:
    store = await configure_store(database, connector, create_store(control, "treez", 8))
    tracing.configure_tracing(settings, exporter=exporter)
    headers = await sign_in(client, store.tenant.admin)
    response = await client.post(
        f"/api/v1/stores/{store.store_id}/sync", json={"kind": "full"}, headers=headers
    )
    assert response.status_code == 202, response.text
    assert await worker.run_until_idle() == 1

    spans = exporter.get_finished_spans()
    [request] = named(spans, "POST /api/v1/stores/{store_id}/sync")
    [job] = named(spans, f"job {SYNC_JOB}")
    [run] = named(spans, "sync full")
    pos_calls = named(spans, "pos treez ")
    assert {call.name for call in pos_calls} >= {"pos treez products"}
    assert parent_id(job) == span_id(request)
    assert parent_id(run) == span_id(job)
    assert run.attributes is not None
    assert run.attributes["sync.status"] == SyncStatus.SUCCEEDED.value
    assert run.attributes["store.id"] == str(store.store_id)
    for call in pos_calls:
        assert parent_id(call) == span_id(run)
    assert {trace_id(span) for span in [request, job, run, *pos_calls]} == {trace_id(request)}


async def test_without_tracing_nothing_is_recorded_and_jobs_carry_no_context(
    client: httpx.AsyncClient,
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    worker: Worker,
    settings: Settings,
    exporter: InMemorySpanExporter,
    clock: FakeClock,
) -> None:
    tracing.configure_tracing(settings, exporter=exporter)
    tracing.reset_tracing()
    assert not tracing.tracing_enabled()
    shop = await pos_shop(database, connector, control, "dutchie")
    await place_order(client, shop, database)
    assert await worker.run_until_idle() == 1
    assert exporter.get_finished_spans() == ()
    assert await trace_contexts(database, SUBMIT_JOB) == [None]
    with tracing.start_span("anything", "internal") as span:
        assert span is None
        assert tracing.current_traceparent() is None
    # Tracing on, but nothing traced is current: a job queued outside any span has no context.
    tracing.configure_tracing(settings, exporter=exporter)
    async with database.transaction() as session:
        await enqueue(session, "tests.untraced", clock=clock)
    assert await trace_contexts(database, "tests.untraced") == [None]


async def test_a_failing_pos_call_and_its_run_are_marked_as_errors(
    database: Database,
    connector: PosConnector,
    control: httpx.Client,
    settings: Settings,
    exporter: InMemorySpanExporter,
) -> None:
    store = await configure_store(database, connector, create_store(control, "dutchie", 8))
    store.sim.add_fault("products", "status", status=503)
    tracing.configure_tracing(settings, exporter=exporter)
    run = await run_sync(
        database,
        connector,
        store.store_id,
        SyncKind.FULL,
        SyncTrigger.OPERATOR,
        clock=connector.clock,
    )
    assert run.status is SyncStatus.FAILED

    spans = exporter.get_finished_spans()
    [sync_span] = named(spans, "sync full")
    calls = named(spans, "pos dutchie products")
    assert calls
    for call in calls:
        assert parent_id(call) == span_id(sync_span)
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes is not None
        assert call.attributes["http.response.status_code"] == 503
        assert [event.name for event in call.events] == ["exception"]
    assert sync_span.status.status_code is StatusCode.ERROR
    assert sync_span.attributes is not None
    assert sync_span.attributes["sync.status"] == SyncStatus.FAILED.value


def test_an_endpoint_without_the_extra_leaves_tracing_off(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    configured = settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:9"})
    monkeypatch.setattr(tracing, "OTEL_INSTALLED", False)
    assert not tracing.configure_tracing(configured)
    assert not tracing.tracing_enabled()


def test_an_endpoint_turns_on_otlp_export(settings: Settings) -> None:
    configured = settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:9"})
    try:
        assert tracing.configure_tracing(configured, role="worker")
        assert tracing.tracing_enabled()
    finally:
        tracing.reset_tracing()
    assert not tracing.configure_tracing(settings)
