"""Fixtures shared by the tests that reach the POS simulator (imported by tests/conftest.py):

- `control`: the simulator over real HTTP for the test module, seeded with `simulator_seed` (a
  folder's conftest or a module overrides the seed when its tests rely on that catalog);
- `connector`: a POS connector on the test clock with few, short retries;
- `harness`: our app and an in-process simulator (seeded with `harness_seed`) reaching each other
  through ASGI transports, so the simulator's pushes arrive at our webhook endpoint and our POS
  calls at the simulator, with a worker on the test clock.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from ridgeline.app import create_app
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import Worker
from ridgeline.pos.client import PosConnector
from ridgeline.possim import create_simulator_app
from ridgeline.resilience import RetryPolicy
from ridgeline.tasks import job_registry, job_services
from tests.net import LateBoundApp
from tests.pos.simulator import serving_simulator


@pytest.fixture(scope="module")
def simulator_seed() -> int:
    return 7


@pytest.fixture(scope="module")
def control(simulator_seed: int) -> Iterator[httpx.Client]:
    with (
        serving_simulator(seed=simulator_seed) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.fixture
async def connector(
    settings: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[PosConnector]:
    # Few, short retries: a fault or an outage must reach the job quickly. FakeClock: retry
    # waits do not sleep.
    policy = RetryPolicy(
        max_attempts=2, base_s=0.1, cap_s=0.5, max_elapsed_s=5, max_retry_after_s=1
    )
    connector = PosConnector(settings, database, clock, rng=random.Random(3), policy=policy)
    yield connector
    await connector.aclose()


@dataclass
class Harness:
    app: FastAPI
    client: httpx.AsyncClient  # ours
    sim: Any  # the simulator's ASGI app
    control: httpx.AsyncClient  # the simulator's control API
    connector: PosConnector
    worker: Worker  # every job handler, on the test clock


@pytest.fixture
def harness_seed() -> int:
    return 11


@pytest.fixture
async def harness(
    settings: Settings, database: Database, clock: FakeClock, harness_seed: int
) -> AsyncIterator[Harness]:
    """Our app and the simulator in this event loop, each reaching the other through an ASGI
    transport; `sim.simulator.pusher.drain()` waits for deliveries without sleeping."""
    ridgeline = LateBoundApp()
    ours = httpx.ASGITransport(app=ridgeline, raise_app_exceptions=False)
    sim = create_simulator_app(seed=harness_seed, clock=clock, push_transport=ours)
    sim_transport = httpx.ASGITransport(app=sim)
    policy = RetryPolicy(max_attempts=2, base_s=0.1, cap_s=0.5, max_elapsed_s=5)
    connector = PosConnector(
        settings,
        database,
        clock,
        rng=random.Random(5),
        transport=sim_transport,
        policy=policy,
    )
    app = ridgeline.bind(
        create_app(settings, database=database, clock=clock, pos_connector=connector)
    )
    worker = Worker(
        database,
        job_registry(),
        clock=clock,
        rng=random.Random(6),
        services=job_services(connector),
        poll_interval_s=0.01,
    )
    async with (
        httpx.AsyncClient(transport=ours, base_url="http://ridgeline") as client,
        httpx.AsyncClient(transport=sim_transport, base_url="http://possim") as control,
    ):
        yield Harness(app, client, sim, control, connector, worker)
    await sim.simulator.pusher.close()
    await connector.aclose()
