"""`ridgeline cable-check`: what support runs when a kiosk gets no real-time updates.

It does what a kiosk does, step by step, and says which step fails: the key over HTTP, the
WebSocket handshake (subprotocol, origin), authentication (`welcome`), the kiosk's two channels,
a heartbeat, and the server's pings. Each failure names its likely cause (docs/operations.md,
"Kiosks get no real-time updates").
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Origin, Subprotocol

from ridgeline import __version__
from ridgeline.realtime.protocol import PROTOCOL_EXT, PROTOCOL_JSON, PROTOCOL_UNSUPPORTED

STEP_TIMEOUT_S = 10.0


@dataclass
class Step:
    name: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    pass


def _urls(base: str) -> tuple[str, str]:
    """(http base, ws /cable URL) from whatever the user typed (http(s):// or ws(s)://)."""
    parts = urlsplit(base if "://" in base else f"http://{base}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    http = urlunsplit((scheme, parts.netloc, "", "", "")).rstrip("/")
    ws = urlunsplit(("wss" if scheme == "https" else "ws", parts.netloc, "/cable", "", ""))
    return http, ws


class CableCheck:
    def __init__(self, base_url: str, key: str, *, origin: str | None = None) -> None:
        self.http_url, self.ws_url = _urls(base_url)
        self.key = key
        self.origin = origin
        self.steps: list[Step] = []

    def _pass(self, name: str, detail: str) -> None:
        self.steps.append(Step(name, True, detail))

    def _fail(self, name: str, detail: str) -> CheckFailed:
        self.steps.append(Step(name, False, detail))
        return CheckFailed(detail)

    async def run(self) -> list[Step]:
        try:
            store_id, kiosk_id = await self._kiosk()
            socket = await self._handshake()
            try:
                await self._session(socket, store_id, kiosk_id)
            finally:
                await socket.close()
        except CheckFailed:
            pass
        return self.steps

    async def _kiosk(self) -> tuple[str, str]:
        name = "kiosk key over HTTP"
        headers = {"Authorization": f"Bearer {self.key}", "User-Agent": f"ridgeline/{__version__}"}
        try:
            async with httpx.AsyncClient(timeout=STEP_TIMEOUT_S) as client:
                response = await client.get(f"{self.http_url}/api/v1/kiosks/me", headers=headers)
        except httpx.HTTPError as exc:
            raise self._fail(name, f"{self.http_url} unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            code = response.json().get("error", {}).get("code", "?") if response.content else "?"
            raise self._fail(name, f"HTTP {response.status_code} {code}: the key is refused")
        kiosk = response.json()["data"]
        self._pass(name, f"kiosk {kiosk['name']!r} ({kiosk['id']}), store {kiosk['store_id']}")
        return str(kiosk["store_id"]), str(kiosk["id"])

    async def _handshake(self) -> ClientConnection:
        name = "WebSocket handshake"
        offered = [Subprotocol(p) for p in (PROTOCOL_EXT, PROTOCOL_JSON, PROTOCOL_UNSUPPORTED)]
        started = time.perf_counter()
        try:
            socket = await connect(
                f"{self.ws_url}?token={self.key}",
                subprotocols=offered,
                origin=None if self.origin is None else Origin(self.origin),
                open_timeout=STEP_TIMEOUT_S,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            why = "the Origin is not in RIDGELINE_CABLE_ALLOWED_ORIGINS" if status == 403 else ""
            raise self._fail(name, f"refused with HTTP {status} {why}".strip()) from None
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise self._fail(
                name, f"{self.ws_url}: {type(exc).__name__}: {exc} (proxy or firewall?)"
            ) from None
        took_ms = (time.perf_counter() - started) * 1000
        if socket.subprotocol not in (PROTOCOL_EXT, PROTOCOL_JSON):
            raise self._fail(name, f"server chose subprotocol {socket.subprotocol!r}")
        self._pass(name, f"{socket.subprotocol} in {took_ms:.0f} ms")
        return socket

    async def _receive(self, socket: ClientConnection, *, pings: bool = False) -> dict[str, Any]:
        async with asyncio.timeout(STEP_TIMEOUT_S):
            while True:
                frame: dict[str, Any] = json.loads(await socket.recv())
                if frame.get("type") != "ping" or pings:
                    return frame

    async def _session(self, socket: ClientConnection, store_id: str, kiosk_id: str) -> None:
        try:
            welcome = await self._receive(socket)
        except (TimeoutError, WebSocketException) as exc:
            raise self._fail("authentication", f"no welcome: {type(exc).__name__}") from None
        if welcome.get("type") != "welcome":
            raise self._fail("authentication", f"refused: {welcome}")
        self._pass("authentication", "welcome" + (" with a session id" if "sid" in welcome else ""))
        for channel, params in (
            ("StoreChannel", {"store_id": store_id}),
            ("KioskChannel", {}),
        ):
            identifier = json.dumps({"channel": channel, **params})
            await socket.send(json.dumps({"command": "subscribe", "identifier": identifier}))
            try:
                reply = await self._receive(socket)
            except (TimeoutError, WebSocketException) as exc:
                raise self._fail(channel, f"no answer: {type(exc).__name__}") from None
            if reply.get("type") != "confirm_subscription":
                raise self._fail(channel, f"not confirmed: {reply}")
            self._pass(channel, "subscribed")
        heartbeat = {"action": "heartbeat", "app_version": f"cable-check/{__version__}"}
        kiosk_identifier = json.dumps({"channel": "KioskChannel"})
        message = {"command": "message", "identifier": kiosk_identifier}
        await socket.send(json.dumps({**message, "data": json.dumps(heartbeat)}))
        self._pass("heartbeat", f"sent for kiosk {kiosk_id}")
        started = time.perf_counter()
        try:
            frame = await self._receive(socket, pings=True)
            while frame.get("type") != "ping":
                frame = await self._receive(socket, pings=True)
        except (TimeoutError, WebSocketException) as exc:
            raise self._fail(
                "server pings", f"none within {STEP_TIMEOUT_S:.0f} s ({type(exc).__name__})"
            ) from None
        waited = time.perf_counter() - started
        self._pass("server pings", f"ping after {waited:.1f} s (a proxy must not buffer frames)")
