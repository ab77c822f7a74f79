"""The fan-out benchmark's peer: what a Python team would otherwise build for kiosk push, a
python-socketio `AsyncServer` (ASGI) on uvicorn with the same uvicorn settings as `ridgeline serve`.
Run by `bench.fanout_bench`:

    python -m bench.fanout_peer --port PORT

Kiosks connect (websocket transport only) and send `join` with their store id (acknowledged); they
are put in the store's room. `POST /emit {"store_id", "event", "payload"}` broadcasts one event to
the room and answers once every socket of the room has it queued: the trigger a change in the
team's own REST API would call. No durable history, no offsets, no authentication: the bare
real-time path.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

import socketio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_peer_app() -> Any:
    sio = socketio.AsyncServer(
        async_mode="asgi", transports=["websocket"], cors_allowed_origins="*"
    )

    async def join(sid: str, data: dict[str, Any]) -> bool:
        await sio.enter_room(sid, f"store:{data['store_id']}")
        return True

    sio.on("join", join)

    async def emit(request: Request) -> JSONResponse:
        body = await request.json()
        await sio.emit(body["event"], body["payload"], room=f"store:{body['store_id']}")
        return JSONResponse({"ok": True})

    async def readyz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    http = Starlette(
        routes=[
            Route("/emit", emit, methods=["POST"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/healthz", readyz, methods=["GET"]),  # the bench's event-loop probe
        ]
    )
    return socketio.ASGIApp(sio, other_asgi_app=http)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    args = parser.parse_args()
    # The settings of ridgeline.cli.server.server_for, so both sides run the same HTTP/WS stack.
    config = uvicorn.Config(
        create_peer_app(),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="on",
        loop=args.loop,
    )
    with contextlib.suppress(KeyboardInterrupt):  # the driver stops us with SIGINT
        uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
