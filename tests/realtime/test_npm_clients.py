"""`/cable` driven by the real npm clients a kiosk front end is built on, run in Node.

The scripts in tests/js (`@rails/actioncable`, `@anycable/web`, pinned in its package-lock.json,
installed by `make install-js`, which the pytest targets run) report what the client sees, one
JSON object per line on stdout; the test acts on the server between reports (a change through the
REST API, stream appends, a remote disconnect, a network cut) and asserts on what the client
reported.

The AnyCable tests reach the server through a TCP proxy (tests/realtime/tcp_proxy.py). A drop
that carries a `disconnect` frame (an operator's remote disconnect, or `server_restart` when the
server stops) makes @anycable/core forget its sid (`delete this.sessionId` in action_cable_ext),
so only a drop without a frame, a cut network, exercises session restore; and the proxy keeps the
client away (refusing its reconnects) until the test has written what it will miss.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.realtime.streams import append_many, store_stream
from tests.factories import Tenant, make_tenant, sign_in
from tests.realtime.conftest import LiveServer
from tests.realtime.tcp_proxy import TcpProxy

JS_DIR = Path(__file__).resolve().parents[1] / "js"
# The longest any single report may take; a passing test takes far less. Generous: the suite runs
# on two workers, and a Node process started beside a busy one may wait seconds for the CPU.
WAIT_S = 30.0


class NodeClient:
    """A client script running in Node, and the reports it printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.reports: list[dict[str, Any]] = []
        self.other_output: list[str] = []  # stdout lines that are not reports, and stderr
        self._changed = asyncio.Event()
        self._readers = [
            asyncio.create_task(self._read_reports()),
            asyncio.create_task(self._read_stderr()),
        ]

    @classmethod
    @contextlib.asynccontextmanager
    async def run(cls, script: str, **options: object) -> AsyncIterator[NodeClient]:
        """Runs `node tests/js/<script> --name=value...`; the process is killed on the way out."""
        node = shutil.which("node")
        if node is None or not (JS_DIR / "node_modules").is_dir():
            pytest.fail("these tests need Node and tests/js/node_modules: run `make install-js`")
        arguments = [f"--{name.replace('_', '-')}={value}" for name, value in options.items()]
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / script),
            *arguments,
            cwd=JS_DIR,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        client = cls(process)
        try:
            yield client
            assert not client.of("error"), client.of("error")
        finally:
            await client.stop()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await asyncio.wait_for(self.process.wait(), WAIT_S)
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT_S)

    async def _read_reports(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            try:
                report = json.loads(line)
            except ValueError:
                report = None
            if isinstance(report, dict) and isinstance(report.get("event"), str):
                self.reports.append(report)
            else:
                self.other_output.append(line.decode(errors="replace").rstrip())
            self._changed.set()
        self._changed.set()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.other_output.append(line.decode(errors="replace").rstrip())

    def of(self, event: str) -> list[dict[str, Any]]:
        return [r for r in self.reports if r["event"] == event]

    async def reports_of(
        self, event: str, count: int = 1, *, wait_s: float = WAIT_S
    ) -> list[dict[str, Any]]:
        """Waits until `count` reports named `event` arrived (since the start); returns them."""
        try:
            async with asyncio.timeout(wait_s):
                while len(found := self.of(event)) < count:
                    if errors := self.of("error"):
                        raise AssertionError(f"the client failed: {errors[0]['message']}")
                    if self._readers[0].done():
                        raise AssertionError("the client exited")
                    self._changed.clear()
                    await self._changed.wait()
        except (TimeoutError, AssertionError) as exc:
            raise AssertionError(
                f"waiting for {count} {event!r} report(s): {str(exc) or 'timed out'}\n"
                f"reports: {self.reports}\nother output: {self.other_output}"
            ) from None
        return found


def cable_url(base_url: str, tenant: Tenant) -> str:
    return base_url.replace("http://", "ws://") + f"/cable?token={quote(tenant.kiosk_key)}"


async def publish(database: Database, clock: FakeClock, tenant: Tenant, counters: range) -> None:
    """Stream appends to the tenant's store, one transaction, `data.n` counting up."""
    async with database.transaction() as session:
        await append_many(
            session,
            store_stream(tenant.store.id),
            [("product.updated", {"n": n}) for n in counters],
            at=clock.now(),
        )


def counters_of(reports: Iterable[dict[str, Any]]) -> list[int]:
    return [r["message"]["data"]["n"] for r in reports]


async def until(condition: Callable[[], bool]) -> None:
    """Polls server or proxy state that has no event to wait on."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
async def network(live: LiveServer) -> AsyncIterator[TcpProxy]:
    """The kiosk's network to the live server, which a test can cut."""
    port = urlsplit(live.base_url).port
    assert port is not None
    proxy = TcpProxy("127.0.0.1", port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


# --- @rails/actioncable --------------------------------------------------------------------------


async def test_rails_actioncable_receives_a_catalog_change_made_through_the_api(
    live: LiveServer, database: Database
) -> None:
    tenant = await make_tenant(database)
    url = cable_url(live.base_url, tenant)
    async with NodeClient.run("actioncable_client.js", url=url, store_id=tenant.store.id) as kiosk:
        [connected] = await kiosk.reports_of("connected")
        assert connected["protocol"] == "actioncable-v1-json"

        async with httpx.AsyncClient(base_url=live.base_url) as http:
            headers = await sign_in(http, tenant.admin)
            response = await http.patch(
                f"/api/v1/stores/{tenant.store.id}/products/{tenant.product_id}/enrichment",
                json={"description": "Bright and citrusy.", "featured": True},
                headers=headers,
            )
        assert response.status_code == 200, response.text

        [received] = await kiosk.reports_of("received")
        message = received["message"]
        assert set(message) == {"type", "data", "at"}
        assert message["type"] == "product.updated"
        assert message["data"]["id"] == str(tenant.product_id)
        assert message["data"]["description"] == "Bright and citrusy."
        assert message["data"]["featured"] is True
        assert datetime.fromisoformat(message["at"]).tzinfo is not None
        assert kiosk.of("disconnected") == []
        assert kiosk.of("rejected") == []


# --- @anycable/web -------------------------------------------------------------------------------


async def test_anycable_resubscribes_with_history_after_a_remote_disconnect(
    live: LiveServer, network: TcpProxy, database: Database, clock: FakeClock
) -> None:
    """An operator's disconnect (`remote`, reconnect true): the client forgets its sid (any
    `disconnect` frame ends the session, @anycable/core action_cable_ext), reconnects, and
    subscribes again with `history` from the offsets it saw; the server replays the gap."""
    tenant = await make_tenant(database)
    url = cable_url(f"http://127.0.0.1:{network.port}", tenant)
    async with NodeClient.run("anycable_client.js", url=url, store_id=tenant.store.id) as kiosk:
        await kiosk.reports_of("subscribed")
        await publish(database, clock, tenant, range(3))
        await kiosk.reports_of("message", 3)

        network.hold()  # it stays away while the missed messages are written
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            headers = await sign_in(http, tenant.admin)
            response = await http.post(
                f"/api/v1/kiosks/{tenant.kiosk.id}/disconnect",
                json={"reconnect": True},
                headers=headers,
            )
        assert response.status_code == 202, response.text
        [dropped, *_] = await kiosk.reports_of("disconnect")
        assert dropped["reason"] == "remote"
        await publish(database, clock, tenant, range(3, 8))
        await until(lambda: network.refused > 0)  # it tried to come back, and could not
        network.restore()

        [_, reconnected] = await kiosk.reports_of("connect", 2)
        assert (reconnected["reconnect"], reconnected["restored"]) == (True, False)
        await assert_every_message_once(kiosk, database, clock, tenant, missed=range(3, 8))
        assert kiosk.of("close") == []


@pytest.mark.parametrize("session_recovery", ["on", "off"])
async def test_anycable_gets_what_it_missed_during_a_network_cut_exactly_once(
    live: LiveServer,
    network: TcpProxy,
    database: Database,
    clock: FakeClock,
    session_recovery: str,
) -> None:
    """The network goes (no frame from the server: it cannot say anything). With session
    recovery the client comes back with `?sid=`: the server restores the subscription and the
    client asks for `history` from its offsets. Without, it subscribes again with `history`."""
    tenant = await make_tenant(database)
    url = cable_url(f"http://127.0.0.1:{network.port}", tenant)
    async with NodeClient.run(
        "anycable_client.js",
        url=url,
        store_id=tenant.store.id,
        session_recovery=session_recovery,
    ) as kiosk:
        await kiosk.reports_of("subscribed")
        await publish(database, clock, tenant, range(3))
        await kiosk.reports_of("message", 3)

        network.cut()
        [dropped, *_] = await kiosk.reports_of("disconnect")
        assert dropped["reason"] == "transport_closed"
        # The server saw the connection go (and kept the session, for the client's sid).
        await until(lambda: not app_services(live.app).hub.connections)
        await publish(database, clock, tenant, range(3, 8))
        await until(lambda: network.refused > 0)  # it tried to come back, and could not
        network.restore()

        [_, reconnected] = await kiosk.reports_of("connect", 2)
        restored = session_recovery == "on"
        assert (reconnected["reconnect"], reconnected["restored"]) == (True, restored)
        [_, resubscribed] = await kiosk.reports_of("subscribed", 2)
        assert resubscribed["restored"] is restored
        await assert_every_message_once(kiosk, database, clock, tenant, missed=range(3, 8))
        assert kiosk.of("close") == []


async def assert_every_message_once(
    kiosk: NodeClient, database: Database, clock: FakeClock, tenant: Tenant, *, missed: range
) -> None:
    """After a reconnect: the history replay is confirmed, the messages written while the
    client was away arrive once, in order, and live delivery goes on after them."""
    # The client asks for history on its first subscribe too (`since` its start): one
    # confirmation then, and one for the reconnect.
    infos = await kiosk.reports_of("info", 2)
    assert [i["type"] for i in infos] == ["history_received", "history_received"]
    connects_and_infos = [r["event"] for r in kiosk.reports if r["event"] in {"connect", "info"}]
    assert connects_and_infos == ["connect", "info", "connect", "info"]
    await publish(database, clock, tenant, range(missed.stop, missed.stop + 1))
    await kiosk.reports_of("message", missed.stop + 1)
    # A sentinel written after all of them: a late duplicate would arrive before it.
    await publish(database, clock, tenant, range(missed.stop + 1, missed.stop + 2))
    total = missed.stop + 2
    await kiosk.reports_of("message", total)
    messages = kiosk.of("message")
    assert counters_of(messages) == list(range(total))
    offsets = [m["meta"]["offset"] for m in messages]
    assert offsets == list(range(offsets[0], offsets[0] + total))
    assert {m["meta"]["stream"] for m in messages} == {store_stream(tenant.store.id)}
    assert len({m["meta"]["epoch"] for m in messages}) == 1
