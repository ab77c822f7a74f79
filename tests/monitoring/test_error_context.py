"""Unexpected exceptions are logged once, with their context and a short backtrace, and no
secret reaches a log line: a request's 500, a job handler, a `/cable` command, background loops.

Lines are read as the process writes them: through the formatter `configure_logging` installed
for the session (tests/conftest.py), so the processors under test are the configured ones.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.health import reports
from ridgeline.jobs import JobContext, JobRegistry, Worker, claim
from ridgeline.jobs import worker as worker_module
from ridgeline.models import Job
from ridgeline.monitoring import repository as monitoring_repository
from ridgeline.monitoring.errors import BACKTRACE_FRAMES, backtrace, describe_exception
from ridgeline.monitoring.logging import redact_secrets, redact_text
from ridgeline.monitoring.performance import PerformanceMonitor
from ridgeline.realtime import cable as cable_module
from ridgeline.realtime.cable import CableSession
from ridgeline.realtime.connection import Connection
from tests.factories import bearer, make_tenant
from tests.jobs.factories import add_job
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.conftest import start_server

API_KEY = "sk_live_9f8e7d6c5b4a"
BEARER = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"
DB_PASSWORD = "hunter2-db"
# The message a careless library might raise with: three ways a secret rides in a message.
SECRET_MESSAGE = (
    f"POS refused GET https://pos.example/v1/menu?api_key={API_KEY} "
    f"(Authorization: Bearer {BEARER}) via postgresql://ridgeline:{DB_PASSWORD}@db/ridgeline"
)
SECRETS = (API_KEY, BEARER, DB_PASSWORD)


class LogLines:
    """Every line the process logs while the test runs, parsed from its JSON."""

    def __init__(self, buffer: io.StringIO) -> None:
        self._buffer = buffer

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def all(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def errors(self) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("level") == "error"]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.all() if line.get("event") == event]

    async def wait_for(
        self, event: str, count: int = 1, timeout_s: float = 10.0
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout_s):
            while True:
                if len(lines := self.named(event)) >= count:
                    return lines
                await asyncio.sleep(0.02)

    def assert_no_secret(self) -> None:
        for secret in SECRETS:
            assert secret not in self.text


@pytest.fixture
def log_lines() -> Iterator[LogLines]:
    root = logging.getLogger()
    [formatter] = [
        h.formatter
        for h in root.handlers
        if isinstance(h.formatter, structlog.stdlib.ProcessorFormatter)
    ]
    # The chain under test is the configured one, not one the test assembles.
    assert describe_exception in formatter.processors
    assert redact_secrets in formatter.processors
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    try:
        yield LogLines(buffer)
    finally:
        root.removeHandler(handler)


def assert_backtrace(line: dict[str, Any], *, innermost: str) -> None:
    trace = line["backtrace"]
    assert isinstance(trace, list)
    assert 1 <= len(trace) <= BACKTRACE_FRAMES
    for frame in trace:
        assert isinstance(frame, str)
        path, _, function = frame.partition(" in ")
        assert function
        assert path.rsplit(":", 1)[1].isdigit()
    assert trace[0].endswith(f" in {innermost}")  # the raise site leads


def assert_redacted_error(line: dict[str, Any]) -> None:
    assert line["error_type"] == "RuntimeError"
    assert line["error"].startswith("RuntimeError: POS refused GET")
    assert "api_key=[redacted]" in line["error"]
    assert "(Authorization: Bearer [redacted])" in line["error"]
    assert "ridgeline:[redacted]@db" in line["error"]


def fail_with_secret() -> None:
    raise RuntimeError(SECRET_MESSAGE)


# --- HTTP ----------------------------------------------------------------------------------------


async def test_a_request_that_crashes_logs_one_line_with_its_request_id(
    database: Database,
    client: httpx.AsyncClient,
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def store_status(*args: Any, **kwargs: Any) -> None:
        fail_with_secret()

    tenant = await make_tenant(database)
    monkeypatch.setattr(reports, "store_status", store_status)
    response = await client.get(
        "/api/v1/kiosks/me/store-status",
        headers={**bearer(tenant.kiosk_key), "X-Request-ID": "req-crash-1"},
    )

    assert response.status_code == 500
    body = response.json()
    assert body["error"]["code"] == "INTERNAL_ERROR"
    assert body["error"]["details"]["request_id"] == "req-crash-1"
    assert API_KEY not in response.text  # the caller never sees the message
    [line] = log_lines.errors()
    assert line["event"] == "http_request_crashed"
    assert line["request_id"] == "req-crash-1"
    assert line["path"] == "/api/v1/kiosks/me/store-status"
    assert_redacted_error(line)
    assert_backtrace(line, innermost="fail_with_secret")
    # Then our frames nearest the raise: the endpoint first (framework frames are left out).
    assert line["backtrace"][1].startswith("ridgeline/health/endpoints.py:")
    assert line["backtrace"][1].endswith(" in get_kiosk_store_status")
    assert "exception" not in line  # no full traceback next to the short one
    log_lines.assert_no_secret()
    assert tenant.kiosk_key not in log_lines.text


# --- jobs ----------------------------------------------------------------------------------------


async def test_a_crashing_job_logs_one_line_with_the_job_and_its_store(
    database: Database, clock: FakeClock, log_lines: LogLines
) -> None:
    store_id = str(uuid.uuid4())

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        # The handler's own lines carry the job and store too: bound once by the worker.
        structlog.get_logger("test.handler").info("handler_started")
        fail_with_secret()

    registry = JobRegistry()
    registry.register("test.crash", handle)
    job_id = await add_job(
        database, "test.crash", {"store_id": store_id}, clock=clock, max_attempts=1
    )
    worker = Worker(database, registry, clock=clock, rng=random.Random(1))
    await worker.run_until_idle()

    [started] = log_lines.named("handler_started")
    assert (started["job_id"], started["kind"], started["store_id"]) == (
        str(job_id),
        "test.crash",
        store_id,
    )
    [line] = log_lines.errors()
    assert line["event"] == "job_dead"
    assert (line["job_id"], line["kind"], line["store_id"], line["attempt"]) == (
        str(job_id),
        "test.crash",
        store_id,
        1,
    )
    assert_redacted_error(line)
    assert_backtrace(line, innermost="fail_with_secret")
    # The handler (a test's, so not of our package) is left out; the worker's call of it shows.
    assert line["backtrace"][1].startswith("ridgeline/jobs/worker.py:")
    assert line["backtrace"][1].endswith(" in _call_handler")
    log_lines.assert_no_secret()
    # The job row keeps the failure for operators (the jobs API shows it): masked the same way.
    async with database.transaction(write=False) as session:
        job = await session.get(Job, job_id)
    assert job is not None
    assert job.last_error is not None
    assert job.last_error.startswith("RuntimeError: POS refused GET")
    assert "api_key=[redacted]" in job.last_error
    assert "fail_with_secret" in job.last_error  # the traceback is still there
    for secret in SECRETS:
        assert secret not in job.last_error


async def test_an_unexpected_failure_that_will_retry_is_an_error_too(
    database: Database, clock: FakeClock, log_lines: LogLines
) -> None:
    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        fail_with_secret()

    registry = JobRegistry()
    registry.register("test.crash", handle)
    await add_job(database, "test.crash", {"store_id": str(uuid.uuid4())}, clock=clock)
    worker = Worker(database, registry, clock=clock, rng=random.Random(1))
    await worker.run_until_idle()

    [line] = log_lines.errors()
    assert line["event"] == "job_failed"
    assert "retry_at" in line
    assert_redacted_error(line)
    log_lines.assert_no_secret()


# --- /cable --------------------------------------------------------------------------------------


async def test_a_cable_command_that_crashes_logs_one_line_with_the_connection(
    settings: Settings,
    database: Database,
    clock: FakeClock,
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def perform(
        self: CableSession, connection: Connection, channel: str, data: dict[str, Any]
    ) -> None:
        fail_with_secret()

    monkeypatch.setattr(cable_module.CableSession, "_perform", perform)
    tenant = await make_tenant(database)
    live = await start_server(settings, database, clock)
    try:
        client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
        await client.welcome()
        kiosk_channel = identifier("KioskChannel")
        await client.subscribe(kiosk_channel)
        action = json.dumps({"action": "heartbeat", "app_version": "1.0"})
        await client.send({"command": "message", "identifier": kiosk_channel, "data": action})
        [line] = await log_lines.wait_for("cable_command_failed")
        await log_lines.wait_for("cable_disconnected")  # the connection ended
        await client.close()
    finally:
        await live.stop()

    assert [e["event"] for e in log_lines.errors()] == ["cable_command_failed"]  # uvicorn: quiet
    assert (line["kiosk_id"], line["store_id"], line["organization_id"]) == (
        str(tenant.kiosk.id),
        str(tenant.store.id),
        str(tenant.organization.id),
    )
    assert line["connection_id"]
    assert_redacted_error(line)
    assert_backtrace(line, innermost="fail_with_secret")
    assert line["backtrace"][1].endswith(" in _dispatch")
    log_lines.assert_no_secret()
    assert tenant.kiosk_key not in log_lines.text


async def test_a_cable_connection_that_crashes_is_logged_once_not_again_by_uvicorn(
    settings: Settings,
    database: Database,
    clock: FakeClock,
    log_lines: LogLines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def joined(self: CableSession, connection: Connection) -> None:
        fail_with_secret()

    monkeypatch.setattr(cable_module.CableSession, "_joined", joined)
    tenant = await make_tenant(database)
    live = await start_server(settings, database, clock)
    try:
        client = await CableClient.connect(live.base_url, token=tenant.kiosk_key)
        [line] = await log_lines.wait_for("cable_connection_failed")
        await client.close()
    finally:
        await live.stop()

    assert [e["event"] for e in log_lines.errors()] == ["cable_connection_failed"]
    assert "Exception in ASGI application" not in log_lines.text
    assert (line["kiosk_id"], line["store_id"]) == (str(tenant.kiosk.id), str(tenant.store.id))
    assert_redacted_error(line)
    assert_backtrace(line, innermost="fail_with_secret")
    log_lines.assert_no_secret()


# --- background loops ----------------------------------------------------------------------------


async def test_a_failing_background_loop_logs_each_failure_once_and_goes_on(
    database: Database, clock: FakeClock, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0

    async def upsert_report(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        fail_with_secret()

    monkeypatch.setattr(monitoring_repository, "upsert_report", upsert_report)
    monitor = PerformanceMonitor(database, clock, "api", publish_every_s=0.05)
    async with monitor.running():
        await log_lines.wait_for("performance_report_not_published", count=2)

    lines = log_lines.named("performance_report_not_published")
    assert len(lines) == calls >= 2  # one line per failure, and the loop kept going
    assert log_lines.errors() == lines
    assert lines[0]["process_key"] == monitor.process_key
    assert_redacted_error(lines[0])
    assert_backtrace(lines[0], innermost="fail_with_secret")
    log_lines.assert_no_secret()


async def test_a_failing_worker_poll_is_logged_once_and_the_worker_goes_on(
    database: Database, clock: FakeClock, log_lines: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_claim = claim
    failed = False

    async def claim_once_failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal failed
        if not failed:
            failed = True
            fail_with_secret()
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(worker_module, "claim", claim_once_failing)
    done = asyncio.Event()

    async def handle(ctx: JobContext, payload: dict[str, Any]) -> None:
        done.set()

    registry = JobRegistry()
    registry.register("test.after", handle)
    await add_job(database, "test.after", {}, clock=clock)
    worker = Worker(
        database,
        registry,
        clock=clock,
        rng=random.Random(1),
        worker_id="w-1",
        poll_interval_s=0.01,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.wait_for(done.wait(), 10)  # the next poll claimed the job
    finally:
        stop.set()
        await task

    [line] = log_lines.errors()
    assert (line["event"], line["worker_id"]) == ("worker_poll_failed", "w-1")
    assert_redacted_error(line)
    assert_backtrace(line, innermost="fail_with_secret")
    log_lines.assert_no_secret()


# --- the processors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /cable?token=abc&x=1", "GET /cable?token=[redacted]&x=1"),
        ("?sid=s1", "?sid=[redacted]"),
        ("inside=ok, tokens_left 3", "inside=ok, tokens_left 3"),
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("authorization: BEARER abc", "authorization: BEARER [redacted]"),
        ("redis://:pw@cache:6379/0", "redis://:[redacted]@cache:6379/0"),
        (
            "{'password': 'two words', \"api_key\": \"k\"}",
            "{'password': [redacted], \"api_key\": [redacted]}",
        ),
        (
            "client_secret=abc; webhook signature: 9f8e",
            "client_secret=[redacted]; webhook signature: [redacted]",
        ),
        (
            "[SQL: INSERT ...]\n[parameters: ('hash', 1)]",
            "[SQL: INSERT ...]\n[parameters: [redacted]]",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "[redacted]"),
        ("the token expired", "the token expired"),
    ],
)
def test_secrets_inside_text_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_fields_named_like_secrets_are_masked_at_any_depth() -> None:
    event = {
        "event": "pos_call",
        "password": "p",
        "headers": {"Authorization": "Bearer x", "Accept": "application/json"},
        "stores": [{"api_key": "k", "id": 3}],
        "token_valid": False,
        "process_key": "host:1",
    }
    assert redact_secrets(None, "info", event) == {
        "event": "pos_call",
        "password": "[redacted]",
        "headers": {"Authorization": "[redacted]", "Accept": "application/json"},
        "stores": [{"api_key": "[redacted]", "id": 3}],
        "token_valid": False,
        "process_key": "host:1",
    }


def test_the_backtrace_keeps_the_raise_site_and_our_frames_nearest_it() -> None:
    def library_call(depth: int) -> None:
        if depth == 0:
            fail_with_secret()
        library_call(depth - 1)

    try:
        library_call(8)
    except RuntimeError as error:
        trace = backtrace(error.__traceback__)
    # No frame of the `ridgeline` package in this traceback: the innermost five, innermost first.
    assert len(trace) == BACKTRACE_FRAMES
    assert trace[0].startswith("tests/monitoring/test_error_context.py:")
    assert trace[0].endswith(" in fail_with_secret")
    assert all(frame.endswith(" in library_call") for frame in trace[1:])
