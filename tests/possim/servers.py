"""Real HTTP for the simulator's tests: uvicorn on a free 127.0.0.1 port, and a receiver that
records the webhooks and postbacks the simulator sends."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn

from ridgeline.possim.asgi import Receive, Scope, Send, read_body, send_json


@asynccontextmanager
async def running(
    app: Any, *, http: Literal["auto", "h11", "httptools"] = "auto"
) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port in this event loop; yield its URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=http,
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class Receiver:
    """A webhook/postback endpoint that records every JSON body posted to it."""

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self._arrived = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        self.received.append((scope["path"], json.loads(body or b"null")))
        self._arrived.set()
        await send_json(send, 200, {"ok": True})

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> list[tuple[str, Any]]:
        async with asyncio.timeout(timeout_s):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received
