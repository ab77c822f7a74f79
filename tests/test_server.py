"""`ridgeline serve` as a real process: it serves over HTTP, and what it committed survives a
SIGKILL and restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import enqueue
from ridgeline.models import Job, JobStatus, Role
from tests.factories import PASSWORD, make_kiosk, make_operator, make_organization, make_store
from tests.net import free_port
from tests.realtime.cable_client import CableClient

STARTUP_TIMEOUT_S = 60.0  # generous: a loaded 2-core CI machine


@contextmanager
def running_server(
    settings: Settings,
    port: int,
    log_path: Path | None = None,
    *,
    extra_env: dict[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "RIDGELINE_DATABASE_URL": settings.database_url,
        "RIDGELINE_ENV": "test",
        "RIDGELINE_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    log = log_path.open("wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(
        [sys.executable, "-m", "ridgeline", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, "server exited during start-up"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if log_path:
            log.close()  # type: ignore[union-attr]


async def test_committed_writes_survive_a_killed_server(
    settings: Settings, database: Database
) -> None:
    admin = await make_operator(database, Role.PLATFORM_ADMIN)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        with running_server(settings, port) as server:
            token = await client.post(
                "/api/v1/auth/token", json={"email": admin.email, "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {token.json()['data']['access_token']}"}
            created = await client.post(
                "/api/v1/organizations", json={"name": "Kept", "slug": "kept"}, headers=headers
            )
            assert created.status_code == 201, created.text
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)
        with running_server(settings, port):
            organization_id = created.json()["data"]["id"]
            again = await client.get(f"/api/v1/organizations/{organization_id}", headers=headers)
            assert again.status_code == 200, again.text
            assert again.json()["data"]["slug"] == "kept"


def test_server_logs_json_with_request_ids_and_stops_cleanly_on_sigterm(
    settings: Settings, tmp_path: Path
) -> None:
    log_path = tmp_path / "server.log"
    port = free_port()
    with running_server(settings, port, log_path) as server:
        traced = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/stores", headers={"X-Request-ID": "trace-7"}
        )
        assert traced.json()["error"]["details"]["request_id"] == "trace-7"
        server.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after its graceful shutdown, so the status is -SIGTERM.
        assert server.wait(timeout=15) in (0, -signal.SIGTERM)
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert "app_stopping" in events
    # Log lines are JSON, and the request's lines carry the id the caller sent.
    finished = [line for line in lines if line["event"] == "http_request_finished"]
    assert any(line["request_id"] == "trace-7" and line["status"] == 401 for line in finished), (
        finished
    )
    assert "Application shutdown complete." in events


async def test_standalone_worker_runs_queued_jobs(settings: Settings, database: Database) -> None:
    """`ridgeline worker --burst` claims what is due, runs it, and exits."""
    clock = SystemClock()
    async with database.transaction() as session:
        job = await enqueue(session, "jobs.purge_succeeded", {}, clock=clock)
    assert job is not None
    env = {**os.environ, "RIDGELINE_DATABASE_URL": settings.database_url, "RIDGELINE_ENV": "test"}
    finished = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ridgeline", "worker", "--burst"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr.decode()
    async with database.transaction(write=False) as session:
        done = await session.get(Job, job.id)
        assert done is not None
        assert done.status is JobStatus.SUCCEEDED


async def test_sigterm_tells_cable_clients_to_reconnect_elsewhere(
    settings: Settings, database: Database
) -> None:
    """A rolling deploy stops a server with SIGTERM: its `/cable` clients are told
    `server_restart` with `reconnect: true` (so they reconnect, through the load balancer, to
    another server) before their sockets close, and the process ends cleanly."""
    organization = await make_organization(database)
    store = await make_store(database, organization)
    _, key, _ = await make_kiosk(database, store)
    port = free_port()
    with running_server(settings, port) as server:
        client = await CableClient.connect(f"http://127.0.0.1:{port}", token=key)
        await client.welcome()
        server.send_signal(signal.SIGTERM)
        frame = await client.receive(wait_s=15)
        assert frame == {"type": "disconnect", "reason": "server_restart", "reconnect": True}
        assert await asyncio.to_thread(server.wait, 15) in (0, -signal.SIGTERM)


def test_a_websocket_whose_client_closed_first_does_not_break_the_shutdown() -> None:
    """uvicorn's shutdown sends close 1012 on each WebSocket; on one the client was already
    closing it raises InvalidState, which ended the process with status 1 (seen in the rolling
    restart behind nginx). Such a connection has its transport closed instead."""
    from websockets.exceptions import InvalidState

    from ridgeline.cli.server import _tolerate_crossed_close

    class Transport:
        closed = False

        def close(self) -> None:
            self.closed = True

    class CrossedConnection:
        def __init__(self) -> None:
            self.transport = Transport()

        def shutdown(self) -> None:
            raise InvalidState("connection is closing")

    class OpenConnection(CrossedConnection):
        def shutdown(self) -> None:
            self.transport.close()

    crossed, open_ = CrossedConnection(), OpenConnection()
    for connection in (crossed, open_):
        _tolerate_crossed_close(connection)
        connection.shutdown()
        assert connection.transport.closed
