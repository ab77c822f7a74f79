"""Scaled mode for real: two `ridgeline serve` OS processes on one PostgreSQL database and a
private Redis (started here, so that it can be killed and restarted without touching anyone
else's). Proves cross-process delivery over the Redis backplane, that a Redis restart mid-stream
delays messages but loses none, presence and remote disconnect across processes, and session
restore on another process.

PostgreSQL only: several server processes cannot share one SQLite file, and this is what scaled
mode runs on. The `--db postgresql` pass of `make test` runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from ridgeline.db.engine import Database
from ridgeline.realtime.backplane import RedisBackplane, announcing_commits
from ridgeline.realtime.streams import append, store_stream
from tests.conftest import UNREACHED_API_RATE_LIMITS_ENV
from tests.factories import Tenant, make_tenant, sign_in
from tests.net import free_port
from tests.realtime.cable_client import CableClient, identifier
from tests.redis_server import STARTUP_TIMEOUT_S, PrivateRedis, stop_process, within

REPO_ROOT = Path(__file__).resolve().parents[2]
# With this poll interval a message can only arrive promptly through the Redis backplane.
LONG_POLL_S = 60.0
# "Promptly": far under LONG_POLL_S, generous for a loaded machine.
PROMPT_S = 5.0


@pytest.fixture(autouse=True)
def _postgresql_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--db") != "postgresql":
        pytest.skip(
            "scaled mode (several server processes on one database) needs PostgreSQL; "
            "runs in the `--db postgresql` pass"
        )


# --- server processes ----------------------------------------------------------------------------


@dataclass
class ServerProcess:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    events.append(item)
        return events

    def logged(self, event: str) -> bool:
        return any(item.get("event") == event for item in self.log_events())

    def log_tail(self, chars: int = 3000) -> str:
        return f"--- {self.name} log ---\n{self.log_path.read_text(errors='replace')[-chars:]}"


def server_env(database_url: str, redis_url: str, poll_interval_s: float) -> dict[str, str]:
    # Nothing RIDGELINE_* leaks in from the environment the suite runs in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RIDGELINE_")}
    env.update(
        {
            "RIDGELINE_ENV": "test",
            "RIDGELINE_DATABASE_URL": database_url,
            "RIDGELINE_REDIS_URL": redis_url,
            "RIDGELINE_RUN_WORKER_IN_PROCESS": "false",
            "RIDGELINE_LOG_FORMAT": "json",
            "RIDGELINE_CABLE_PING_INTERVAL_S": "1",
            "RIDGELINE_CABLE_POLL_INTERVAL_S": str(poll_interval_s),
            # These tests publish as fast as they can; the API's limits have tests of their own.
            **UNREACHED_API_RATE_LIMITS_ENV,
        }
    )
    return env


async def start_server(name: str, env: dict[str, str], log_dir: Path) -> ServerProcess:
    port = free_port()
    log_path = log_dir / f"server-{name}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ridgeline",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=REPO_ROOT,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    return ServerProcess(name, port, process, log_path)


async def wait_ready(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as http:

        async def ready() -> bool:
            assert server.process.returncode is None, (
                f"server {server.name} exited during start-up\n{server.log_tail()}"
            )
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        try:
            await within(STARTUP_TIMEOUT_S, ready, f"server {server.name} to be ready")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{server.log_tail()}") from None


@dataclass
class Cluster:
    redis: PrivateRedis
    a: ServerProcess
    b: ServerProcess


@asynccontextmanager
async def scaled_cluster(
    database_url: str, log_dir: Path, *, poll_interval_s: float
) -> AsyncIterator[Cluster]:
    """A private Redis and two server processes A and B, ready and both listening on the
    backplane; everything stopped on the way out, whatever happened."""
    redis = PrivateRedis(log_dir / "redis.log")
    servers: list[ServerProcess] = []
    try:
        await redis.start()
        env = server_env(database_url, redis.url, poll_interval_s)
        for name in ("a", "b"):
            servers.append(await start_server(name, env, log_dir))
        await asyncio.gather(*(wait_ready(server) for server in servers))

        async def both_listening() -> bool:
            return await redis.subscribers() >= 2

        # Ready for HTTP is not yet subscribed to the backplane; a notice before that is lost.
        await within(STARTUP_TIMEOUT_S, both_listening, "both backplanes to subscribe")
        yield Cluster(redis, servers[0], servers[1])
    except Exception as exc:
        exc.add_note(f"redis and server logs: {log_dir}")
        raise
    finally:
        await asyncio.gather(*(stop_process(server.process) for server in servers))
        await redis.stop()


# --- kiosk and operator helpers ------------------------------------------------------------------


def store_identifier(tenant: Tenant) -> str:
    return identifier("StoreChannel", store_id=str(tenant.store.id))


async def subscribed_kiosk(server: ServerProcess, tenant: Tenant) -> tuple[CableClient, str]:
    """A kiosk on `server` (extended protocol) subscribed to its store; and its sid."""
    client = await CableClient.connect(server.base_url, token=tenant.kiosk_key)
    welcome = await client.welcome()
    confirm = await client.subscribe(store_identifier(tenant))
    assert confirm == {"identifier": store_identifier(tenant), "type": "confirm_subscription"}
    return client, welcome["sid"]


class SignedInOperator:
    """The tenant's admin, signed in on one server process."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], tenant: Tenant) -> None:
        self.http = http
        self.headers = headers
        self.tenant = tenant

    async def set_sort_order(self, value: int) -> None:
        """An enrichment change: `product.updated` on the store stream, with `sort_order`."""
        tenant = self.tenant
        response = await self.http.patch(
            f"/api/v1/stores/{tenant.store.id}/products/{tenant.product_id}/enrichment",
            json={"sort_order": value},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text


@asynccontextmanager
async def operator_on(server: ServerProcess, tenant: Tenant) -> AsyncIterator[SignedInOperator]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as http:
        yield SignedInOperator(http, await sign_in(http, tenant.admin), tenant)


async def wait_session_saved(redis: PrivateRedis, sid: str) -> None:
    """Waits for the session of `sid` to be in Redis (a process saves it as the connection ends)."""
    key = f"ridgeline:cable:session:{hashlib.sha256(sid.encode()).hexdigest()}"
    client = redis.client()
    try:

        async def saved() -> bool:
            return bool(await client.exists(key))

        await within(5, saved, "the session to be saved")
    finally:
        await client.aclose()


def sort_orders(messages: list[dict[str, Any]]) -> list[int]:
    return [m["message"]["data"]["sort_order"] for m in messages]


def offsets(messages: list[dict[str, Any]]) -> list[int]:
    return [m["offset"] for m in messages]


# --- tests ---------------------------------------------------------------------------------------


async def test_changes_on_one_process_reach_a_kiosk_on_another_through_the_backplane(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """The database poll is set to 60 s: prompt delivery can only come from Redis."""
    tenant = await make_tenant(database)
    stream_id = store_stream(tenant.store.id)
    async with scaled_cluster(database_url, tmp_path, poll_interval_s=LONG_POLL_S) as cluster:
        kiosk, _ = await subscribed_kiosk(cluster.a, tenant)
        try:
            # An operator's change through process B's API.
            async with operator_on(cluster.b, tenant) as operator:
                changed = time.monotonic()
                await operator.set_sort_order(7)
            [message] = await kiosk.messages(1, wait_s=PROMPT_S)
            latency = time.monotonic() - changed
            assert message["message"]["type"] == "product.updated"
            assert message["message"]["data"]["id"] == str(tenant.product_id)
            assert message["message"]["data"]["sort_order"] == 7
            assert message["stream_id"] == stream_id
            assert latency < PROMPT_S

            # A commit by a process with no hub (as a standalone worker makes them).
            worker_db = Database(database_url)
            try:
                async with announcing_commits(worker_db, RedisBackplane(cluster.redis.url)):
                    async with worker_db.transaction() as session:
                        await append(
                            session,
                            stream_id,
                            "product.updated",
                            {"sort_order": 8},
                            at=datetime.now(UTC),
                        )
                    [from_worker] = await kiosk.messages(1, wait_s=PROMPT_S)
            finally:
                await worker_db.dispose()
            assert from_worker["message"]["data"] == {"sort_order": 8}
            assert from_worker["offset"] == message["offset"] + 1
            assert from_worker["epoch"] == message["epoch"]
        finally:
            await kiosk.close()
        assert not cluster.a.logged("backplane_disconnected"), cluster.a.log_tail()


async def reconnect_while_redis_is_away(server: ServerProcess, tenant: Tenant, sid: str) -> None:
    """A kiosk that reconnects meanwhile, with the sid the AnyCable client always sends back, is
    let in by its token: no session can be restored while Redis is away."""
    client = await CableClient.connect(server.base_url, token=tenant.kiosk_key, sid=sid)
    try:
        welcome = await client.welcome()
        assert "restored" not in welcome, welcome
    finally:
        await client.close()


async def test_a_redis_restart_mid_stream_delays_messages_but_loses_none(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    """Messages go on being committed through B while Redis is killed and restarted; the kiosk
    on A gets every one, once, in order. The poll is 60 s here too: what B committed while the
    notices were lost is found by the catch-up A's hub does from the database once its
    backplane has reconnected (the poll would only hide a broken catch-up)."""
    tenant = await make_tenant(database)
    async with scaled_cluster(database_url, tmp_path, poll_interval_s=LONG_POLL_S) as cluster:
        kiosk, sid = await subscribed_kiosk(cluster.a, tenant)
        try:
            async with operator_on(cluster.b, tenant) as operator:
                published = 0
                stop = asyncio.Event()

                async def publish_until_stopped() -> None:
                    nonlocal published
                    while not stop.is_set():
                        await operator.set_sort_order(published)
                        published += 1
                        await asyncio.sleep(0.02)

                publisher = asyncio.create_task(publish_until_stopped())
                try:

                    async def published_at_least(count: int) -> bool:
                        if publisher.done():
                            publisher.result()  # its error, if it failed
                            raise AssertionError("the publisher stopped")
                        return published >= count

                    await within(10, lambda: published_at_least(10), "10 messages")
                    await cluster.redis.stop(kill=True)
                    killed, before_outage = time.monotonic(), published
                    await reconnect_while_redis_is_away(cluster.a, tenant, sid)
                    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - killed)))
                    # Some messages are committed while their notices cannot go out.
                    await within(10, lambda: published_at_least(before_outage + 3), "more")
                    during_outage = published - before_outage
                    await cluster.redis.start()

                    async def a_reconnected() -> bool:
                        return cluster.a.logged("backplane_reconnected")

                    await within(10, a_reconnected, "A's backplane to reconnect")
                    after_reconnect = published
                    await within(10, lambda: published_at_least(after_reconnect + 10), "more")
                finally:
                    stop.set()
                    await asyncio.wait_for(publisher, 10)
            total = published
            assert during_outage >= 3, during_outage

            got = await kiosk.messages(total, wait_s=10)
            assert sort_orders(got) == list(range(total))
            first = got[0]["offset"]
            assert offsets(got) == list(range(first, first + total))
            assert len({m["epoch"] for m in got}) == 1
            await kiosk.nothing_for(0.5)  # and nothing twice
        finally:
            await kiosk.close()
        # Redis (and A's connections to it) came back whole: the kiosk's session is kept.
        await wait_session_saved(cluster.redis, sid)
        assert cluster.a.logged("backplane_disconnected"), cluster.a.log_tail()
        assert cluster.a.logged("backplane_reconnected"), cluster.a.log_tail()


async def test_presence_and_remote_disconnect_work_across_processes(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = await make_tenant(database)
    kiosk_id = str(tenant.kiosk.id)
    async with scaled_cluster(database_url, tmp_path, poll_interval_s=LONG_POLL_S) as cluster:
        kiosk, _ = await subscribed_kiosk(cluster.a, tenant)
        try:
            async with operator_on(cluster.b, tenant) as operator:

                async def shown_connected(expected: bool) -> bool:
                    response = await operator.http.get(
                        f"/api/v1/stores/{tenant.store.id}/kiosks", headers=operator.headers
                    )
                    assert response.status_code == 200, response.text
                    kiosks = {k["id"]: k for k in response.json()["data"]}
                    return bool(kiosks[kiosk_id]["connected"] is expected)

                await within(5, lambda: shown_connected(True), "B to show the kiosk connected")

                response = await operator.http.post(
                    f"/api/v1/kiosks/{kiosk_id}/disconnect",
                    json={"reconnect": False},
                    headers=operator.headers,
                )
                assert response.status_code == 202, response.text
                assert response.json()["data"]["connections"] == 1
                frame = await kiosk.receive(wait_s=PROMPT_S)
                assert frame == {"type": "disconnect", "reason": "remote", "reconnect": False}
                with pytest.raises(ConnectionClosed):
                    await kiosk.receive(wait_s=PROMPT_S)

                await within(5, lambda: shown_connected(False), "B to show it disconnected")
        finally:
            await kiosk.close()


async def test_a_session_left_on_one_process_is_restored_on_another(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    tenant = await make_tenant(database)
    ident = store_identifier(tenant)
    stream_id = store_stream(tenant.store.id)
    async with scaled_cluster(database_url, tmp_path, poll_interval_s=LONG_POLL_S) as cluster:
        first, sid = await subscribed_kiosk(cluster.a, tenant)
        try:
            async with operator_on(cluster.b, tenant) as operator:
                for value in range(2):
                    await operator.set_sort_order(value)
                seen = await first.messages(2, wait_s=PROMPT_S)
                await first.close()
                await wait_session_saved(cluster.redis, sid)  # A saves it as the socket ends
                for value in range(2, 5):
                    await operator.set_sort_order(value)
        finally:
            await first.close()

        second = await CableClient.connect(cluster.b.base_url, sid=sid)
        try:
            welcome = await second.welcome()
            assert welcome["restored"] is True
            assert welcome["restored_ids"] == [ident]
            assert welcome["sid"] != sid
            last = seen[-1]
            await second.send(
                {
                    "command": "history",
                    "identifier": ident,
                    "history": {
                        "streams": {stream_id: {"epoch": last["epoch"], "offset": last["offset"]}}
                    },
                }
            )
            replayed = await second.messages(3, wait_s=PROMPT_S)
            assert sort_orders(replayed) == [2, 3, 4]
            assert offsets(replayed) == [last["offset"] + i for i in (1, 2, 3)]
            assert await second.receive() == {"identifier": ident, "type": "confirm_history"}

            # And live again, now from a change made on A.
            async with operator_on(cluster.a, tenant) as operator:
                await operator.set_sort_order(5)
            [live] = await second.messages(1, wait_s=PROMPT_S)
            assert live["message"]["data"]["sort_order"] == 5
            assert live["offset"] == last["offset"] + 4
        finally:
            await second.close()
