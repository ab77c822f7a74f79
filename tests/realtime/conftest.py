"""A real Ridgeline server in the test's event loop (uvicorn on a free port), for `/cable`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn
from fastapi import FastAPI

from ridgeline.app import create_app
from ridgeline.cli.server import server_for
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from tests.net import free_port


@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        await asyncio.wait_for(self.task, 15)


async def start_server(settings: Settings, database: Database, clock: FakeClock) -> LiveServer:
    app = create_app(settings, database=database, clock=clock)
    port = free_port()
    server = server_for(app, host="127.0.0.1", port=port)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started:
            break
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    return LiveServer(app, f"http://127.0.0.1:{port}", server, task)


@pytest.fixture
def cable_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cable_ping_interval_s": 0.5, "cable_poll_interval_s": 0.5})


@pytest.fixture
async def live(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[LiveServer]:
    server = await start_server(cable_settings, database, clock)
    try:
        yield server
    finally:
        await server.stop()
