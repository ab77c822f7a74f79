"""Order submission benchmark: how long from a kiosk's `POST /api/v1/orders` until the POS
simulator receives the order-creation request, compared in the same run with calling that
endpoint of the simulator directly.

    .venv/bin/python -m bench.orders_bench [--orders 120] [--db sqlite|postgresql] [--pg-url URL]
    .venv/bin/python -m bench.orders_bench --orders 50        # quick
    .venv/bin/python -m bench.orders_bench --db postgresql --scaled   # embedded vs scaled mode

The real path, over real HTTP: `ridgeline serve` (a subprocess, embedded mode, so its worker runs
in the same process) on a migrated scratch database, and the simulator under uvicorn in a thread
of this process, its app wrapped by `OrderTap`, which notes `time.perf_counter()` the moment an
order-creation request reaches the app (Dutchie `/preorder/submit`, Treez `/ticket/detailticket`,
BLAZE `/store/cart/prepare`, Flowhub `/order-ahead/v0/create`) and keeps the request. One store per
dialect, synced from its simulator store; each order is a cart of two lines of one unit.

Orders go one at a time, round-robin over the dialects; after each, a random pause (so an order
lands at a random point of the worker's poll cycle, as a kiosk's would). Per order:
(a) kiosk request -> its 201 answer; (b) kiosk request -> the simulator has the order; then the
floor, (c) the same request replayed by this process straight to the simulator (the adapter's
exact headers and body, with a new reference and key): request start -> the simulator has it,
and its round trip. Run twice: the worker's default `job_poll_interval_s` (what a store gets), then
0.05 s, to show how much of (b) is the worker's poll wait.

Absolute times on a shared 2-core machine are noisy: read the ratios and differences.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy import make_url, select

from bench.fanout_bench import ServerProcess, free_port, wait_ready
from bench.fanout_report import quantile
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.clock import SystemClock
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db import migrate
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import (
    Kiosk,
    KioskApiKey,
    Organization,
    Product,
    ProductVariant,
    Store,
    SyncKind,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.monitoring.logging import configure_logging
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.possim import create_simulator_app
from ridgeline.possim.asgi import Message, Receive, Scope, Send
from ridgeline.sync.service import run_sync

DIALECTS = ("dutchie", "treez", "blaze", "flowhub")
# The request that creates the order at each POS (BLAZE: the cart; the adapter looks for a cart
# of the reference before and submits the cart after).
CREATE_PATHS = (
    "/preorder/submit",
    "/ticket/detailticket",
    "/store/cart/prepare",
    "/order-ahead/v0/create",
)
REFERENCE = re.compile(rb"RL-[A-Z2-7]{10}")
SIM_PRODUCTS = 20
STOCK = 1_000_000  # enough that no order of the run is short
FAST_POLL_S = 0.05
MIN_PAUSE_S = 0.05
WAIT_RECEIVED_S = 30.0
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REPLAY_DROPPED_HEADERS = {"host", "content-length", "connection"}


# --- the simulator, and when it receives an order -------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """An order-creation request as the simulator got it."""

    received_at: float  # perf_counter
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class OrderTap:
    """Pure ASGI around the simulator: notes when each order-creation request arrives, by the
    order reference its body carries. Runs in the simulator's thread; `wait` in the bench's."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.receipts: dict[str, Receipt] = {}
        self.arrived = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._creates_order(scope):
            await self.app(scope, receive, send)
            return
        received_at = time.perf_counter()
        chunks: list[bytes] = []

        async def tapped() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        await self.app(scope, tapped, send)
        body = b"".join(chunks)
        found = REFERENCE.search(body)
        if found is not None:
            headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
            receipt = Receipt(received_at, scope["path"], headers, body)
            self.receipts[found.group().decode()] = receipt
            self.loop.call_soon_threadsafe(self.arrived.set)

    @staticmethod
    def _creates_order(scope: Scope) -> bool:
        return (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and str(scope["path"]).endswith(CREATE_PATHS)
        )

    async def wait(self, reference: str) -> Receipt:
        deadline = time.perf_counter() + WAIT_RECEIVED_S
        while reference not in self.receipts:
            self.arrived.clear()
            if reference in self.receipts:
                break
            left = deadline - time.perf_counter()
            if left <= 0:
                raise RuntimeError(f"the simulator never received order {reference}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)
        return self.receipts.pop(reference)


@contextlib.contextmanager
def serving_simulator(tap_loop: asyncio.AbstractEventLoop) -> Iterator[tuple[str, OrderTap]]:
    tap = OrderTap(create_simulator_app(seed=23), tap_loop)
    config = uvicorn.Config(
        tap, host="127.0.0.1", port=0, log_config=None, access_log=False, ws="none"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="possim", daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", tap
    finally:
        server.should_exit = True
        thread.join(timeout=5)


async def stocked_sim_store(control: httpx.AsyncClient, dialect: str) -> dict[str, Any]:
    """A new simulator store of `dialect` whose every product has `STOCK` units."""
    created = await control.post(
        "/_sim/stores", json={"dialect": dialect, "products": SIM_PRODUCTS}
    )
    created.raise_for_status()
    sim: dict[str, Any] = created.json()
    listed = await control.get(f"/_sim/stores/{sim['id']}/products", params={"limit": 1000})
    listed.raise_for_status()
    for product in listed.json()["products"]:
        changed = await control.patch(
            f"/_sim/stores/{sim['id']}/products/{product['id']}", json={"quantity": STOCK}
        )
        changed.raise_for_status()
    return sim


# --- Ridgeline's side: a kiosk per store, synced from its simulator store -------------------------


@dataclass(frozen=True)
class Shop:
    dialect: str
    kiosk_key: str
    cart: list[dict[str, Any]]  # the items of every order this kiosk places


async def open_shop(
    database: Database, connector: PosConnector, organization_id: uuid.UUID, sim: dict[str, Any]
) -> Shop:
    key = new_kiosk_key()
    async with database.transaction() as session:
        store = Store(organization_id=organization_id, name=f"Bench {sim['dialect']}")
        session.add(store)
        await session.flush()
        kiosk = Kiosk(organization_id=organization_id, store_id=store.id, name="Kiosk 1")
        session.add(kiosk)
        await session.flush()
        session.add(
            KioskApiKey(
                organization_id=organization_id,
                kiosk_id=kiosk.id,
                key_hash=digest(key),
                key_prefix=display_prefix(key),
                created_at=datetime.now(UTC),
            )
        )
        body = StorePosUpdate(provider=sim["dialect"], config=sim["config"])
        await pos_service.configure(
            session,
            TenantScope.everything(),
            store.id,
            body,
            cipher=connector.cipher,
            now=connector.clock.now(),
        )
    for kind in (SyncKind.FULL, SyncKind.INVENTORY):
        run = await run_sync(
            database, connector, store.id, kind, SyncTrigger.OPERATOR, clock=connector.clock
        )
        if run.status not in (SyncStatus.SUCCEEDED, SyncStatus.PARTIALLY_SUCCEEDED):
            raise RuntimeError(f"{sim['dialect']} sync: {run.status}")
    return Shop(sim["dialect"], key, await two_line_cart(database, store.id))


async def two_line_cart(database: Database, store_id: uuid.UUID) -> list[dict[str, Any]]:
    """One unit each of two products a kiosk may order (active, not medical-only, in stock)."""
    async with database.transaction(write=False) as session:
        rows = await session.execute(
            select(Product.id, ProductVariant.id)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(
                Product.store_id == store_id,
                Product.is_active.is_(True),
                Product.is_medical_only.is_(False),
                ProductVariant.quantity_available >= STOCK // 2,
            )
            .order_by(Product.external_id, ProductVariant.position)
        )
        chosen: dict[uuid.UUID, uuid.UUID] = {}
        for product_id, variant_id in rows:
            chosen.setdefault(product_id, variant_id)
    if len(chosen) < 2:
        raise RuntimeError("fewer than two orderable products after the sync")
    return [
        {"product_id": str(product), "variant_id": str(variant), "quantity": 1}
        for product, variant in list(chosen.items())[:2]
    ]


async def open_shops(database_url: str, control: httpx.AsyncClient) -> list[Shop]:
    settings = Settings(env=Environment.TEST, database_url=database_url)
    database = Database(database_url)
    connector = PosConnector(settings, database, SystemClock())
    try:
        async with database.transaction() as session:
            organization = Organization(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
            session.add(organization)
        shops = []
        for dialect in DIALECTS:
            sim = await stocked_sim_store(control, dialect)
            shops.append(await open_shop(database, connector, organization.id, sim))
        return shops
    finally:
        await connector.aclose()
        await database.dispose()


# --- one order through Ridgeline, and the same straight to the simulator --------------------------


@dataclass(frozen=True)
class Sample:
    dialect: str
    answered_s: float  # (a) kiosk request -> 201
    kiosk_received_s: float  # (b) kiosk request -> the simulator has it
    direct_received_s: float  # (c) direct request -> the simulator has it
    direct_round_trip_s: float  # (c) direct request -> its answer


class DirectCalls:
    """The floor: an order-creation request the adapter sent, sent again from this process
    straight to the simulator, on one kept-alive client (as the adapter's is)."""

    def __init__(self, tap: OrderTap, client: httpx.AsyncClient) -> None:
        self.tap = tap
        self.client = client
        self.rng = random.Random(11)

    def new_reference(self) -> str:
        return "RL-" + "".join(self.rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=10))

    async def replay(self, receipt: Receipt, reference: str, order_id: str) -> tuple[float, float]:
        """`receipt`'s request with a new reference and order id (Dutchie's key), so the POS
        makes a new order: (request start -> the simulator has it, round trip)."""
        renames = {reference: self.new_reference(), order_id: str(uuid.uuid4())}
        body = receipt.body
        headers = [(k, v) for k, v in receipt.headers if k not in REPLAY_DROPPED_HEADERS]
        for old, new in renames.items():
            body = body.replace(old.encode(), new.encode())
            headers = [(k, v.replace(old, new)) for k, v in headers]
        began = time.perf_counter()
        answer = await self.client.post(receipt.path, content=body, headers=headers)
        round_trip_s = time.perf_counter() - began
        if answer.status_code >= 300:
            raise RuntimeError(f"direct {receipt.path}: {answer.status_code} {answer.text}")
        received = await self.tap.wait(renames[reference])
        return received.received_at - began, round_trip_s


async def place_order(
    api: httpx.AsyncClient, tap: OrderTap, direct: DirectCalls, shop: Shop
) -> Sample:
    """One kiosk order through Ridgeline, then the same request straight to the simulator."""
    headers = {"Authorization": f"Bearer {shop.kiosk_key}", "Idempotency-Key": uuid.uuid4().hex}
    began = time.perf_counter()
    answer = await api.post("/api/v1/orders", json={"items": shop.cart}, headers=headers)
    answered_s = time.perf_counter() - began
    if answer.status_code != 201:
        raise RuntimeError(f"{shop.dialect} order: {answer.status_code} {answer.text}")
    order = answer.json()["data"]
    receipt = await tap.wait(order["reference"])
    direct_received_s, round_trip_s = await direct.replay(receipt, order["reference"], order["id"])
    return Sample(
        shop.dialect,
        answered_s,
        receipt.received_at - began,
        direct_received_s,
        round_trip_s,
    )


async def run_orders(
    api: httpx.AsyncClient,
    tap: OrderTap,
    direct: DirectCalls,
    shops: list[Shop],
    orders: int,
    poll_interval_s: float,
) -> list[Sample]:
    """`orders` orders, one at a time, round-robin over the shops. Before each, a pause of
    `MIN_PAUSE_S` plus a random part of a poll interval: a kiosk's order lands at a random point
    of the worker's poll cycle, not always just after the poll that ended the last order."""
    rng = random.Random(7)
    samples = []
    for index in range(orders):
        await asyncio.sleep(MIN_PAUSE_S + rng.random() * poll_interval_s)
        samples.append(await place_order(api, tap, direct, shops[index % len(shops)]))
    return samples


@contextlib.asynccontextmanager
async def ridgeline_server(
    database_url: str, workdir: Path, poll_interval_s: float | None
) -> AsyncIterator[httpx.AsyncClient]:
    """`ridgeline serve` (embedded: its worker in the same process) on a free port."""
    async with ridgeline_process(database_url, workdir, poll_interval_s) as (api, _server):
        yield api


@contextlib.asynccontextmanager
async def ridgeline_process(
    database_url: str,
    workdir: Path,
    poll_interval_s: float | None,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[httpx.AsyncClient, ServerProcess]]:
    """`ridgeline_server`, with `extra_env` on top of its environment, and the process itself
    (for its CPU time)."""
    port = free_port()
    env = {**os.environ, "RIDGELINE_DATABASE_URL": database_url}
    env.pop("RIDGELINE_REDIS_URL", None)
    env.pop("RIDGELINE_JOB_POLL_INTERVAL_S", None)
    env.update(
        RIDGELINE_HOST="127.0.0.1",
        RIDGELINE_PORT=str(port),
        RIDGELINE_LOG_LEVEL="WARNING",
        RIDGELINE_LOG_FORMAT="json",
        # Four kiosks ordering back to back (one every ~0.5 s between them) are well over a
        # kiosk's default order budget (30 a minute, burst 10): raised, still counted, so the
        # measured path includes the limit check (docs/benchmarks.md).
        RIDGELINE_API_RATE_LIMIT_KIOSK_ORDER="6000/60s burst 600",
    )
    if poll_interval_s is not None:
        env["RIDGELINE_JOB_POLL_INTERVAL_S"] = str(poll_interval_s)
    env.update(extra_env or {})
    command = [str(Path(sys.executable).with_name("ridgeline")), "serve"]
    role = "server-scaled" if extra_env else "server"
    log = workdir / f"{role}-poll-{poll_interval_s or 'default'}.log"
    server = ServerProcess(command, env, log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as api:
            await wait_ready(api, server)
            yield api, server
    finally:
        server.stop()


# --- report ---------------------------------------------------------------------------------------


def figures(values: list[float]) -> str:
    """p50 / p99 / max in ms."""
    p50, p99, top = (quantile(values, q) * 1000 for q in (0.5, 0.99, 1.0))
    return f"{p50:.1f} / {p99:.1f} / {top:.1f}"


def report(title: str, samples: list[Sample]) -> None:
    """A Markdown table: per dialect, then all orders; each time p50 / p99 / max in ms."""
    print(f"\n{title}\n")
    print(
        "| dialect | N | (a) kiosk -> 201 | (b) kiosk -> POS has it | (c) direct -> POS has it "
        "| (c) direct round trip | (b) - (c), p50 | (b) / (c), p50 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    groups = [(d, [s for s in samples if s.dialect == d]) for d in DIALECTS]
    for name, group in [*groups, ("all", samples)]:
        if not group:
            continue
        kiosk = quantile([s.kiosk_received_s for s in group], 0.5)
        direct = quantile([s.direct_received_s for s in group], 0.5)
        print(
            f"| {name} | {len(group)} | {figures([s.answered_s for s in group])} "
            f"| {figures([s.kiosk_received_s for s in group])} "
            f"| {figures([s.direct_received_s for s in group])} "
            f"| {figures([s.direct_round_trip_s for s in group])} "
            f"| {(kiosk - direct) * 1000:.1f} ms | {kiosk / direct:,.0f}x |"
        )


# --- databases and the run ------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(
    kind: str, pg_admin_url: str, workdir: Path, *, bench: str = "orders"
) -> Iterator[str]:
    """A migrated database for this run: a SQLite file in `workdir`, or a PostgreSQL database
    created on `pg_admin_url`'s server and dropped at the end."""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        migrate.upgrade(url)
        yield url
        return
    admin = make_url(pg_admin_url)
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"ridgeline_{bench}_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def bench(orders: int, database_url: str, workdir: Path) -> None:
    default_poll_s: float = Settings.model_fields["job_poll_interval_s"].default
    with serving_simulator(asyncio.get_running_loop()) as (sim_root, tap):
        async with (
            httpx.AsyncClient(base_url=sim_root, timeout=30) as control,
            httpx.AsyncClient(base_url=sim_root, timeout=30) as client,
        ):
            direct = DirectCalls(tap, client)
            began = time.perf_counter()
            shops = await open_shops(database_url, control)
            print(f"{len(shops)} stores synced in {time.perf_counter() - began:.1f} s", flush=True)
            for poll_s in (None, FAST_POLL_S):
                interval_s = poll_s or default_poll_s
                async with ridgeline_server(database_url, workdir, poll_s) as api:
                    await run_orders(api, tap, direct, shops, len(shops), interval_s)  # warm-up
                    began = time.perf_counter()
                    samples = await run_orders(api, tap, direct, shops, orders, interval_s)
                    took_s = time.perf_counter() - began
                default = " (the default)" if poll_s is None else ""
                report(f"job_poll_interval_s = {interval_s:g}{default}: {took_s:.0f} s", samples)


@contextlib.asynccontextmanager
async def scaled_deployment(
    database_url: str, redis_url: str, workdir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Scaled mode: `ridgeline serve` with Redis and no worker of its own, and a separate
    `ridgeline worker` process, both at the default poll interval. Whatever the API server
    commits reaches the worker through PostgreSQL's NOTIFY, not its poll."""
    scaled_env = {"RIDGELINE_REDIS_URL": redis_url, "RIDGELINE_RUN_WORKER_IN_PROCESS": "false"}
    env = {**os.environ, "RIDGELINE_DATABASE_URL": database_url, **scaled_env}
    env.pop("RIDGELINE_JOB_POLL_INTERVAL_S", None)
    env.update(RIDGELINE_LOG_LEVEL="WARNING", RIDGELINE_LOG_FORMAT="json")
    command = [str(Path(sys.executable).with_name("ridgeline")), "worker"]
    worker = ServerProcess(command, env, workdir / "scaled-worker.log")
    try:
        async with ridgeline_process(database_url, workdir, None, scaled_env) as (api, _server):
            yield api
    finally:
        worker.stop()


async def bench_scaled(
    orders: int, database_urls: tuple[str, str], redis_url: str, workdir: Path
) -> None:
    """Embedded mode and scaled mode running side by side, each on its own database, with
    their orders interleaved (one here, one there), so that whatever else loads the machine
    weighs on both alike; the ratio of their (b) p99s is the figure the deployment guide
    quotes."""
    poll_s: float = Settings.model_fields["job_poll_interval_s"].default
    embedded_url, scaled_url = database_urls
    names = ("embedded (one process)", "scaled (API server + worker process, Redis)")
    results: dict[str, list[Sample]] = {name: [] for name in names}
    with serving_simulator(asyncio.get_running_loop()) as (sim_root, tap):
        async with (
            httpx.AsyncClient(base_url=sim_root, timeout=30) as control,
            httpx.AsyncClient(base_url=sim_root, timeout=30) as client,
            ridgeline_server(embedded_url, workdir, None) as embedded,
            scaled_deployment(scaled_url, redis_url, workdir) as scaled,
        ):
            direct = DirectCalls(tap, client)
            shops = {
                names[0]: await open_shops(embedded_url, control),
                names[1]: await open_shops(scaled_url, control),
            }
            apis = {names[0]: embedded, names[1]: scaled}
            for name in names:  # warm-up
                await run_orders(apis[name], tap, direct, shops[name], len(shops[name]), poll_s)
            rng = random.Random(7)
            for index in range(orders):
                for name in names:
                    await asyncio.sleep(MIN_PAUSE_S + rng.random() * poll_s)
                    shop = shops[name][index % len(shops[name])]
                    results[name].append(await place_order(apis[name], tap, direct, shop))
    for name in names:
        report(f"{name}, job_poll_interval_s = {poll_s:g}", results[name])
    embedded_p99, scaled_p99 = (
        quantile([s.kiosk_received_s for s in results[name]], 0.99) for name in names
    )
    embedded_p50, scaled_p50 = (
        quantile([s.kiosk_received_s for s in results[name]], 0.5) for name in names
    )
    print(
        f"\n(b) scaled / embedded: p50 {scaled_p50 / embedded_p50:.2f}x, "
        f"p99 {scaled_p99 / embedded_p99:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders", type=int, default=120, help="per poll setting, over all dialects"
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-url", default=PG_ADMIN_URL, help="PostgreSQL server (admin URL)")
    parser.add_argument(
        "--scaled",
        action="store_true",
        help="compare embedded mode with scaled mode (PostgreSQL and Redis, worker apart)",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if args.scaled and args.db != "postgresql":
        parser.error("--scaled runs on PostgreSQL: add --db postgresql")
    configure_logging(
        Settings(env=Environment.TEST, log_level="WARNING", log_format=LogFormat.JSON)
    )
    workdir = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    print(f"orders={args.orders} per poll setting, database={args.db}; server logs in {workdir}")
    if args.scaled:
        with (
            scratch_database(args.db, args.pg_url, workdir) as embedded_url,
            scratch_database(args.db, args.pg_url, workdir) as scaled_url,
        ):
            urls = (embedded_url, scaled_url)
            asyncio.run(bench_scaled(args.orders, urls, args.redis_url, workdir))
        return
    with scratch_database(args.db, args.pg_url, workdir) as url:
        asyncio.run(bench(args.orders, url, workdir))


if __name__ == "__main__":
    main()
