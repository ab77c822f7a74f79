"""The documented load balancer, for real: Debian's nginx running `deploy/nginx/ridgeline.conf`
in front of two `ridgeline serve` processes and one `ridgeline worker`, on PostgreSQL and a
private Redis, everything started here as child processes on free ports (no root needed).

Shows that requests through nginx reach both servers; that `/cable` works through it; that the
servers believe X-Forwarded-For only from nginx, which replaces what a client sent; that a kiosk
order through nginx reaches the worker and the POS simulator and comes back to the kiosk on
`/cable`; and a rolling restart: one server stopped with SIGTERM while a client keeps reading
through nginx fails no request, its `/cable` client is told `server_restart` and reconnects
through nginx to the other, and the restarted server takes traffic again.

PostgreSQL only, like tests/realtime/test_scaled.py: servers and workers in several processes
share one PostgreSQL database in scaled mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from rich.console import Console

from ridgeline.auth.throttle import SignInThrottle
from ridgeline.cli.demo import DEMO_EMAIL, seed_demo, serving, simulator_stores
from ridgeline.cli.load_balancer import TEMPLATE, NginxFiles, render_site, require_nginx
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.sync import SyncKind
from ridgeline.realtime.state import RedisCableState
from ridgeline.resilience.shared import KEY_PREFIX, key_digest
from ridgeline.sync.command import run_sync_command
from tests.factories import make_tenant, sign_in
from tests.net import free_port
from tests.realtime.cable_client import CableClient, identifier
from tests.realtime.test_scaled import ServerProcess, server_env, wait_ready
from tests.redis_server import STARTUP_TIMEOUT_S, PrivateRedis, stop_process, within

REPO_ROOT = Path(__file__).resolve().parents[2]
# nginx connects to the servers from this address (`proxy_bind`), and it is the only one they
# believe X-Forwarded-For from; the test's clients use others, so the three can be told apart.
NGINX_ADDRESS = "127.0.0.2"
CLIENT_ADDRESS = "127.0.0.3"
SPOOFED = "203.0.113.66"
# Short, so that a restarted server gets traffic again soon (the template's default is 5 s).
FAIL_TIMEOUT_S = 1
PROMPT_S = 15.0  # bounds on waits for something that must happen, never timings under test


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--db") != "postgresql":
        pytest.skip(
            "scaled mode behind a load balancer (several processes on one database) needs "
            "PostgreSQL; runs in the `--db postgresql` pass"
        )


# --- the deployment -----------------------------------------------------------------------------


@dataclass
class Deployment:
    redis: PrivateRedis
    servers: dict[str, ServerProcess]
    worker: asyncio.subprocess.Process
    nginx: asyncio.subprocess.Process
    files: NginxFiles
    port: int
    env: dict[str, str]
    log_dir: Path
    stopped: list[ServerProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams_used(self) -> list[list[str]]:
        """For each request in nginx's access log, the servers it was passed to, in order."""
        return [
            match.group(1).split(", ")
            for line in self.files.access_log.read_text().splitlines()
            if (match := re.search(r" upstream=(.*?) upstream_status=", line))
        ]

    def logs(self) -> str:
        tails = [server.log_tail() for server in self.servers.values()]
        worker_log = (self.log_dir / "worker.log").read_text(errors="replace")[-2000:]
        nginx_log = self.files.error_log.read_text(errors="replace")[-2000:]
        return "\n".join([*tails, f"--- worker ---\n{worker_log}", f"--- nginx ---\n{nginx_log}"])


async def start_server(name: str, port: int, env: dict[str, str], log_dir: Path) -> ServerProcess:
    log_path = log_dir / f"server-{name}.log"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "ridgeline", "serve", "--host", "127.0.0.1", "--port", str(port)),
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    return ServerProcess(name, port, process, log_path)


@contextlib.asynccontextmanager
async def load_balanced(database_url: str, log_dir: Path) -> AsyncIterator[Deployment]:
    """Redis, servers A and B, a worker and nginx in front of A and B; all stopped on the way
    out, whatever happened."""
    require_nginx()
    redis = PrivateRedis(log_dir / "redis.log")
    servers: dict[str, ServerProcess] = {}
    children: list[asyncio.subprocess.Process] = []
    try:
        await redis.start()
        env = server_env(database_url, redis.url, poll_interval_s=2.0)
        env["RIDGELINE_FORWARDED_ALLOW_IPS"] = NGINX_ADDRESS
        ports = {"a": free_port(), "b": free_port()}
        for name, port in ports.items():
            servers[name] = await start_server(name, port, env, log_dir)
        with (log_dir / "worker.log").open("wb") as log:
            worker = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "ridgeline", "worker"),
                cwd=REPO_ROOT,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        children.append(worker)
        port = free_port()
        files = NginxFiles(log_dir / "nginx")
        site = render_site(
            TEMPLATE.read_text(),
            listen=f"127.0.0.1:{port}",
            upstreams=[f"127.0.0.1:{p}" for p in ports.values()],
            log_dir=files.directory,
            fail_timeout_s=FAIL_TIMEOUT_S,
        )
        files.write(site, http_extra=f"    proxy_bind {NGINX_ADDRESS};\n")
        nginx = await asyncio.create_subprocess_exec(
            *files.command(), stdin=asyncio.subprocess.DEVNULL
        )
        children.append(nginx)
        await asyncio.gather(*(wait_ready(server) for server in servers.values()))

        async def both_listening() -> bool:
            return await redis.subscribers() >= 2

        await within(STARTUP_TIMEOUT_S, both_listening, "both backplanes to subscribe")
        deployment = Deployment(redis, servers, worker, nginx, files, port, env, log_dir)
        async with httpx.AsyncClient(base_url=deployment.url, timeout=2) as http:

            async def nginx_answers() -> bool:
                assert nginx.returncode is None, deployment.logs()
                try:
                    return (await http.get("/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await within(STARTUP_TIMEOUT_S, nginx_answers, "nginx to answer")
        yield deployment
    except Exception as exc:
        exc.add_note(f"logs: {log_dir}")
        raise
    finally:
        await asyncio.gather(
            *(stop_process(server.process) for server in servers.values()),
            *(stop_process(child) for child in children),
        )
        await redis.stop()


def served(server: ServerProcess, path: str) -> int:
    """How many requests for `path` the server answered, from its `http_request_finished` lines."""
    return sum(
        1
        for item in server.log_events()
        if item.get("event") == "http_request_finished" and item.get("path") == path
    )


def kiosk_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- requests, /cable, forwarded headers, an order ---------------------------------------------


async def throttled_addresses(redis: PrivateRedis, addresses: list[str]) -> set[str]:
    """Which of `addresses` the sign-in throttle counts a failure for (it keys by the client
    address the app sees, `request.client.host`)."""
    client: Redis = redis.client()
    try:
        found = set()
        for address in addresses:
            [key] = SignInThrottle.keys(DEMO_EMAIL, address)[1:]
            if await client.exists(f"{KEY_PREFIX}:sign_in:{key_digest(key)}"):
                found.add(address)
        return found
    finally:
        await client.aclose()


async def forget_failures(redis: PrivateRedis) -> None:
    client: Redis = redis.client()
    try:
        await client.flushall()
    finally:
        await client.aclose()


async def test_nginx_spreads_requests_carries_cable_and_vouches_for_the_client(
    settings: Settings, database: Database, database_url: str, tmp_path: Path
) -> None:
    simulator_port = free_port()
    root = f"http://127.0.0.1:{simulator_port}"
    simulator, pos_stores = simulator_stores(root, products=20)
    info = await seed_demo(settings, pos_stores, root)
    store, key = info["stores"][0], info["kiosks"][0]["api_key"]
    quiet = Console(quiet=True)
    async with serving(simulator, "127.0.0.1", simulator_port):
        # The store's catalog and stock, before the worker starts (it would sync it too).
        for kind in (SyncKind.FULL, SyncKind.INVENTORY):
            await run_sync_command(settings, uuid.UUID(store["id"]), kind, quiet)
        async with (
            load_balanced(database_url, tmp_path) as deployment,
            httpx.AsyncClient(base_url=deployment.url, timeout=10) as http,
        ):
            await through_nginx(deployment, http, store["id"], key)


async def through_nginx(
    deployment: Deployment, http: httpx.AsyncClient, store_id: str, key: str
) -> None:
    """What the first test checks, once the deployment runs."""
    orderable: list[tuple[str, str]] = []

    async def catalog_synced() -> bool:
        response = await http.get("/api/v1/catalog?limit=50", headers=kiosk_headers(key))
        assert response.status_code == 200, response.text
        orderable[:] = [
            (product["id"], variant["id"])
            for product in response.json()["data"]
            if not product["is_medical_only"]
            for variant in product["variants"]
            if variant["quantity_available"] > 0
        ]
        return bool(orderable)

    await within(PROMPT_S, catalog_synced, "the worker's first sync of the store")
    # Round robin: kiosk reads through nginx reach both servers.
    for _ in range(10):
        response = await http.get("/api/v1/catalog?limit=50", headers=kiosk_headers(key))
        assert response.status_code == 200, response.text
    a, b = deployment.servers["a"], deployment.servers["b"]
    assert served(a, "/api/v1/catalog") > 0, deployment.logs()
    assert served(b, "/api/v1/catalog") > 0, deployment.logs()
    assert {f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"} <= {
        tried[0] for tried in deployment.upstreams_used()
    }

    # /cable through nginx: welcome, and the kiosk's presence (in Redis) carries the client's
    # address as the server saw it: the test's, from nginx's X-Forwarded-For, not nginx's.
    cable = await CableClient.connect(deployment.url, token=key)
    try:
        await cable.welcome()
        channel = identifier("StoreChannel", store_id=store_id)
        assert (await cable.subscribe(channel))["type"] == "confirm_subscription"
        state = RedisCableState(deployment.redis.url)
        try:
            [present] = await state.present(store_id)
        finally:
            await state.close()
        assert present.remote is not None
        assert present.remote.rsplit(":", 1)[0] == "127.0.0.1", present

        # A kiosk order through nginx: the worker submits it to the POS simulator, and its
        # status changes come back to the kiosk on /cable (worker -> Redis -> server ->
        # nginx). The servers run no worker (RIDGELINE_RUN_WORKER_IN_PROCESS=false).
        product_id, variant_id = orderable[0]
        response = await http.post(
            "/api/v1/orders",
            json={
                "items": [{"product_id": product_id, "variant_id": variant_id, "quantity": 1}],
                "customer_name": "Ana",
            },
            headers={**kiosk_headers(key), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["data"]["id"]
        statuses: list[str] = []
        while "submitted" not in statuses and "accepted" not in statuses:
            frame = await cable.receive(wait_s=PROMPT_S)
            message = frame.get("message", {})
            if message.get("type") == "order.status" and message["data"]["order_id"] == order_id:
                statuses.append(message["data"]["status"])
        response = await http.get(f"/api/v1/orders/{order_id}", headers=kiosk_headers(key))
        assert response.json()["data"]["pos_order_id"], response.text
    finally:
        await cable.close()
    submitted = [
        line
        for line in (deployment.log_dir / "worker.log").read_text().splitlines()
        if "orders.submit" in line
    ]
    assert submitted, deployment.logs()

    # Forwarded headers: a failed sign-in is counted by the throttle against the address the
    # app believes. Through nginx a spoofed X-Forwarded-For is replaced by the real client's
    # address; sent straight to a server by a client that is not nginx, it is ignored.
    spoof = {"X-Forwarded-For": SPOOFED}
    wrong = {"email": DEMO_EMAIL, "password": "not-the-password"}
    candidates = [CLIENT_ADDRESS, NGINX_ADDRESS, SPOOFED]
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, timeout=10) as client:
        response = await client.post(
            f"{deployment.url}/api/v1/auth/token", json=wrong, headers=spoof
        )
        assert response.status_code == 401, response.text
        assert await throttled_addresses(deployment.redis, candidates) == {CLIENT_ADDRESS}
        await forget_failures(deployment.redis)
        response = await client.post(f"{a.base_url}/api/v1/auth/token", json=wrong, headers=spoof)
        assert response.status_code == 401, response.text
        assert await throttled_addresses(deployment.redis, candidates) == {CLIENT_ADDRESS}


# --- a rolling restart ---------------------------------------------------------------------------


async def test_a_rolling_restart_behind_nginx_fails_no_request(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = await make_tenant(database)
    headers = kiosk_headers(tenant.kiosk_key)
    channel = identifier("StoreChannel", store_id=str(tenant.store.id))
    async with (
        load_balanced(database_url, tmp_path) as deployment,
        httpx.AsyncClient(base_url=deployment.url, timeout=10) as http,
    ):
        cable = await CableClient.connect(deployment.url, token=tenant.kiosk_key)
        await cable.welcome()
        assert (await cable.subscribe(channel))["type"] == "confirm_subscription"
        # The server that holds the socket is the one to stop.
        [held_by] = [s for s in deployment.servers.values() if s.logged("cable_connected")]
        [other] = [s for s in deployment.servers.values() if s is not held_by]

        outcomes: list[int | str] = []
        stop = asyncio.Event()

        async def read_catalog_until_stopped() -> None:
            while not stop.is_set():
                try:
                    response = await http.get("/api/v1/catalog?limit=5", headers=headers)
                    outcomes.append(response.status_code)
                except httpx.TransportError as exc:
                    outcomes.append(type(exc).__name__)
                await asyncio.sleep(0.01)

        reader = asyncio.create_task(read_catalog_until_stopped())
        try:
            await within(PROMPT_S, lambda: _at_least(outcomes, 20), "requests before the restart")
            before = served(held_by, "/api/v1/catalog")
            assert before > 0

            held_by.process.send_signal(signal.SIGTERM)
            frame = await cable.receive(wait_s=PROMPT_S)
            assert frame == {"type": "disconnect", "reason": "server_restart", "reconnect": True}
            await cable.close()
            # A clean stop (uvicorn exits by the signal it handled, once it has shut down).
            exit_code = await asyncio.wait_for(held_by.process.wait(), 35)
            assert exit_code in (0, -signal.SIGTERM), held_by.log_tail()
            during = len(outcomes)

            # The client reconnects through nginx: it lands on the server still running.
            connects_before = _count(other, "cable_connected")
            cable = await CableClient.connect(deployment.url, token=tenant.kiosk_key)
            await cable.welcome()
            assert (await cable.subscribe(channel))["type"] == "confirm_subscription"
            assert _count(other, "cable_connected") == connects_before + 1
            async with httpx.AsyncClient(base_url=deployment.url, timeout=10) as operator_http:
                operator = await sign_in(operator_http, tenant.admin)
                response = await operator_http.patch(
                    f"/api/v1/stores/{tenant.store.id}/products/{tenant.product_id}/enrichment",
                    json={"sort_order": 3},
                    headers=operator,
                )
                assert response.status_code == 200, response.text
            [live] = await cable.messages(1, wait_s=PROMPT_S)
            assert live["message"]["data"]["sort_order"] == 3
            await cable.close()

            # Started again on its port, it takes traffic again (once nginx tries it after
            # `fail_timeout`).
            restarted = await start_server(
                held_by.name, held_by.port, deployment.env, deployment.log_dir
            )
            deployment.servers[held_by.name] = restarted
            await wait_ready(restarted)
            await within(
                PROMPT_S,
                lambda: _served_more(restarted, before),
                "the restarted server to receive requests through nginx",
            )
        finally:
            stop.set()
            await asyncio.wait_for(reader, 15)
        assert len(outcomes) > during
        # nginx did meet the stopped server, and passed those requests on to the other.
        assert any(len(tried) == 2 for tried in deployment.upstreams_used())
        failures = [outcome for outcome in outcomes if outcome != 200]
        assert failures == [], f"{len(failures)} of {len(outcomes)} failed: {failures[:5]}"


async def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count


async def _served_more(server: ServerProcess, than: int) -> bool:
    # The restarted process appends to the same log: its own lines come after the old ones.
    return served(server, "/api/v1/catalog") > than


def _count(server: ServerProcess, event: str) -> int:
    return sum(1 for item in server.log_events() if item.get("event") == event)
