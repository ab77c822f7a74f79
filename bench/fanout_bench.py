"""Fan-out benchmark: N kiosks subscribed to one store, M changes pushed to all of them, on
Ridgeline's `/cable` and, in the same run with the same scenario, on python-socketio (AsyncServer on
uvicorn), the peer a Python team would otherwise pick.

    .venv/bin/python -m bench.fanout_bench [--kiosks 1000,5000,10000] [--changes 20]
        [--database URL] [--sides ridgeline,socketio] [--profile DIR] [--server-source DIR]

Three kinds of OS process: the server under test (`ridgeline serve` on a migrated database, or
`bench.fanout_peer`), one load generator holding the N sockets (`bench.fanout_clients`), and this
driver, which makes the changes over HTTP: an operator's enrichment PATCH on Ridgeline (one
`product.updated` on the store stream, committed in the server's process), `POST /emit` on the
peer (the same kiosk product JSON, emitted to the store's room). Two phases of M changes each:
*one at a time* (the next change only when every kiosk has the last one) and *burst* (M changes
back to back). Then *paced*: M changes started at `PACED_PER_S` a second whatever the deliveries
(as operators' requests come), to see whether deliveries keep up or a backlog grows; and a
*reconnect storm*: every socket dropped at once (TCP aborted, a store's network blip) and
reconnected at once while an HTTP probe (`/healthz` every 20 ms) measures how long the server's
event loop keeps a trivial request waiting; Ridgeline's kiosks resubscribe with `history` and
`STORM_CHANGES` changes are made during the storm (each must arrive exactly once; the peer has no
replay, so it gets none then); one last change after the storm reaches every kiosk on both sides.
Ridgeline's server runs with its event loop watch on (`RIDGELINE_LOOP_WATCH_MS`): SIGUSR1 as the
storm starts and after it brackets the storm, whose longest single callback (and worst callbacks,
with their CPU and garbage collector time) the report shows; both servers then run on asyncio's
own loop (`--no-loop-watch`: no watch, both on uvicorn's default loop, uvloop, as deployed).
Latency of a delivery = the kiosk's receive time - the start of the HTTP call that
made the change. `--profile DIR` runs each server under cProfile and leaves DIR/{side}-{N}.prof;
`--sides` runs one side alone (its column only); `--server-source DIR` runs the server from
another checkout of Ridgeline (the "before" figures: `git archive COMMIT | tar -x -C DIR`). The
server runs embedded (no Redis), so Ridgeline's change commits in the server's process and its
hub hears of it at once.

Absolute figures on a shared 2-core machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from bench.fanout_clients import raise_fd_limit
from bench.fanout_report import SideResult, ms, quantile, report
from ridgeline.auth.credentials import digest, display_prefix, new_kiosk_key
from ridgeline.auth.passwords import hash_password
from ridgeline.config import Environment, Settings
from ridgeline.db import migrate
from ridgeline.db.engine import Database
from ridgeline.models import Kiosk, KioskApiKey, Operator, Organization, Product, Role, Store
from ridgeline.models.catalog import ProductVariant
from ridgeline.monitoring.logging import configure_logging
from ridgeline.realtime import streams

PASSWORD = "fanout-bench-password"  # noqa: S105
PAYLOAD_EVENT = "product.updated"
WAIT_ONE_S = 60.0
WAIT_BURST_S = 180.0
PACED_PER_S = 20.0
STORM_CHANGES = 5
STORM_CHANGE_GAP_S = 0.2
PROBE_EVERY_S = 0.02
BUSY_RETRIES = 10
# Ridgeline's server runs with its event loop watch (docs/realtime.md#event-loop-watch): every
# callback timed, the storm's longest reported. Both servers then run on asyncio's own loop.
LOOP_WATCH_MS = 100.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Scenario:
    database_url: str
    workdir: Path
    store_id: uuid.UUID
    product_id: uuid.UUID
    operator_email: str
    tokens: list[str]
    product_json: dict[str, Any] = field(default_factory=dict)  # the kiosk view of the product


# --- data -----------------------------------------------------------------------------------------


async def seed(database_url: str, workdir: Path, kiosks: int) -> Scenario:
    """One organization, store, product and operator; `kiosks` kiosks with a key each, in bulk."""
    database = Database(database_url)
    now = datetime.now(UTC)
    suffix = uuid.uuid4().hex[:8]
    try:
        async with database.transaction() as session:
            organization = Organization(name="Fan-out bench", slug=f"fanout-{suffix}")
            session.add(organization)
            await session.flush()
            store = Store(organization_id=organization.id, name="Fan-out store")
            operator = Operator(
                organization_id=organization.id,
                email=f"fanout-{suffix}@bench.ridgeline.local",
                role=Role.ORG_ADMIN,
                password_hash=hash_password(PASSWORD),
            )
            session.add_all([store, operator])
            await session.flush()
            product = Product(
                organization_id=organization.id,
                store_id=store.id,
                external_id="fanout-1",
                name="House Flower 3.5g",
                brand="Ridgeline Farms",
                category="flower",
                tags=["indica", "house"],
                content_hash="0" * 64,
            )
            session.add(product)
            await session.flush()
            session.add(
                ProductVariant(
                    organization_id=organization.id,
                    store_id=store.id,
                    product_id=product.id,
                    external_id="fanout-1-v1",
                    label="3.5g",
                    price_cents=3500,
                    quantity_available=40,
                )
            )
            tokens = [new_kiosk_key() for _ in range(kiosks)]
            kiosk_ids = [uuid.uuid4() for _ in range(kiosks)]
            kiosk_rows = [
                {
                    "id": kiosk_id,
                    "organization_id": organization.id,
                    "store_id": store.id,
                    "name": f"Kiosk {index + 1}",
                }
                for index, kiosk_id in enumerate(kiosk_ids)
            ]
            key_rows = [
                {
                    "id": uuid.uuid4(),
                    "organization_id": organization.id,
                    "kiosk_id": kiosk_id,
                    "key_hash": digest(token),
                    "key_prefix": display_prefix(token),
                    "created_at": now,
                }
                for kiosk_id, token in zip(kiosk_ids, tokens, strict=True)
            ]
            for start in range(0, kiosks, 500):
                await session.execute(insert(Kiosk), kiosk_rows[start : start + 500])
                await session.execute(insert(KioskApiKey), key_rows[start : start + 500])
        return Scenario(database_url, workdir, store.id, product.id, operator.email, tokens)
    finally:
        await database.dispose()


async def stream_offset(database_url: str, store_id: uuid.UUID) -> int:
    database = Database(database_url)
    try:
        async with database.transaction(write=False) as session:
            found = await streams.position(session, streams.store_stream(store_id))
        return found.offset
    finally:
        await database.dispose()


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerProcess:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log.open("w")
        self.process = subprocess.Popen(  # noqa: S603
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime

    def loop_watch_window(self) -> None:
        """Asks the server's loop watch to report its window so far and start a new one."""
        self.process.send_signal(signal.SIGUSR1)

    async def loop_watch_report(self, path: Path, *, after: int) -> dict[str, Any] | None:
        """The first `loop_watch_report` the server logged beyond `after` reports (it logs one
        per SIGUSR1); None when none came within 10 s (a server without the watch)."""
        for _ in range(100):
            self.log.flush()
            reports = loop_watch_reports(path)
            if len(reports) > after:
                return reports[after]
            await asyncio.sleep(0.1)
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # graceful: cProfile writes its file
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def loop_watch_reports(path: Path) -> list[dict[str, Any]]:
    reports: list[dict[str, Any]] = []
    with path.open() as lines:
        for line in lines:
            if "loop_watch_report" not in line:
                continue
            with contextlib.suppress(ValueError):
                document = json.loads(line)
                if isinstance(document, dict) and document.get("event") == "loop_watch_report":
                    reports.append(document)
    return reports


class LoadGenerator:
    """`bench.fanout_clients` in its own process, driven over stdin/stdout."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, *args: str) -> LoadGenerator:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.fanout_clients",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def answer(self, timeout_s: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout_s)
        if not line:
            raise RuntimeError(f"load generator exited ({await self.process.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def command(self, document: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(document) + "\n").encode())
        await self.process.stdin.drain()
        return await self.answer(timeout_s)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


async def wait_ready(http: httpx.AsyncClient, server: ServerProcess) -> None:
    for _ in range(600):
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited; see {server.log.name}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("server not ready after 60 s")


# --- one side, one N ------------------------------------------------------------------------------


class Trigger:
    """Makes change `index` through the server's HTTP API; returns when the call was made."""

    def __init__(self, side: str, scenario: Scenario, http: httpx.AsyncClient) -> None:
        self.side = side
        self.scenario = scenario
        self.http = http
        self.headers: dict[str, str] = {}
        self.base_offset = 0
        self.busy = 0  # changes answered 503 (SQLite busy past its timeout), each tried again

    async def sign_in(self) -> None:
        signed = await self.http.post(
            "/api/v1/auth/token",
            json={"email": self.scenario.operator_email, "password": PASSWORD},
        )
        signed.raise_for_status()
        self.headers = {"authorization": f"Bearer {signed.json()['data']['access_token']}"}

    async def prepare(self) -> None:
        scenario = self.scenario
        if self.side == "ridgeline":
            await self.sign_in()
            if not scenario.product_json:
                viewed = await self.http.get(
                    f"/api/v1/catalog/products/{scenario.product_id}",
                    headers={"authorization": f"Bearer {scenario.tokens[0]}"},
                )
                viewed.raise_for_status()
                scenario.product_json = viewed.json()["data"]
        elif not scenario.product_json:  # the peer alone (--sides socketio): a stand-in
            scenario.product_json = {"id": str(scenario.product_id), "name": "House Flower 3.5g"}
        await self.change(-1)  # warm the path before memory is measured
        if self.side == "ridgeline":
            self.base_offset = await stream_offset(scenario.database_url, scenario.store_id)

    async def change(self, index: int) -> tuple[float, float]:
        """Makes change `index`; returns when the call started and how long it took."""
        sent = time.time()
        description = f"Fan-out bench change {index}"
        if self.side == "ridgeline":
            path = (
                f"/api/v1/stores/{self.scenario.store_id}/products/"
                f"{self.scenario.product_id}/enrichment"
            )
            for _ in range(BUSY_RETRIES):
                done = await self.http.patch(
                    path, json={"description": description}, headers=self.headers
                )
                if done.status_code == 401:  # a long run outlives the access token
                    await self.sign_in()
                    continue
                if done.status_code != 503:
                    break
                self.busy += 1
                await asyncio.sleep(0.2)
        else:
            payload = {
                "seq": index,
                "type": PAYLOAD_EVENT,
                "data": {**self.scenario.product_json, "description": description},
                "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            body = {"store_id": str(self.scenario.store_id), "event": PAYLOAD_EVENT}
            done = await self.http.post("/emit", json={**body, "payload": payload})
        done.raise_for_status()
        return sent, time.time() - sent

    def change_index(self, key: int) -> int:
        return key - self.base_offset - 1 if self.side == "ridgeline" else key


class Probe:
    """`GET /healthz` every `PROBE_EVERY_S` until stopped: how long each took. A request waits
    for the server's event loop, so the slowest bounds how long the loop was blocked."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.durations: list[float] = []
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            began = time.perf_counter()
            try:
                (await self.http.get("/healthz", timeout=30)).raise_for_status()
            except httpx.HTTPError:
                self.failures += 1
            took = time.perf_counter() - began
            self.durations.append(took)
            await asyncio.sleep(max(0.0, PROBE_EVERY_S - took))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def collector_figures(http: httpx.AsyncClient) -> tuple[float, float, float]:
    """The server's full collector passes over the whole run, of them over 100 ms, and thaws,
    from its `/metrics` (realtime/gc_pacing.py); NaN for a server without them (an older tree)."""
    response = await http.get("/metrics")
    response.raise_for_status()
    samples = {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    passes = samples.get(("ridgeline_gc_full_pass_seconds_count", ""), math.nan)
    quick = samples.get(("ridgeline_gc_full_pass_seconds_bucket", "0.1"), math.nan)
    return passes, passes - quick, samples.get(("ridgeline_gc_thaws_total", ""), math.nan)


def server_command(
    side: str, port: int, profile: Path | None, kiosks: int, *, watch: bool = True
) -> list[str]:
    if side == "ridgeline":
        target = [str(Path(sys.executable).with_name("ridgeline")), "serve"]
    else:
        # The loop Ridgeline's server runs on: asyncio's with its watch on, else uvicorn's
        # default (uvloop, installed): both sides on the same one.
        target = ["-m", "bench.fanout_peer", "--loop", "asyncio" if watch else "auto"]
    prefix = [sys.executable]
    if profile is not None:
        prefix += ["-m", "cProfile", "-o", str(profile / f"{side}-{kiosks}.prof")]
    return [*prefix, *target, "--host", "127.0.0.1", "--port", str(port)]


async def run_side(
    side: str,
    kiosks: int,
    changes: int,
    scenario: Scenario,
    profile: Path | None,
    server_source: Path | None = None,
    *,
    watch: bool = True,
) -> SideResult:
    port = free_port()
    env = {**os.environ, "RIDGELINE_DATABASE_URL": scenario.database_url}
    if server_source is not None and side == "ridgeline":
        env["PYTHONPATH"] = str(server_source)  # ahead of this checkout's editable install
    env["RIDGELINE_LOG_LEVEL"] = "WARNING"
    env["RIDGELINE_LOG_FORMAT"] = "json"  # the loop watch's reports are read back from the log
    if watch:
        env["RIDGELINE_LOOP_WATCH_MS"] = f"{LOOP_WATCH_MS:g}"
    else:
        env.pop("RIDGELINE_LOOP_WATCH_MS", None)
    # The paced phase is 20 changes a second from the operators of a store; the bench signs in
    # one of them, whose default write limit (5 a second) would answer most of them 429.
    env["RIDGELINE_API_RATE_LIMIT_OPERATOR_WRITE"] = "6000/60s burst 600"
    env.pop("RIDGELINE_REDIS_URL", None)  # embedded: changes commit in the server's process
    log = scenario.workdir / f"{side}-{kiosks}.log"
    server = ServerProcess(server_command(side, port, profile, kiosks, watch=watch), env, log)
    clients: LoadGenerator | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
            await wait_ready(http, server)
            trigger = Trigger(side, scenario, http)
            await trigger.prepare()
            await asyncio.sleep(1.0)
            rss_idle = server.rss_kib()

            tokens_path = scenario.workdir / "tokens.json"
            tokens_path.write_text(json.dumps(scenario.tokens[:kiosks]))
            clients = await LoadGenerator.start(
                "--kind", side, "--url", f"http://127.0.0.1:{port}",
                "--store-id", str(scenario.store_id), "--count", str(kiosks),
                "--tokens", str(tokens_path),
            )  # fmt: skip
            ready = await clients.answer(timeout_s=600)
            await asyncio.sleep(2.0)
            rss_connected = server.rss_kib()

            sent: dict[int, float] = {}
            calls: list[float] = []
            for index in range(changes):  # one at a time
                sent[index], call_s = await trigger.change(index)
                calls.append(call_s)
                wait = {"cmd": "wait", "count": index + 1, "timeout_s": WAIT_ONE_S}
                waited = await clients.command(wait, WAIT_ONE_S + 10)
            cpu_before = server.cpu_s()
            for index in range(changes, 2 * changes):  # burst
                sent[index], _ = await trigger.change(index)
            burst_waited = await clients.command(
                {"cmd": "wait", "count": 2 * changes, "timeout_s": WAIT_BURST_S}, WAIT_BURST_S + 10
            )
            burst_cpu = server.cpu_s() - cpu_before
            burst_client_cpu = burst_waited["cpu_s"] - waited["cpu_s"]

            # Paced: a change every 1 / PACED_PER_S s, not waiting for the previous one.
            paced_from = time.time()
            calls_paced: list[asyncio.Task[tuple[float, float]]] = []
            for step in range(changes):
                await asyncio.sleep(max(0.0, paced_from + step / PACED_PER_S - time.time()))
                calls_paced.append(asyncio.create_task(trigger.change(2 * changes + step)))
            for step, call in enumerate(calls_paced):
                sent[2 * changes + step], _ = await call
            await clients.command(
                {"cmd": "wait", "count": 3 * changes, "timeout_s": WAIT_BURST_S}, WAIT_BURST_S + 10
            )

            # The reconnect storm, probed; Ridgeline's kiosks replay what they miss meanwhile.
            # SIGUSR1 would end a server without the watch (an older tree's, --server-source).
            watching = watch and side == "ridgeline" and server_source is None
            if watching:
                server.loop_watch_window()  # the storm's window starts now
                await asyncio.sleep(0.2)
            probe = Probe(http)
            probe.start()
            assert clients.process.stdin is not None
            clients.process.stdin.write(b'{"cmd": "storm"}\n')
            await clients.process.stdin.drain()
            next_index = 3 * changes
            if side == "ridgeline":
                for _ in range(STORM_CHANGES):
                    await asyncio.sleep(STORM_CHANGE_GAP_S)
                    sent[next_index], _ = await trigger.change(next_index)
                    next_index += 1
            stormed = await clients.answer(timeout_s=600)
            await asyncio.sleep(1.0)  # the probe also sees the storm's tail
            await probe.stop()
            storm_watch: dict[str, Any] | None = None
            if watching:
                server.loop_watch_window()
                storm_watch = await server.loop_watch_report(log, after=1)
            sent[next_index], _ = await trigger.change(next_index)  # after it, on both sides
            final = await clients.command(
                {"cmd": "wait", "count": len(sent), "timeout_s": WAIT_BURST_S}, WAIT_BURST_S + 10
            )

            nan = math.nan
            passes, slow_passes, thaws = (
                await collector_figures(http) if side == "ridgeline" else (nan, nan, nan)
            )
            dump = scenario.workdir / f"{side}-{kiosks}.json"
            await clients.command({"cmd": "dump", "path": str(dump)}, timeout_s=120)
    finally:
        if clients is not None:
            await clients.stop()
        server.stop()

    document = json.loads(dump.read_text())
    one: list[float] = []
    burst: list[float] = []
    paced: list[float] = []
    last_per_change: dict[int, float] = {}
    delivered = 0
    doubled = 0
    for records in document["records"]:
        seen: set[int] = set()
        for key, received in records:
            index = trigger.change_index(key)
            if index not in sent:
                continue
            if index in seen:
                doubled += 1
                continue
            seen.add(index)
            delivered += 1
            latency = received - sent[index]
            if index < changes:
                one.append(latency)
            elif index < 2 * changes:
                burst.append(latency)
            elif index < 3 * changes:
                paced.append(latency)
            last_per_change[index] = max(last_per_change.get(index, 0.0), received)
    burst_end = max(last_per_change.get(i, 0.0) for i in range(changes, 2 * changes))
    paced_end = max(last_per_change.get(i, 0.0) for i in range(2 * changes, 3 * changes))
    return SideResult(
        side=side,
        kiosks=kiosks,
        changes=changes,
        connect_s=ready["connect_s"],
        rss_idle_kib=rss_idle,
        rss_connected_kib=rss_connected,
        one_latencies=one,
        one_spread=[last_per_change.get(i, sent[i]) - sent[i] for i in range(changes)],
        one_calls=calls,
        burst_latencies=burst,
        burst_s=burst_end - sent[changes],
        burst_cpu_s=burst_cpu,
        burst_client_cpu_s=burst_client_cpu,
        missing=kiosks * len(sent) - delivered,
        frame_bytes=document["frame_bytes"] / max(delivered, 1),
        paced_latencies=paced,
        paced_s=paced_end - sent[2 * changes],
        paced_last_spread=last_per_change.get(3 * changes - 1, 0.0) - sent[3 * changes - 1],
        storm_back_s=stormed["back_s"],
        storm_failed_attempts=stormed["failed_attempts"],
        storm_probe=probe.durations,
        storm_probe_failures=probe.failures,
        busy_changes=trigger.busy,
        doubled=doubled,
        pings=final["pings"],
        frames=final["frames"],
        storm_longest_callback_s=(
            storm_watch["longest_ms"] / 1000 if storm_watch is not None else None
        ),
        storm_offenders=storm_watch["offenders"] if storm_watch is not None else [],
        gc_full_passes=passes,
        gc_passes_over_100ms=slow_passes,
        gc_thaws=thaws,
        storm_longest_gc=(
            f"{storm_watch.get('longest_gc_ms', 0):,.1f} ms, generation "
            f"{storm_watch.get('longest_gc_generation', '?')}"
            if storm_watch is not None
            else ""
        ),
    )


async def bench(
    kiosk_counts: list[int],
    changes: int,
    sides: list[str],
    database_url: str,
    workdir: Path,
    profile: Path | None,
    server_source: Path | None,
    *,
    watch: bool = True,
) -> None:
    scenario = await seed(database_url, workdir, max(kiosk_counts))
    results: list[SideResult] = []
    for kiosks in kiosk_counts:
        for side in sides:
            began = time.perf_counter()
            result = await run_side(
                side, kiosks, changes, scenario, profile, server_source, watch=watch
            )
            print(
                f"{side} N={kiosks}: {time.perf_counter() - began:.0f} s; one at a time p50 "
                f"{ms(quantile(result.one_latencies, 0.5))} ms p99 "
                f"{ms(quantile(result.one_latencies, 0.99))} ms; burst "
                f"{result.burst_rate:,.0f} deliveries/s; "
                f"{result.kib_per_connection:.1f} KiB/connection; "
                f"storm {result.storm_back_s:.1f} s, slowest probe "
                f"{ms(max(result.storm_probe, default=0.0))} ms; missing "
                f"{result.missing}, doubled {result.doubled}; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            results.append(result)
        report([r for r in results if r.kiosks == kiosks])  # each N as soon as it is done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kiosks", default="1000,5000,10000", help="comma-separated N values")
    parser.add_argument("--changes", type=int, default=20, help="M, per phase")
    parser.add_argument("--database", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile each server here")
    parser.add_argument("--sides", default="ridgeline,socketio", help="e.g. only one, to profile")
    parser.add_argument(
        "--server-source", type=Path, default=None, help="run Ridgeline's server from this tree"
    )
    parser.add_argument(
        "--no-loop-watch",
        action="store_true",
        help="no event loop watch: both servers on uvicorn's default loop, as deployed",
    )
    args = parser.parse_args()
    if args.changes < 1:
        parser.error("--changes must be at least 1")
    configure_logging(Settings(env=Environment.TEST, log_level="WARNING"))
    raise_fd_limit()  # inherited by the server and the load generator
    workdir = Path(tempfile.mkdtemp(prefix="fanout-bench-"))
    url = args.database or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    migrate.upgrade(url)
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    kiosk_counts = [int(n) for n in args.kiosks.split(",")]
    print(f"kiosks={kiosk_counts} changes={args.changes} per phase, database={url.split(':')[0]}")
    print(f"work files (server logs, receive times): {workdir}", flush=True)
    sides = args.sides.split(",")
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    asyncio.run(
        bench(
            kiosk_counts,
            args.changes,
            sides,
            url,
            workdir,
            args.profile,
            args.server_source,
            watch=not args.no_loop_watch,
        )
    )


if __name__ == "__main__":
    main()
