"""Fixtures for the POS simulator: an in-process simulator on a fake clock, one small store per
dialect, and a live receiver for pushes. None of these touch the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.possim import Simulator, SimulatorApp, create_simulator_app
from tests.possim.servers import Receiver, running

PRODUCTS = 60


@pytest.fixture
async def sim_app(clock: FakeClock) -> AsyncIterator[SimulatorApp]:
    app = create_simulator_app(seed=1, clock=clock, stores=4, products=PRODUCTS)
    yield app
    await app.simulator.pusher.close()


@pytest.fixture
def sim(sim_app: SimulatorApp) -> Simulator:
    return sim_app.simulator


@pytest.fixture
async def sim_client(sim_app: SimulatorApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sim_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://possim.test") as http:
        yield http


@pytest.fixture
async def stores(sim_client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """The four startup stores' summaries from `GET /_sim/stores`, by dialect."""
    response = await sim_client.get("/_sim/stores")
    assert response.status_code == 200
    return {s["dialect"]: s for s in response.json()["stores"]}


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    async with running(app) as url:
        yield app, url
