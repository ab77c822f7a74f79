"""Chaos run of the order pipeline: many kiosks place orders over real HTTP with a real
`ridgeline serve` process, against the POS simulator (its own process) injecting faults of every
class into the order endpoints, while the server is killed with SIGKILL and started again.

With `--scaled` (PostgreSQL only) the pipeline is scaled mode as deployed: nginx in front of two
`ridgeline serve` processes and two `ridgeline worker` processes on a private Redis; a server and
a worker are each SIGKILLed and restarted `--kills` times, and Redis once (bench/chaos_pipeline.py).

Afterwards, with the faults removed and the pipeline given time to settle, it checks that every
order a kiosk was told was accepted exists exactly once here and exactly once at the POS (none
if it ended rejected, failed or cancelled), that none is lost, that nothing is left `received`
or `queued`, and that the POS holds no order that is not ours.

    python -m bench.chaos [--orders 1000] [--dialect all] [--db sqlite] [--kiosks 20]
                          [--fault-rate 0.3] [--seed 7] [--kills 4] [--scaled]

`run_chaos` is the same run for tests (tests/orders/test_chaos.py runs a light one). The exit
status is non-zero when an invariant fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.chaos_pipeline import (
    EmbeddedPipeline,
    Pipeline,
    Process,
    Progress,
    ScaledPipeline,
    clean_env,
    free_port,
)
from ridgeline.auth import kiosk_keys
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.cli.admin import SYSTEM
from ridgeline.clock import SystemClock
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db import migrate
from ridgeline.db.engine import Database
from ridgeline.models import Order, Organization, Product, ProductVariant, Store
from ridgeline.models.job import Job, JobStatus
from ridgeline.models.order import IdempotencyKey, OrderStatus
from ridgeline.models.stream import StreamMessage
from ridgeline.models.sync import SyncKind, SyncStatus, SyncTrigger
from ridgeline.monitoring.logging import configure_logging
from ridgeline.orders.service import SUBMIT_JOB
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.schemas import StorePosUpdate
from ridgeline.possim.model import Dialect
from ridgeline.possim.orders import FLOWS
from ridgeline.realtime import streams
from ridgeline.stores import service as stores_service
from ridgeline.stores.schemas import KioskCreate
from ridgeline.sync.service import run_sync

DIALECTS = ("dutchie", "treez", "blaze", "flowhub")
PG_ADMIN_URL = os.environ.get(
    "RIDGELINE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)

# The order endpoint classes that get faults, and the fault kinds spread over them.
ORDER_ENDPOINTS = ("order_submit", "order_lookup", "order_status", "order_cancel")
FAULT_KINDS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("timeout", {}),  # latency_ms set from the POS timeout
    ("reset", {}),
    ("status", {"status": 500}),
    ("status", {"status": 502}),
    ("status", {"status": 503}),
    ("rate_limit", {"retry_after_s": 0.5}),
    ("drop_response_after_accept", {}),
)
POS_TIMEOUT_S = 1.5
POS_CONNECT_TIMEOUT_S = 1.0
TIMEOUT_HOLD_MS = int(POS_TIMEOUT_S * 1000) + 1000

TERMINAL = frozenset({"rejected", "failed", "cancelled", "completed"})
PROGRESSING = frozenset({"submitted", "accepted", "ready"})
UNSETTLED = frozenset({"received", "queued"})
DEAD_AT_POS = frozenset({"rejected", "failed", "cancelled"})

KIOSK_REQUEST_TIMEOUT_S = 30.0
# A kiosk gives up on a key (and the run fails) only after this long without a definitive
# answer: well past the 60 s after which a key left in flight by a killed server is taken over.
KIOSK_KEY_PATIENCE_S = 240.0


@dataclass
class ChaosConfig:
    orders_per_dialect: int = 1000
    dialects: Sequence[str] = DIALECTS
    db: str = "sqlite"  # sqlite | postgresql; ignored when database_url is given
    database_url: str | None = None  # an existing, migrated database (tests pass theirs)
    kiosks_per_store: int = 20
    fault_rate: float = 0.3
    seed: int = 7
    # SIGKILLs of the server (scaled: of a server, and as many of a worker), spread over the
    # first `kill_window` of the orders.
    kills: int = 4
    kill_window: float = 0.5
    cancel_rate: float = 0.05  # orders the kiosk cancels right after placing them
    products: int = 40
    # After the kiosks are done the faults stay on until every order has been tried at the
    # POS at least once (or this long), so that the POS calls meet them too.
    fault_phase_timeout_s: float = 600.0
    settle_timeout_s: float = 600.0
    worker_concurrency: int = 8  # per worker
    # Scaled mode (PostgreSQL only): nginx, two servers, two workers, Redis (restarted once).
    scaled: bool = False
    work_dir: Path | None = None  # logs and the SQLite file; a temporary directory if None
    log: Callable[[str], None] = field(default=lambda line: print(line, flush=True))


@dataclass
class KeyOutcome:
    """One idempotency key as its kiosk saw it."""

    dialect: str
    kiosk_id: str
    key: str
    status: int | None = None  # the definitive answer (None: never got one)
    code: str | None = None
    order_id: str | None = None
    replayed: bool = False
    retries: int = 0
    cancel: str | None = None  # "cancelled", "refused", "unconfirmed" when a cancel was tried


@dataclass
class DialectReport:
    dialect: str
    keys: int = 0
    accepted: int = 0  # 201/200 answers
    replays: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # definitive 4xx by code
    no_answer: int = 0
    kiosk_retries: int = 0
    cancels: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    orders_in_db: int = 0
    pos_orders: int = 0
    pos_live_orders: int = 0
    duplicates: int = 0  # references with more than one POS order
    order_requests: int = 0  # requests to the order endpoint classes at the POS
    fault_hits: Counter[str] = field(default_factory=Counter)
    # The store's breaker transitions to OPEN by the end of the fault phase, by reason.
    breaker_openings: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return sum(self.fault_hits.values())

    @property
    def fault_rate(self) -> float:
        return self.faults / self.order_requests if self.order_requests else 0.0


@dataclass
class ChaosReport:
    dialects: list[DialectReport]
    kills: int  # of a server
    wall_s: float
    placing_s: float
    settle_s: float
    fault_phase_s: float = 0.0  # after placing, until every order was tried (or the cap)
    untried_at_fault_end: int = 0  # orders never tried at the POS when the faults went
    problems: list[str] = field(default_factory=list)
    scaled: bool = False
    worker_kills: int = 0
    redis_restarts: int = 0
    # 5xx answers through nginx by status (502: a server died with the request); scaled only.
    proxy_errors: Counter[int] = field(default_factory=Counter)

    @property
    def all_problems(self) -> list[str]:
        return self.problems + [f"{d.dialect}: {p}" for d in self.dialects for p in d.problems]

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def table(self) -> str:
        kinds = sorted({k for d in self.dialects for k in d.fault_hits})
        rows = [
            ("orders (keys)", [str(d.keys) for d in self.dialects]),
            ("accepted (2xx)", [str(d.accepted) for d in self.dialects]),
            ("  of which replays", [str(d.replays) for d in self.dialects]),
            ("refused (4xx)", [_counts(d.refused) for d in self.dialects]),
            ("no answer", [str(d.no_answer) for d in self.dialects]),
            ("kiosk retries", [str(d.kiosk_retries) for d in self.dialects]),
            ("cancels tried", [_counts(d.cancels) for d in self.dialects]),
            ("orders in our db", [str(d.orders_in_db) for d in self.dialects]),
        ]
        statuses = sorted({s for d in self.dialects for s in d.statuses})
        rows += [(f"  {s}", [str(d.statuses[s]) for d in self.dialects]) for s in statuses]
        rows += [
            ("POS orders", [str(d.pos_orders) for d in self.dialects]),
            ("  live at the POS", [str(d.pos_live_orders) for d in self.dialects]),
            ("duplicates at the POS", [str(d.duplicates) for d in self.dialects]),
            ("POS order-endpoint requests", [str(d.order_requests) for d in self.dialects]),
            ("faults injected", [f"{d.faults} ({d.fault_rate:.1%})" for d in self.dialects]),
        ]
        rows += [(f"  {k}", [str(d.fault_hits[k]) for d in self.dialects]) for k in kinds]
        rows.append(("breaker openings", [str(d.breaker_openings.total()) for d in self.dialects]))
        reasons = sorted({r for d in self.dialects for r in d.breaker_openings})
        rows += [(f"  {r}", [str(d.breaker_openings[r]) for d in self.dialects]) for r in reasons]
        rows.append(("problems", [str(len(d.problems)) for d in self.dialects]))
        header = ("", [d.dialect for d in self.dialects])
        width = max(len(name) for name, _ in [header, *rows])
        cols = [
            max(len(values[i]) for _, values in [header, *rows]) for i in range(len(self.dialects))
        ]
        lines = [
            "  ".join([name.ljust(width), *(v.rjust(c) for v, c in zip(values, cols, strict=True))])
            for name, values in [header, *rows]
        ]
        total = sum(d.keys for d in self.dialects)
        share = self.untried_at_fault_end / total if total else 0.0
        lines.append(
            f"untried when the faults went: {self.untried_at_fault_end} of {total} "
            f"({share:.1%}); breaker openings: "
            f"{sum(d.breaker_openings.total() for d in self.dialects)}"
        )
        disruptions = f"server kills: {self.kills}"
        if self.scaled:
            disruptions = (
                f"scaled (nginx, 2 servers, 2 workers, Redis): {disruptions}, worker kills: "
                f"{self.worker_kills}, Redis restarts: {self.redis_restarts}; 5xx through "
                f"nginx: {_counts(Counter({str(k): v for k, v in self.proxy_errors.items()}))}"
            )
        lines.append(
            f"{disruptions}; placing {self.placing_s:.1f} s, fault phase "
            f"{self.fault_phase_s:.1f} s, settling {self.settle_s:.1f} s, wall {self.wall_s:.1f} s"
        )
        return "\n".join(lines)


def _counts(counter: Counter[str]) -> str:
    return ",".join(f"{k}:{v}" for k, v in sorted(counter.items())) or "0"


def per_fault_probability(rate: float, kinds: int) -> float:
    """Each of `kinds` faults drawn one after another with this probability fails a request
    with probability `rate` in all."""
    if rate <= 0:
        return 0.0
    return float(1.0 - (1.0 - min(rate, 0.99)) ** (1.0 / kinds))


# --- set-up --------------------------------------------------------------------------------------


@dataclass
class KioskCreds:
    kiosk_id: str
    key: str


@dataclass
class Line:
    product_id: str
    variant_id: str


@dataclass
class ChaosStore:
    dialect: str
    sim_id: str
    store_id: uuid.UUID
    kiosks: list[KioskCreds]
    lines: list[Line]


async def create_sim_store(
    control: httpx.AsyncClient, dialect: str, products: int
) -> dict[str, Any]:
    response = await control.post("/_sim/stores", json={"dialect": dialect, "products": products})
    response.raise_for_status()
    store: dict[str, Any] = response.json()
    listing = await control.get(f"/_sim/stores/{store['id']}/products", params={"limit": 100_000})
    listing.raise_for_status()
    # Plenty of stock, everything for sale: the POS refuses nothing for business reasons.
    for product in listing.json()["products"]:
        changed = await control.patch(
            f"/_sim/stores/{store['id']}/products/{product['id']}",
            json={"quantity": 1_000_000, "active": True},
        )
        changed.raise_for_status()
    return store


async def set_up_store(
    database: Database,
    connector: PosConnector,
    organization: Organization,
    sim_store: dict[str, Any],
    kiosks: int,
) -> ChaosStore:
    dialect = str(sim_store["dialect"])
    now = SystemClock().now()
    creds: list[KioskCreds] = []
    async with database.transaction() as session:
        store = Store(
            organization_id=organization.id,
            name=f"Chaos {dialect} {uuid.uuid4().hex[:6]}",
            timezone="America/Denver",
        )
        session.add(store)
        await session.flush()
        config = {
            **sim_store["config"],
            "timeout_s": POS_TIMEOUT_S,
            "connect_timeout_s": POS_CONNECT_TIMEOUT_S,
        }
        await pos_service.configure(
            session,
            SYSTEM.scope,
            store.id,
            StorePosUpdate(provider=dialect, config=config),
            cipher=connector.cipher,
            now=now,
        )
        for n in range(kiosks):
            kiosk = await stores_service.create_kiosk(
                session, SYSTEM.scope, KioskCreate(store_id=store.id, name=f"Kiosk {n + 1}")
            )
            issued = await kiosk_keys.issue_key(
                session, SYSTEM.scope, kiosk.id, KioskKeyCreate(), now=now
            )
            creds.append(KioskCreds(str(kiosk.id), issued.key))
    for kind in (SyncKind.FULL, SyncKind.INVENTORY):
        run = await run_sync(
            database, connector, store.id, kind, SyncTrigger.OPERATOR, clock=connector.clock
        )
        if run.status not in (SyncStatus.SUCCEEDED, SyncStatus.PARTIALLY_SUCCEEDED):
            raise RuntimeError(f"the {kind} sync of the {dialect} store failed: {run.status}")
    async with database.transaction(write=False) as session:
        rows = await session.execute(
            select(Product.id, ProductVariant.id)
            .join(ProductVariant, ProductVariant.product_id == Product.id)
            .where(
                Product.store_id == store.id,
                Product.is_active.is_(True),
                Product.is_medical_only.is_(False),
                ProductVariant.quantity_available >= 1000,
            )
            .order_by(Product.external_id, ProductVariant.position)
        )
        lines = [Line(str(p), str(v)) for p, v in rows.all()]
    if len(lines) < 3:
        raise RuntimeError(f"the {dialect} store has only {len(lines)} orderable variants")
    return ChaosStore(dialect, str(sim_store["id"]), store.id, creds, lines)


async def add_faults(control: httpx.AsyncClient, sim_id: str, rate: float) -> None:
    probability = per_fault_probability(rate, len(FAULT_KINDS))
    for endpoint in ORDER_ENDPOINTS:
        for kind, options in FAULT_KINDS:
            body: dict[str, Any] = {
                "endpoint": endpoint,
                "kind": kind,
                "probability": probability,
                **options,
            }
            if kind == "timeout":
                body["latency_ms"] = TIMEOUT_HOLD_MS
            response = await control.post(f"/_sim/stores/{sim_id}/faults", json=body)
            response.raise_for_status()


async def fault_hits(control: httpx.AsyncClient, sim_id: str) -> Counter[str]:
    """Faults injected so far by kind (a status fault by kind and status)."""
    response = await control.get(f"/_sim/stores/{sim_id}/faults")
    response.raise_for_status()
    hits: Counter[str] = Counter()
    for fault in response.json()["faults"]:
        kind = str(fault["kind"])
        hits[f"{kind}:{fault['status']}" if kind == "status" else kind] += int(fault["hits"])
    return hits


async def order_requests(control: httpx.AsyncClient, sim_id: str) -> int:
    """Requests to the order endpoint classes so far (the simulator counts every one)."""
    response = await control.get(f"/_sim/stores/{sim_id}/requests", params={"limit": 1})
    response.raise_for_status()
    totals = response.json().get("totals", {})
    return sum(int(totals.get(endpoint, 0)) for endpoint in ORDER_ENDPOINTS)


# --- kiosks --------------------------------------------------------------------------------------


async def _retry_pause(attempt: int, rng: random.Random) -> None:
    await asyncio.sleep(rng.uniform(0.05, min(2.0, 0.1 * 2**attempt)))


async def place_one(
    http: httpx.AsyncClient,
    store: ChaosStore,
    kiosk: KioskCreds,
    rng: random.Random,
    *,
    cancel: bool,
) -> KeyOutcome:
    """One order as a real kiosk places it: the same key until a definitive answer."""
    key = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    outcome = KeyOutcome(store.dialect, kiosk.kiosk_id, key)
    chosen = rng.sample(store.lines, k=rng.randint(1, min(3, len(store.lines))))
    body = {
        "items": [
            {
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "quantity": rng.randint(1, 2),
            }
            for line in chosen
        ],
        "customer_name": f"Chaos {key[:8]}",
    }
    headers = {"Authorization": f"Bearer {kiosk.key}", "Idempotency-Key": key}
    began = time.monotonic()
    attempt = 0
    while True:
        try:
            response = await http.post("/api/v1/orders", json=body, headers=headers)
        except httpx.TransportError:
            response = None
        if response is not None:
            code = _error_code(response)
            definitive = response.status_code < 500 and response.status_code != 429
            if code == "IDEMPOTENCY_KEY_IN_USE":
                definitive = False
            if definitive:
                outcome.status = response.status_code
                outcome.code = code
                outcome.replayed = response.headers.get("Idempotent-Replayed") == "true"
                if response.status_code in (200, 201):
                    outcome.order_id = str(response.json()["data"]["id"])
                break
        if time.monotonic() - began > KIOSK_KEY_PATIENCE_S:
            break
        attempt += 1
        outcome.retries += 1
        await _retry_pause(attempt, rng)
    if cancel and outcome.order_id is not None:
        outcome.cancel = await cancel_one(http, headers, outcome.order_id, rng)
    return outcome


async def cancel_one(
    http: httpx.AsyncClient, headers: dict[str, str], order_id: str, rng: random.Random
) -> str:
    """A kiosk cancelling; a few tries, then it gives up (the order then goes on)."""
    auth = {"Authorization": headers["Authorization"]}
    for attempt in range(5):
        with contextlib.suppress(httpx.TransportError):
            response = await http.post(f"/api/v1/orders/{order_id}/cancel", headers=auth)
            if response.status_code == 200:
                return "cancelled"
            if response.status_code == 409:
                return "refused"
        await _retry_pause(attempt + 1, rng)
    return "unconfirmed"


def _error_code(response: httpx.Response) -> str | None:
    if response.status_code < 400:
        return None
    with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
        return str(response.json()["error"]["code"])
    return f"HTTP_{response.status_code}"


async def run_kiosks(
    base_url: str,
    stores: list[ChaosStore],
    orders_per_store: int,
    config: ChaosConfig,
    progress: Progress,
) -> list[KeyOutcome]:
    outcomes: list[KeyOutcome] = []
    total_kiosks = sum(len(s.kiosks) for s in stores)
    limits = httpx.Limits(max_connections=total_kiosks + 8, max_keepalive_connections=total_kiosks)
    timeout = httpx.Timeout(KIOSK_REQUEST_TIMEOUT_S, connect=2.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as http:

        async def kiosk_loop(
            store: ChaosStore, kiosk: KioskCreds, work: asyncio.Queue[int]
        ) -> None:
            rng = random.Random(f"{config.seed}:{kiosk.kiosk_id}")
            while True:
                try:
                    work.get_nowait()
                except asyncio.QueueEmpty:
                    return
                cancel = rng.random() < config.cancel_rate
                outcome = await place_one(http, store, kiosk, rng, cancel=cancel)
                outcomes.append(outcome)
                progress.tick()
                await asyncio.sleep(rng.uniform(0, 0.05))

        tasks = []
        for store in stores:
            work: asyncio.Queue[int] = asyncio.Queue()
            for n in range(orders_per_store):
                work.put_nowait(n)
            tasks += [asyncio.create_task(kiosk_loop(store, k, work)) for k in store.kiosks]
        await asyncio.gather(*tasks)
    return outcomes


# --- settling and checks -------------------------------------------------------------------------


async def breaker_openings(
    database: Database, organization_id: uuid.UUID
) -> dict[uuid.UUID, Counter[str]]:
    """Each store's breaker transitions to OPEN so far, by reason, read from the operators'
    stream (one event per transition, committed with it: reliability.md point 5)."""
    async with database.transaction(write=False) as session:
        payloads = (
            await session.scalars(
                select(StreamMessage.payload).where(
                    StreamMessage.stream_id == streams.ops_stream(organization_id)
                )
            )
        ).all()
    openings: dict[uuid.UUID, Counter[str]] = {}
    for payload in payloads:
        data = payload.get("data") or {}
        change = data.get("circuit_breaker") if payload.get("type") == "store.status" else None
        if change and change.get("to") == "open":
            store_openings = openings.setdefault(uuid.UUID(str(data["store_id"])), Counter())
            store_openings[str(change.get("reason"))] += 1
    return openings


async def unsettled(database: Database, store_ids: Iterable[uuid.UUID]) -> list[str]:
    """Orders not yet in a settled state, and submission jobs still to run."""
    ids = list(store_ids)
    async with database.transaction(write=False) as session:
        rows = await session.execute(
            select(Order.reference, Order.status, Order.submit_attempts, Order.failure_reason)
            .where(Order.store_id.in_(ids), Order.status.in_([OrderStatus(s) for s in UNSETTLED]))
            .order_by(Order.created_at)
        )
        waiting = [
            f"{ref} {status.value} attempts={attempts} reason={reason}"
            for ref, status, attempts, reason in rows.all()
        ]
        jobs = await session.scalar(
            select(func.count())
            .select_from(Job)
            .where(
                Job.kind == SUBMIT_JOB,
                Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED]),
            )
        )
    if jobs:
        waiting.append(f"{jobs} {SUBMIT_JOB} jobs still queued, running or to retry")
    return waiting


async def until_tried(
    database: Database, store_ids: list[uuid.UUID], timeout_s: float, log: Callable[[str], None]
) -> int:
    """Waits until no order is still waiting for its first submission attempt; returns how many
    still are when `timeout_s` ran out."""
    deadline = time.monotonic() + timeout_s
    last_report = time.monotonic()
    while True:
        async with database.transaction(write=False) as session:
            untried = int(
                await session.scalar(
                    select(func.count())
                    .select_from(Order)
                    .where(
                        Order.store_id.in_(store_ids),
                        Order.submit_attempts == 0,
                        Order.status.in_([OrderStatus(s) for s in UNSETTLED]),
                    )
                )
                or 0
            )
        if untried == 0 or time.monotonic() > deadline:
            return untried
        if time.monotonic() - last_report > 15:
            log(f"  under faults: {untried} order(s) not yet tried at the POS")
            last_report = time.monotonic()
        await asyncio.sleep(1)


async def settle(
    database: Database, store_ids: list[uuid.UUID], timeout_s: float, log: Callable[[str], None]
) -> list[str]:
    deadline = time.monotonic() + timeout_s
    last_report = 0.0
    while True:
        waiting = await unsettled(database, store_ids)
        if not waiting:
            return []
        if time.monotonic() > deadline:
            return waiting
        if time.monotonic() - last_report > 15:
            log(f"  settling: {len(waiting)} waiting, e.g. {waiting[0]}")
            last_report = time.monotonic()
        await asyncio.sleep(0.5)


async def check_store(
    database: Database,
    control: httpx.AsyncClient,
    store: ChaosStore,
    outcomes: list[KeyOutcome],
    report: DialectReport,
) -> None:
    problems = report.problems
    dead_at_pos = FLOWS[Dialect(store.dialect)].exits
    async with database.transaction(write=False) as session:
        orders = (
            await session.scalars(select(Order).where(Order.store_id == store.store_id))
        ).all()
        keys = (
            await session.execute(
                select(IdempotencyKey.key, IdempotencyKey.order_id, IdempotencyKey.kiosk_id).where(
                    IdempotencyKey.kiosk_id.in_([uuid.UUID(k.kiosk_id) for k in store.kiosks])
                )
            )
        ).all()
    by_id = {str(o.id): o for o in orders}
    orders_per_key: Counter[tuple[str, str]] = Counter()
    key_order: dict[tuple[str, str], str] = {}
    for key, order_id, kiosk_id in keys:
        if order_id is not None:
            orders_per_key[(str(kiosk_id), key)] += 1
            key_order[(str(kiosk_id), key)] = str(order_id)
    report.orders_in_db = len(orders)
    report.statuses.update(o.status.value for o in orders)

    listing = await control.get(f"/_sim/stores/{store.sim_id}/orders")
    listing.raise_for_status()
    pos_orders: list[dict[str, Any]] = listing.json()["orders"]
    report.pos_orders = len(pos_orders)
    report.pos_live_orders = sum(1 for p in pos_orders if p["status"] not in dead_at_pos)
    at_pos: dict[str, list[dict[str, Any]]] = {}
    for pos_order in pos_orders:
        at_pos.setdefault(str(pos_order["reference"]), []).append(pos_order)
    references = {o.reference for o in orders}

    for outcome in outcomes:
        report.keys += 1
        report.kiosk_retries += outcome.retries
        if outcome.cancel:
            report.cancels[outcome.cancel] += 1
        if outcome.status is None:
            report.no_answer += 1
            problems.append(f"key {outcome.key} got no definitive answer")
            continue
        if outcome.status not in (200, 201):
            report.refused[outcome.code or str(outcome.status)] += 1
            if (outcome.kiosk_id, outcome.key) in key_order:
                problems.append(f"key {outcome.key} was refused ({outcome.code}) but has an order")
            continue
        report.accepted += 1
        report.replays += outcome.replayed
        order = by_id.get(outcome.order_id or "")
        if order is None:
            problems.append(f"LOST: key {outcome.key} answered order {outcome.order_id}, not in db")
            continue
        slot = (outcome.kiosk_id, outcome.key)
        if orders_per_key[slot] != 1:
            problems.append(f"key {outcome.key} is linked to {orders_per_key[slot]} orders")
        if key_order.get(slot) != outcome.order_id:
            problems.append(
                f"key {outcome.key}: the kiosk was told {outcome.order_id}, "
                f"the key holds {key_order.get(slot)}"
            )

    told = {o.order_id for o in outcomes if o.order_id}
    for order in orders:
        status = order.status.value
        ours = at_pos.get(order.reference, [])
        live = [p for p in ours if p["status"] not in dead_at_pos]
        if str(order.id) not in told:
            problems.append(f"order {order.reference} ({status}) was never answered to a kiosk")
        if status in UNSETTLED:
            problems.append(f"order {order.reference} is still {status}: {order.failure_reason}")
        elif status not in TERMINAL | PROGRESSING:
            problems.append(f"order {order.reference} has unknown status {status}")
        if len(ours) > 1:
            report.duplicates += 1
            problems.append(
                f"DUPLICATE: order {order.reference} ({status}) has {len(ours)} POS orders: "
                + ", ".join(f"{p['id']}={p['status']}" for p in ours)
            )
        if status in DEAD_AT_POS:
            if live:
                problems.append(
                    f"order {order.reference} is {status} but the POS has it live: "
                    + ", ".join(f"{p['id']}={p['status']}" for p in live)
                )
        elif status not in UNSETTLED:
            if len(ours) != 1:
                problems.append(f"order {order.reference} is {status} with {len(ours)} POS orders")
            elif order.pos_order_id not in (str(ours[0]["id"]), str(ours[0]["number"])):
                # (Treez tickets are known by their number, the others by their id.)
                problems.append(
                    f"order {order.reference}: pos_order_id {order.pos_order_id} but the POS "
                    f"order is {ours[0]['id']}"
                )
    for reference, stray in at_pos.items():
        if reference not in references:
            problems.append(
                f"STRAY: the POS has {len(stray)} order(s) with reference {reference}, not ours"
            )


# --- the run -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def chaos_database(config: ChaosConfig, work_dir: Path) -> Any:
    if config.database_url is not None:
        yield config.database_url
        return
    if config.db == "sqlite":
        url = f"sqlite+aiosqlite:///{work_dir / 'chaos.db'}"
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
        return
    name = f"ridgeline_chaos_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = (
        make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_chaos(config: ChaosConfig) -> ChaosReport:
    if config.scaled and not (config.database_url or config.db).startswith("postgresql"):
        raise ValueError("a scaled chaos run needs PostgreSQL (--db postgresql)")
    with contextlib.ExitStack() as stack:
        work_dir = config.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work_dir.mkdir(parents=True, exist_ok=True)
        return await _run(config, work_dir)


async def _run(config: ChaosConfig, work_dir: Path) -> ChaosReport:
    log = config.log
    started = time.monotonic()
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    simulator = Process(
        "simulator",
        [
            "possim",
            "--host",
            "127.0.0.1",
            "--port",
            str(sim_port),
            "--stores",
            "0",
            "--seed",
            str(config.seed),
        ],
        clean_env({"RIDGELINE_LOG_FORMAT": "json", "RIDGELINE_LOG_LEVEL": "WARNING"}),
        work_dir / "simulator.log",
    )
    async with chaos_database(config, work_dir) as database_url:
        env = clean_env(
            {
                "RIDGELINE_ENV": Environment.TEST.value,
                "RIDGELINE_DATABASE_URL": database_url,
                "RIDGELINE_HOST": "127.0.0.1",
                "RIDGELINE_WORKER_CONCURRENCY": str(config.worker_concurrency),
                "RIDGELINE_JOB_POLL_INTERVAL_S": "0.2",
                "RIDGELINE_ORDER_SUBMIT_DEADLINE_S": "3600",
                "RIDGELINE_ORDER_QUEUE_INTERVAL_S": "1",
                # A killed server's lease holds its order (and the store's queue) this long.
                "RIDGELINE_ORDER_SUBMIT_LEASE_S": "10",
                # A killed worker's jobs (their leases) are taken over after this long.
                "RIDGELINE_JOB_LEASE_S": "10",
                # A kiosk retrying a key whose request died with the server waits this long.
                "RIDGELINE_IDEMPOTENCY_TAKEOVER_S": "10",
                # Kiosks here retry in a tight loop on purpose (that is the chaos): the API's
                # own rate limits would answer 429s that this run does not judge.
                "RIDGELINE_API_RATE_LIMITS_ENABLED": "false",
                "RIDGELINE_LOG_FORMAT": "json",
                "RIDGELINE_LOG_LEVEL": "WARNING",
            }
        )
        pipeline: Pipeline = (
            ScaledPipeline(env, work_dir) if config.scaled else EmbeddedPipeline(env, work_dir)
        )
        settings = Settings(
            env=Environment.TEST, database_url=database_url, log_format=LogFormat.JSON
        )
        database = Database(database_url, sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        control = httpx.AsyncClient(base_url=sim_url, timeout=30)
        try:
            await simulator.start()
            await simulator.wait_answering(f"{sim_url}/_sim")
            log(f"simulator at {sim_url}; setting up {len(config.dialects)} store(s)")
            connector = PosConnector(settings, database, SystemClock())
            try:
                async with database.transaction() as session:
                    slug = f"chaos-{uuid.uuid4().hex[:8]}"
                    organization = Organization(name=slug.title(), slug=slug)
                    session.add(organization)
                stores = []
                for dialect in config.dialects:
                    sim_store = await create_sim_store(control, dialect, config.products)
                    stores.append(
                        await set_up_store(
                            database, connector, organization, sim_store, config.kiosks_per_store
                        )
                    )
            finally:
                await connector.aclose()
            for store in stores:
                await add_faults(control, store.sim_id, config.fault_rate)
            await pipeline.start()
            total = config.orders_per_dialect * len(stores)
            log(
                f"{pipeline.describe()}; {total} orders from "
                f"{sum(len(s.kiosks) for s in stores)} kiosks, {config.fault_rate:.0%} faults, "
                f"{config.kills} kill(s)" + (" of each role" if config.scaled else "")
            )
            placing = time.monotonic()
            progress = Progress(total, log)
            killer = asyncio.create_task(
                pipeline.disrupt(progress, config.kills, config.kill_window, log)
            )
            try:
                outcomes = await run_kiosks(
                    pipeline.base_url, stores, config.orders_per_dialect, config, progress
                )
                disruptions = await killer
            finally:
                if not killer.done():
                    killer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await killer
            placing_s = time.monotonic() - placing
            log(f"orders placed in {placing_s:.1f} s; faults stay until every order was tried")
            untried = await until_tried(
                database, [s.store_id for s in stores], config.fault_phase_timeout_s, log
            )
            fault_phase_s = time.monotonic() - placing - placing_s
            log(f"{untried} order(s) never tried under faults; removing the faults and settling")
            reports = [DialectReport(store.dialect) for store in stores]
            openings = await breaker_openings(database, organization.id)
            for store, report in zip(stores, reports, strict=True):
                report.fault_hits = await fault_hits(control, store.sim_id)
                report.order_requests = await order_requests(control, store.sim_id)
                report.breaker_openings = openings.get(store.store_id, Counter())
                response = await control.delete(f"/_sim/stores/{store.sim_id}/faults")
                response.raise_for_status()
            settling = time.monotonic()
            waiting = await settle(
                database, [s.store_id for s in stores], config.settle_timeout_s, log
            )
            settle_s = time.monotonic() - settling
            problems: list[str] = []
            if waiting:
                shown = "\n    ".join(waiting[:30])
                problems.append(
                    f"not settled after {config.settle_timeout_s:.0f} s: {len(waiting)} "
                    f"waiting:\n    {shown}"
                )
            # What follows the settling (a stray's cleanup, a status read) may still be under
            # way: the checks run again until they pass or the settling time is used up.
            check_until = settling + max(config.settle_timeout_s, settle_s + 60)
            while True:
                fresh = [
                    DialectReport(
                        store.dialect,
                        fault_hits=report.fault_hits,
                        order_requests=report.order_requests,
                        breaker_openings=report.breaker_openings,
                    )
                    for store, report in zip(stores, reports, strict=True)
                ]
                for store, report in zip(stores, fresh, strict=True):
                    mine = [o for o in outcomes if o.dialect == store.dialect]
                    await check_store(database, control, store, mine, report)
                problems_left = sum(len(r.problems) for r in fresh)
                if waiting or not problems_left or time.monotonic() > check_until:
                    reports = fresh
                    break
                log(f"  checks: {problems_left} problem(s) left, checking again")
                await asyncio.sleep(2)
            settle_s = time.monotonic() - settling
            # A process that died by itself (not one the killer stopped) is a finding too.
            problems += [f"a process exited by itself:\n{tail}" for tail in pipeline.crashed()]
            return ChaosReport(
                reports,
                kills=disruptions.server_kills,
                worker_kills=disruptions.worker_kills,
                redis_restarts=disruptions.redis_restarts,
                scaled=config.scaled,
                proxy_errors=pipeline.proxy_errors(),
                wall_s=time.monotonic() - started,
                placing_s=placing_s,
                settle_s=settle_s,
                fault_phase_s=fault_phase_s,
                untried_at_fault_end=untried,
                problems=problems,
            )
        finally:
            await pipeline.stop()
            await simulator.stop()
            await control.aclose()
            await database.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--orders", type=int, default=1000, help="orders per dialect")
    parser.add_argument("--dialect", choices=["all", *DIALECTS], default="all")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--kiosks", type=int, default=20, help="kiosks per store")
    parser.add_argument("--fault-rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--kills",
        type=int,
        default=4,
        help="server SIGKILLs during the run; with --scaled, of a server and as many of a worker",
    )
    parser.add_argument(
        "--kill-window", type=float, default=0.5, help="kills fall within this share of orders"
    )
    parser.add_argument(
        "--fault-phase-timeout", type=float, default=900.0, help="faults on after placing, at most"
    )
    parser.add_argument("--settle-timeout", type=float, default=900.0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep logs (and SQLite) here")
    parser.add_argument(
        "--scaled",
        action="store_true",
        help="nginx, two servers, two workers and Redis (restarted once); needs --db postgresql",
    )
    args = parser.parse_args(argv)
    if args.scaled and args.db != "postgresql":
        parser.error("--scaled needs --db postgresql (scaled mode runs on PostgreSQL)")
    config = ChaosConfig(
        orders_per_dialect=args.orders,
        dialects=DIALECTS if args.dialect == "all" else (args.dialect,),
        db=args.db,
        kiosks_per_store=args.kiosks,
        fault_rate=args.fault_rate,
        seed=args.seed,
        kills=args.kills,
        kill_window=args.kill_window,
        fault_phase_timeout_s=args.fault_phase_timeout,
        settle_timeout_s=args.settle_timeout,
        work_dir=args.work_dir,
        scaled=args.scaled,
    )
    mode = "scaled mode" if config.scaled else "embedded mode"
    print(
        f"chaos: {config.orders_per_dialect} orders x {len(config.dialects)} dialect(s) on "
        f"{config.db}, {mode}; this takes a while (minutes)",
        flush=True,
    )
    # Only warnings from the set-up done in this process (the sync runs log every call).
    configure_logging(Settings(env=Environment.TEST, log_level="WARNING"))
    report = asyncio.run(run_chaos(config))
    print(report.table())
    problems = report.all_problems
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s)", file=sys.stderr)
        for problem in problems[:100]:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print("\nOK: every accepted order exists exactly once at the POS; none lost; all settled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
