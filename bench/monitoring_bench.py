"""Monitoring cost benchmark: the catalog and order paths with the performance monitor, StatsD
and (when available) tracing on, against the same paths with them off, in the same run.

    .venv/bin/python -m bench.monitoring_bench [--db sqlite|postgresql] [--pg-url URL]
        [--products 20000] [--rounds 30] [--repeat 3] [--orders 60] [--no-tracing]
        [--control] [--skip catalog|orders]

Variants: **off** (`performance_monitor=False`, no StatsD sink, no tracing); **on** (the monitor,
and StatsD sending to a UDP socket this process binds and drains in a thread); **traced** (as on,
plus OpenTelemetry tracing exporting over OTLP/HTTP to a local sink that answers 200; only when
`ridgeline.monitoring.tracing` and the `otel` extra are installed, and not `--no-tracing`).
Prometheus metrics are on in every variant (they always are).

Catalog: one seeded store (`bench.catalog_bench.make_store`), an app per monitor setting made by
`create_app` (each with its own engine on the same database, both lifespans running), requests
through httpx `ASGITransport`. StatsD and tracing are process-global, so they are configured before
each round of the variant that has them and turned off before the others; the traced variant
uses the "on" app. A round is one variant doing `--repeat` requests of each kind (first page, a
filtered page, `q=kush`, one product by id); the variants take turns round by round, the one that
goes first rotating, so noise on a shared machine hits them alike. With `--control` a second
app made exactly as "off" takes its turns too: its ratio to "off" is the noise floor. The
monitor's background tasks (event-loop lag every 0.5 s, resources every 5 s, a report written
every 15 s) run in this one process during every variant's rounds: the catalog part measures the
per-request cost; the orders part, one process per variant, measures the whole.

Orders: a `ridgeline serve` process per variant (`bench.orders_bench.ridgeline_process`, embedded
worker, default poll), each on its own scratch database with its own four synced stores (one per
POS dialect) on the one POS simulator of this process; orders go one at a time, the variants
taking turns (`bench.orders_bench.place_order`: the kiosk's POST, until the simulator has it, then
the same request straight to the simulator, the floor). Reported: median kiosk -> 201 and kiosk ->
POS has it per variant, and each server's CPU time over the measured orders.

Absolute times on a shared 2-core machine are noisy: read the ratios to "off".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import text

from bench.catalog_bench import PAGE, make_store
from bench.orders_bench import (
    PG_ADMIN_URL,
    DirectCalls,
    Sample,
    Shop,
    open_shops,
    place_order,
    ridgeline_process,
    scratch_database,
    serving_simulator,
)
from ridgeline.api.middleware import RequestContextMiddleware
from ridgeline.app import create_app
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db.engine import Database
from ridgeline.monitoring import tracing
from ridgeline.monitoring.logging import configure_logging
from ridgeline.monitoring.statsd import configure_statsd

OFF, ON, TRACED = "off", "on", "traced"
# Catalog only, with --control: a second app made exactly as "off" (the noise floor, A/A).
CONTROL = "off again"
CATALOG_KINDS = {
    "first page": f"limit={PAGE}",
    "price 2000-4000, in stock": (
        f"limit={PAGE}&min_price_cents=2000&max_price_cents=4000&in_stock=true"
    ),
    "q=kush": f"limit={PAGE}&q=kush",
    "product by id": "",  # filled in once the first page is known
}
ROUND_TOTAL = "all kinds, per round"


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- where StatsD and the traces go ---------------------------------------------------------------


class StatsdDrain:
    """A UDP socket on loopback, read by a thread so that the sender's buffer never fills."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.datagrams = 0
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drain, name="statsd-drain", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.socket.getsockname()[1]}"

    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.socket.recv(65_535)
            except TimeoutError:
                continue
            self.datagrams += 1
            self.bytes += len(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.socket.close()


class _OtlpHandler(BaseHTTPRequestHandler):
    server: OtlpSink

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.requests += 1
        self.server.bytes += len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class OtlpSink(ThreadingHTTPServer):
    """An OTLP/HTTP collector that accepts every export and keeps only counts."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _OtlpHandler)
        self.requests = 0
        self.bytes = 0
        self._thread = threading.Thread(target=self.serve_forever, name="otlp-sink", daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass
class Sinks:
    statsd: StatsdDrain
    otlp: OtlpSink | None  # None: tracing not measured

    def variants(self) -> list[str]:
        return [OFF, ON] if self.otlp is None else [OFF, ON, TRACED]

    def catalog_variants(self, control: bool) -> list[str]:
        return [OFF, *([CONTROL] if control else []), *self.variants()[1:]]


@contextlib.contextmanager
def sinks(with_tracing: bool) -> Iterator[Sinks]:
    statsd = StatsdDrain()
    otlp = OtlpSink() if with_tracing else None
    try:
        yield Sinks(statsd, otlp)
    finally:
        statsd.close()
        if otlp is not None:
            otlp.close()


def tracing_available() -> bool:
    return tracing.OTEL_INSTALLED and tracing.OTLP_INSTALLED


def switch_process_sinks(variant: str, found: Sinks) -> None:
    """StatsD and tracing are process-global: on for the variants that have them, else off."""
    statsd = found.statsd.address if variant in (ON, TRACED) else None
    endpoint = found.otlp.endpoint if variant == TRACED and found.otlp is not None else None
    settings = Settings(
        env=Environment.TEST, statsd_address=statsd, otel_exporter_otlp_endpoint=endpoint
    )
    configure_statsd(settings)
    if endpoint is None:
        tracing.reset_tracing()
    else:
        tracing.configure_tracing(settings, role="api")


def turns(variants: list[str], index: int) -> list[str]:
    """The variants in the order of round `index`: the first rotates."""
    shift = index % len(variants)
    return variants[shift:] + variants[:shift]


# --- catalog --------------------------------------------------------------------------------------


@dataclass
class Timings:
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, variant: str, kind: str, seconds: float) -> None:
        self.samples.setdefault(variant, {}).setdefault(kind, []).append(seconds)

    def median(self, variant: str, kind: str) -> float:
        return statistics.median(self.samples[variant][kind])


def monitor_of(app: FastAPI) -> Any:
    """The performance monitor `RequestContextMiddleware` feeds (None when off)."""
    layer: Any = app.middleware_stack
    while layer is not None:
        if isinstance(layer, RequestContextMiddleware):
            return layer.monitor
        layer = getattr(layer, "app", None)
    raise RuntimeError("no RequestContextMiddleware in the app")


async def catalog_part(
    database_url: str, products: int, rounds: int, repeat: int, found: Sinks, control: bool
) -> Timings:
    seeding = Database(database_url)
    began = time.perf_counter()
    try:
        _store, key, _variant = await make_store(seeding, products)
        if seeding.dialect_name == "postgresql":
            async with seeding.transaction() as session:
                await session.execute(
                    text("ANALYZE products, product_variants, product_enrichments")
                )
    finally:
        await seeding.dispose()
    out(f"catalog: seeded {products} products in {time.perf_counter() - began:.1f} s")

    def settings(monitor: bool) -> Settings:
        return Settings(
            env=Environment.TEST,
            database_url=database_url,
            log_format=LogFormat.JSON,
            log_level="WARNING",
            run_worker_in_process=False,
            performance_monitor=monitor,
            # One kiosk key reads as fast as it can: over its default budget (docs/benchmarks.md).
            api_rate_limit_kiosk_read="10000000/60s burst 1000000",
        )

    apps = {
        OFF: create_app(settings(False), database=Database(database_url)),
        ON: create_app(settings(True), database=Database(database_url)),
    }
    if control:
        apps[CONTROL] = create_app(settings(False), database=Database(database_url))
    apps[TRACED] = apps[ON]
    kiosk = {"Authorization": f"Bearer {key}"}
    timings = Timings()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for variant in [v for v in apps if v != TRACED]:
            await stack.enter_async_context(
                LifespanManager(apps[variant], startup_timeout=60, shutdown_timeout=60)
            )
            transport = httpx.ASGITransport(app=apps[variant])
            clients[variant] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://bench", headers=kiosk)
            )
        clients[TRACED] = clients[ON]
        first = (await clients[OFF].get(f"/api/v1/catalog?limit={PAGE}")).json()
        paths = {kind: f"/api/v1/catalog?{query}" for kind, query in CATALOG_KINDS.items()}
        paths["product by id"] = f"/api/v1/catalog/products/{first['data'][0]['id']}"

        async def one_round(variant: str, measured: bool) -> None:
            switch_process_sinks(variant, found)
            client = clients[variant]
            round_began = time.perf_counter()
            for kind, path in paths.items():
                for _ in range(repeat):
                    began = time.perf_counter()
                    response = await client.get(path)
                    took = time.perf_counter() - began
                    if response.status_code != 200:
                        raise RuntimeError(f"{path}: {response.status_code} {response.text}")
                    if measured:
                        timings.add(variant, kind, took)
            if measured:
                timings.add(variant, ROUND_TOTAL, time.perf_counter() - round_began)

        variants = found.catalog_variants(control)
        for index in range(2 * len(variants)):  # warm-up: each app builds its catalog index
            for variant in turns(variants, index):
                await one_round(variant, measured=False)
        statsd_before = found.statsd.datagrams
        began = time.perf_counter()
        for index in range(rounds):
            for variant in turns(variants, index):
                await one_round(variant, measured=True)
        took_s = time.perf_counter() - began
        switch_process_sinks(OFF, found)
        observed = monitor_of(apps[ON]).report()["http"]["overall"]["count"]
        if monitor_of(apps[OFF]) is not None or (control and monitor_of(apps[CONTROL])):
            raise RuntimeError("the 'off' app has a performance monitor")
        traces = "" if found.otlp is None else f"; OTLP exports so far {found.otlp.requests}"
        out(
            f"catalog: {rounds} rounds x {len(paths)} kinds x {repeat} in {took_s:.0f} s; "
            f"StatsD datagrams received {found.statsd.datagrams - statsd_before}; "
            f"the 'on' app's monitor holds {observed} requests{traces}"
        )
    return timings


# --- orders ---------------------------------------------------------------------------------------


async def orders_part(
    kind: str, pg_url: str, workdir: Path, orders: int, found: Sinks
) -> tuple[dict[str, list[Sample]], dict[str, float]]:
    variants = found.variants()
    extra_env = {
        OFF: {"RIDGELINE_PERFORMANCE_MONITOR": "false"},
        ON: {
            "RIDGELINE_PERFORMANCE_MONITOR": "true",
            "RIDGELINE_STATSD_ADDRESS": found.statsd.address,
        },
    }
    if found.otlp is not None:
        extra_env[TRACED] = {
            **extra_env[ON],
            "RIDGELINE_OTEL_EXPORTER_OTLP_ENDPOINT": found.otlp.endpoint,
        }
    samples: dict[str, list[Sample]] = {variant: [] for variant in variants}
    cpu_s: dict[str, float] = {}
    with (
        serving_simulator(asyncio.get_running_loop()) as (sim_root, tap),
        contextlib.ExitStack() as databases,
    ):
        urls = {}
        for variant in variants:
            (workdir / variant).mkdir()
            urls[variant] = databases.enter_context(
                scratch_database(kind, pg_url, workdir / variant)
            )
        async with (
            httpx.AsyncClient(base_url=sim_root, timeout=30) as control,
            httpx.AsyncClient(base_url=sim_root, timeout=30) as client,
            contextlib.AsyncExitStack() as servers,
        ):
            direct = DirectCalls(tap, client)
            began = time.perf_counter()
            shops: dict[str, list[Shop]] = {}
            for variant in variants:
                shops[variant] = await open_shops(urls[variant], control)
            out(f"orders: {4 * len(variants)} stores synced in {time.perf_counter() - began:.1f} s")
            running = {}
            for variant in variants:
                running[variant] = await servers.enter_async_context(
                    ridgeline_process(urls[variant], workdir / variant, None, extra_env[variant])
                )

            async def one_turn(index: int, measured: bool) -> None:
                for variant in turns(variants, index):
                    await asyncio.sleep(pause.random() * 0.5)
                    api, _server = running[variant]
                    shop = shops[variant][index % len(shops[variant])]
                    sample = await place_order(api, tap, direct, shop)
                    if measured:
                        samples[variant].append(sample)

            pause = random.Random(7)
            for index in range(4):  # warm-up: one order per store of each variant
                await one_turn(index, measured=False)
            statsd_before = found.statsd.datagrams
            cpu_before = {variant: running[variant][1].cpu_s() for variant in variants}
            began = time.perf_counter()
            for index in range(orders):
                await one_turn(index, measured=True)
            took_s = time.perf_counter() - began
            cpu_s = {v: running[v][1].cpu_s() - cpu_before[v] for v in variants}
            traces = "" if found.otlp is None else f"; OTLP exports so far {found.otlp.requests}"
            out(
                f"orders: {orders} per variant in {took_s:.0f} s; StatsD datagrams received "
                f"{found.statsd.datagrams - statsd_before}{traces}; server logs in {workdir}"
            )
    return samples, cpu_s


# --- report ---------------------------------------------------------------------------------------


def ratio(value: float, base: float) -> str:
    return f"{value / base:.3f}"


def catalog_table(timings: Timings, variants: list[str]) -> list[str]:
    others = variants[1:]
    head = "| catalog request | N per variant | off, median ms | " + " | ".join(
        f"{v}, median ms | {v} / off" for v in others
    )
    lines = [head + " |", "|---" * (3 + 2 * len(others)) + "|"]
    for kind in [*CATALOG_KINDS, ROUND_TOTAL]:
        off = timings.median(OFF, kind)
        cells = [kind, str(len(timings.samples[OFF][kind])), f"{off * 1000:.2f}"]
        for variant in others:
            value = timings.median(variant, kind)
            cells += [f"{value * 1000:.2f}", ratio(value, off)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def orders_table(
    samples: dict[str, list[Sample]], cpu_s: dict[str, float], variants: list[str]
) -> list[str]:
    others = variants[1:]
    head = "| order path | off | " + " | ".join(f"{v} | {v} / off" for v in others)
    lines = [head + " |", "|---" * (2 + 2 * len(others)) + "|"]
    rows: list[tuple[str, Callable[[str], float], float]] = [
        (
            "(a) kiosk -> 201, median ms",
            lambda v: statistics.median(s.answered_s for s in samples[v]),
            1000,
        ),
        (
            "(b) kiosk -> POS has it, median ms",
            lambda v: statistics.median(s.kiosk_received_s for s in samples[v]),
            1000,
        ),
        (
            "(c) floor: direct -> POS has it, median ms",
            lambda v: statistics.median(s.direct_received_s for s in samples[v]),
            1000,
        ),
        (
            "server CPU per order, ms",
            lambda v: cpu_s[v] / len(samples[v]),
            1000,
        ),
    ]
    for name, figure, scale in rows:
        off = figure(OFF)
        cells = [name, f"{off * scale:.1f}"]
        for variant in others:
            value = figure(variant)
            cells += [f"{value * scale:.1f}", ratio(value, off)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


# --- the run --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, workdir: Path, with_tracing: bool) -> list[str]:
    lines: list[str] = []
    with sinks(with_tracing) as found:
        variants = found.variants()
        if args.skip != "catalog":
            with scratch_database(args.db, args.pg_url, workdir) as url:
                timings = await catalog_part(
                    url, args.products, args.rounds, args.repeat, found, args.control
                )
            lines += ["", *catalog_table(timings, found.catalog_variants(args.control))]
        if args.skip != "orders":
            samples, cpu_s = await orders_part(args.db, args.pg_url, workdir, args.orders, found)
            lines += ["", *orders_table(samples, cpu_s, variants)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL server (admin URL)")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=30, help="catalog rounds per variant")
    parser.add_argument("--repeat", type=int, default=3, help="requests of each kind per round")
    parser.add_argument("--orders", type=int, default=60, help="orders per variant")
    parser.add_argument("--no-tracing", action="store_true", help="leave the traced variant out")
    parser.add_argument(
        "--control", action="store_true", help="catalog: a second 'off' app, the noise floor"
    )
    parser.add_argument("--skip", choices=["catalog", "orders"], default=None)
    args = parser.parse_args()
    configure_logging(
        Settings(env=Environment.TEST, log_level="WARNING", log_format=LogFormat.JSON)
    )
    # The "off" server inherits this environment: no StatsD or traces from it.
    os.environ.pop("RIDGELINE_STATSD_ADDRESS", None)
    os.environ.pop("RIDGELINE_OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with_tracing = not args.no_tracing and tracing_available()
    workdir = Path(tempfile.mkdtemp(prefix="monitoring-bench-"))
    out(
        f"database={args.db}; variants: off, on (monitor + StatsD)"
        + (", traced (+ OTLP tracing)" if with_tracing else "; tracing not measured")
    )
    lines = asyncio.run(run(args, workdir, with_tracing))
    for line in lines:
        out(line)


if __name__ == "__main__":
    main()
