"""A small `/cable` client for tests: the wire protocol by hand, over a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from ridgeline.realtime.protocol import PROTOCOL_EXT, PROTOCOL_JSON, PROTOCOL_UNSUPPORTED

EXT_PROTOCOLS = (PROTOCOL_EXT, PROTOCOL_JSON, PROTOCOL_UNSUPPORTED)
PLAIN_PROTOCOLS = (PROTOCOL_JSON, PROTOCOL_UNSUPPORTED)


def identifier(channel: str, **params: str) -> str:
    return json.dumps({"channel": channel, **params})


class CableClient:
    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.pings = 0

    @classmethod
    async def connect(
        cls,
        base_url: str,
        *,
        token: str | None = None,
        protocols: Sequence[str] = EXT_PROTOCOLS,
        sid: str | None = None,
        origin: str | None = None,
    ) -> CableClient:
        query = []
        if token is not None:
            query.append(f"token={token}")
        if sid is not None:
            query.append(f"sid={sid}")
        url = (
            base_url.replace("http://", "ws://")
            + "/cable"
            + ("?" + "&".join(query) if query else "")
        )
        socket = await connect(
            url,
            subprotocols=list(protocols),  # type: ignore[arg-type]
            origin=origin,  # type: ignore[arg-type]
            open_timeout=10,
            max_size=2**24,
        )
        return cls(socket)

    @property
    def subprotocol(self) -> str | None:
        return self.socket.subprotocol

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(frame))

    async def receive(self, *, wait_s: float = 10.0, pings: bool = False) -> dict[str, Any]:
        """The next frame within `wait_s` (pings skipped unless asked for)."""
        async with asyncio.timeout(wait_s):
            while True:
                frame: dict[str, Any] = json.loads(await self.socket.recv())
                if frame.get("type") == "ping" and not pings:
                    self.pings += 1
                    continue
                return frame

    async def welcome(self) -> dict[str, Any]:
        frame = await self.receive()
        assert frame["type"] == "welcome", frame
        return frame

    async def subscribe(
        self, ident: str, *, history: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        command: dict[str, Any] = {"command": "subscribe", "identifier": ident}
        if history is not None:
            command["history"] = history
        await self.send(command)
        return await self.receive()

    async def messages(self, count: int, *, wait_s: float = 10.0) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while len(found) < count:
            frame = await self.receive(wait_s=wait_s)
            assert "message" in frame, frame
            found.append(frame)
        return found

    async def nothing_for(self, seconds: float) -> None:
        try:
            frame = await self.receive(wait_s=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {frame}")

    async def close(self) -> None:
        await self.socket.close()
