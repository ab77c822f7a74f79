"""StatsD: each timed operation reaches a real UDP listener as the guide names it
(`operation.<name>.duration` in ms and `operation.<name>.count`), with DogStatsD tags when asked;
and a StatsD server that is gone, or never resolved, costs the request nothing."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ridgeline.config import Settings, StatsdTags
from ridgeline.db.engine import Database
from ridgeline.monitoring.statsd import configure_statsd, parse_address
from tests.net import free_port
from tests.test_server import running_server


class UdpListener:
    """A StatsD server stand-in: a bound UDP socket whose datagrams the test reads."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"
        self.lines: list[str] = []

    def receive(self, until: str, timeout_s: float = 10.0) -> list[str]:
        """Every line received until one starting with `until` has come."""
        deadline = time.monotonic() + timeout_s
        while not any(line.startswith(until) for line in self.lines):
            assert time.monotonic() < deadline, f"no {until} among {self.lines}"
            try:
                datagram = self.socket.recv(65_535)
            except TimeoutError:
                continue
            self.lines += datagram.decode().splitlines()
        return self.lines

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[UdpListener]:
    udp = UdpListener()
    yield udp
    udp.close()


@pytest.fixture(autouse=True)
def statsd_off_afterwards(settings: Settings) -> Iterator[None]:
    yield
    configure_statsd(settings.model_copy(update={"statsd_address": None}))


def send_errors() -> float:
    return REGISTRY.get_sample_value("ridgeline_statsd_send_errors_total") or 0.0


def operation_lines(lines: list[str], name: str) -> list[str]:
    return [line for line in lines if line.startswith(f"operation.{name}.")]


async def test_each_request_sends_its_timing_and_count(
    client: httpx.AsyncClient, settings: Settings, listener: UdpListener
) -> None:
    configure_statsd(settings.model_copy(update={"statsd_address": listener.address}))
    assert (await client.get("/healthz")).status_code == 200
    lines = await asyncio.to_thread(listener.receive, "operation.http_request.count")
    duration, count = operation_lines(lines, "http_request")[:2]
    name, _, rest = duration.partition(":")
    assert name == "operation.http_request.duration"
    value, _, kind = rest.partition("|")
    assert kind == "ms"  # plain StatsD: no tags
    assert 0 <= float(value) < 10_000
    assert count == "operation.http_request.count:1|c"


async def test_dogstatsd_tags_carry_the_labels_and_the_prefix_is_applied(
    client: httpx.AsyncClient, settings: Settings, listener: UdpListener
) -> None:
    configure_statsd(
        settings.model_copy(
            update={
                "statsd_address": listener.address,
                "statsd_tags": StatsdTags.DOGSTATSD,
                "statsd_prefix": "ridgeline.",
            }
        )
    )
    assert (await client.get("/healthz")).status_code == 200
    lines = await asyncio.to_thread(listener.receive, "ridgeline.operation.http_request.count")
    count = next(line for line in lines if line.startswith("ridgeline.operation.http_request.c"))
    assert count == "ridgeline.operation.http_request.count:1|c|#route:/healthz,method:GET"


async def test_a_statsd_server_that_is_gone_costs_the_request_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    silent = free_port()  # nothing listens there: the kernel answers port unreachable
    configure_statsd(settings.model_copy(update={"statsd_address": f"127.0.0.1:{silent}"}))
    for _ in range(20):
        assert (await client.get("/healthz")).status_code == 200


async def test_an_address_that_does_not_resolve_is_logged_and_not_used(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    before = send_errors()
    configure_statsd(settings.model_copy(update={"statsd_address": "statsd.invalid:8125"}))
    assert send_errors() == before + 1
    assert (await client.get("/healthz")).status_code == 200


def test_addresses_are_validated() -> None:
    assert parse_address("127.0.0.1:8125") == ("127.0.0.1", 8125)
    assert parse_address("[::1]:8125") == ("::1", 8125)
    assert Settings(statsd_address="statsd.internal:8125").statsd_address == "statsd.internal:8125"
    for bad in ("statsd", "statsd:", "statsd:port", "udp://statsd:8125", "a b:1"):
        with pytest.raises(ValidationError):
            Settings(statsd_address=bad)
    with pytest.raises(ValidationError):
        Settings(statsd_tags="influx")


def test_a_served_process_sends_to_the_configured_address(
    settings: Settings, database: Database, listener: UdpListener
) -> None:
    """`ridgeline serve` reads RIDGELINE_STATSD_ADDRESS itself: no code beyond the setting."""
    statsd = {"RIDGELINE_STATSD_ADDRESS": listener.address, "RIDGELINE_STATSD_TAGS": "dogstatsd"}
    with running_server(settings, free_port(), extra_env=statsd):
        lines = listener.receive("operation.http_request.count")
        assert "operation.http_request.count:1|c|#route:/readyz,method:GET" in lines
