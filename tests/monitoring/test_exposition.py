"""Scraping `/metrics`: open on loopback by default, behind a bearer token or on a port of its own
when configured, refused in production when it would be open to the network; and in scaled mode
every process (an API server and a standalone worker) scraped on its own port."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from ridgeline.app import create_app
from ridgeline.clock import FakeClock, SystemClock
from ridgeline.config import Environment, Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from ridgeline.models import Job, JobStatus
from ridgeline.monitoring.exposition import MetricsExposition, MetricsListener
from tests.net import free_port
from tests.test_server import running_server

TOKEN = "scrape-token-0123456789abcdef"
STRONG_SECRET = "s" * 40


def families(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        family.name: [(s.name, s.labels, s.value) for s in family.samples]
        for family in text_string_to_metric_families(text)
    }


@contextmanager
def app_client(app: FastAPI) -> Iterator[httpx.AsyncClient]:
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_metrics_are_open_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "ridgeline_http_requests" in families(response.text)


async def test_a_metrics_token_is_required_when_set(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    app = create_app(
        settings.model_copy(update={"metrics_token": TOKEN}), database=database, clock=clock
    )
    with app_client(app) as client:
        missing = await client.get("/metrics")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "INVALID_TOKEN"
        basic = await client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status_code == 401
        good = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        assert "ridgeline_process_cpu_percent" in families(good.text)


async def test_with_a_metrics_port_the_api_port_does_not_serve_them(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    app = create_app(
        settings.model_copy(update={"metrics_port": 9}), database=database, clock=clock
    )
    with app_client(app) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ROUTE_NOT_FOUND"


async def raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_the_metrics_listener_answers_scrapes_and_refuses_the_rest(
    database: Database,
) -> None:
    exposition = MetricsExposition(database, SystemClock(), token=TOKEN)
    async with MetricsListener(exposition, host="127.0.0.1", port=0).running() as listener:
        base = f"http://127.0.0.1:{listener.port}"
        async with httpx.AsyncClient(base_url=base) as client:
            good = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert good.status_code == 200
            assert good.headers["content-type"].startswith("text/plain")
            assert "ridgeline_process_cpu_percent" in families(good.text)
            refused = await client.get("/metrics")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
            elsewhere = await client.get("/api/v1/stores")
            assert elsewhere.status_code == 404
            assert elsewhere.json()["error"]["code"] == "ROUTE_NOT_FOUND"
            posted = await client.post("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert posted.status_code == 405
        garbage = await raw_request(listener.port, b"\x00\x01 not http at all\r\n\r\n")
        assert garbage.startswith(b"HTTP/1.1 400 ")
        assert b'"code": "BAD_REQUEST"' in garbage
        oversized = await raw_request(
            listener.port, b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 70_000 + b"\r\n\r\n"
        )
        assert oversized.startswith(b"HTTP/1.1 400 ")
        # Still serving after the bad requests.
        async with httpx.AsyncClient(base_url=base) as client:
            again = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            assert again.status_code == 200


def production(**fields: object) -> Settings:
    return Settings.model_validate(
        {
            "env": Environment.PRODUCTION,
            "secret_key": STRONG_SECRET,
            "encryption_keys": ["bm90LXRoZS1kZXZlbG9wbWVudC1rZXktMDAwMDAwMDA="],
            **fields,
        }
    )


def test_production_refuses_metrics_open_to_the_network() -> None:
    with pytest.raises(ValueError, match="RIDGELINE_METRICS_TOKEN"):
        production(host="0.0.0.0")
    assert production(host="127.0.0.1").metrics_token is None
    assert production(host="0.0.0.0", metrics_token=TOKEN).metrics_token == TOKEN
    assert production(host="0.0.0.0", metrics_port=9100).metrics_port == 9100


Scrape = dict[str, list[tuple[str, dict[str, str], float]]]


def scrape(port: int, until: Callable[[Scrape], bool], timeout_s: float = 30.0) -> Scrape:
    """Scrape `port` until `until` holds (the process may still be starting or working)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            response = httpx.get(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=5,
            )
            if response.status_code == 200 and until(found := families(response.text)):
                return found
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the scrape of port {port} never showed it"
        time.sleep(0.2)


def purges_finished(scraped: Scrape) -> dict[str, float]:
    return {
        labels["outcome"]: value
        for name, labels, value in scraped.get("ridgeline_jobs_finished", [])
        if name == "ridgeline_jobs_finished_total" and labels["kind"] == "jobs.purge_succeeded"
    }


@contextmanager
def running_worker(settings: Settings, metrics_port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "RIDGELINE_DATABASE_URL": settings.database_url,
        "RIDGELINE_ENV": "test",
        "RIDGELINE_METRICS_TOKEN": TOKEN,
        "RIDGELINE_JOB_POLL_INTERVAL_S": "0.2",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ridgeline", "worker", "--metrics-port", str(metrics_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


async def test_scaled_mode_every_process_is_scraped_on_its_own_port(
    settings: Settings, database: Database
) -> None:
    """An API server (no embedded worker) and a standalone worker, each with its metrics port:
    the server's scrape has the HTTP requests it answered, the worker's the job it ran, and both
    the fleet gauges from the shared database."""
    api_port, api_metrics, worker_metrics = free_port(), free_port(), free_port()
    api_env = {
        "RIDGELINE_RUN_WORKER_IN_PROCESS": "false",
        "RIDGELINE_METRICS_PORT": str(api_metrics),
        "RIDGELINE_METRICS_TOKEN": TOKEN,
    }
    async with database.transaction() as session:
        job = await enqueue(session, "jobs.purge_succeeded", {}, clock=SystemClock())
    assert job is not None
    with (
        running_server(settings, api_port, extra_env=api_env),
        running_worker(settings, worker_metrics),
    ):
        async with httpx.AsyncClient() as client:
            refused = await client.get(f"http://127.0.0.1:{api_port}/metrics", timeout=5)
        assert refused.status_code == 404
        api = await asyncio.to_thread(
            scrape, api_metrics, lambda found: bool(found.get("ridgeline_http_requests"))
        )
        worker = await asyncio.to_thread(
            scrape, worker_metrics, lambda found: "succeeded" in purges_finished(found)
        )
    served = {labels["route"] for _, labels, _ in api["ridgeline_http_requests"]}
    assert "/readyz" in served
    assert not purges_finished(api)  # the API process ran no job
    # Ours, and perhaps the worker's own scheduled run of the same job.
    assert purges_finished(worker)["succeeded"] >= 1
    assert "ridgeline_http_requests" not in worker or not worker["ridgeline_http_requests"]
    for scraped in (api, worker):
        assert scraped["ridgeline_process_cpu_percent"]
        assert "ridgeline_jobs" in scraped  # a fleet gauge, the same from every process
    async with database.transaction(write=False) as session:
        done = await session.get(Job, job.id)
        assert done is not None
        assert done.status is JobStatus.SUCCEEDED


async def test_a_scrape_answers_when_the_database_does_not() -> None:
    unreachable = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone")
    try:
        exposition = MetricsExposition(unreachable, SystemClock(), token=None)
        with capture_logs() as logs:
            scraped = families((await exposition.payload()).decode())
        assert "ridgeline_process_cpu_percent" in scraped
        assert [line["event"] for line in logs if line["log_level"] == "warning"] == [
            "fleet_metrics_refresh_failed"
        ]
    finally:
        await unreachable.dispose()
