"""The fan-out benchmark's load generator: N kiosk sockets in one OS process, apart from the server
so that client CPU is not counted as server CPU. Run by `bench.fanout_bench`, not by hand:

    python -m bench.fanout_clients --kind ridgeline|socketio --url http://127.0.0.1:PORT
        --store-id ID --count N [--tokens FILE]

Each socket is a raw `websockets` connection speaking the wire protocol by hand (ActionCable
`actioncable-v1-ext-json` for Ridgeline, Engine.IO 4 / Socket.IO 5 text frames for the peer): far
lighter than 5,000 full client objects. Every delivered change is recorded as (key, receive time)
where the key is the stream offset (Ridgeline) or the change's `seq` (peer).

The driver talks to this process over stdin/stdout, one JSON object a line:
`{"cmd": "wait", "count": K, "timeout_s": T}` answers when every socket received K changes (or the
timeout passed); `{"cmd": "storm"}` drops every socket at once (the TCP connection aborted, as in a
store's network blip) and reconnects them all at once, a Ridgeline kiosk subscribing with `history`
from the last message it has (so it misses nothing and gets nothing twice); it answers when all are
back, with the time taken and the connection attempts that failed (each retried after 0.5 s);
`{"cmd": "dump", "path": P}` writes the records to P, closes the sockets and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from ridgeline.realtime.protocol import PROTOCOL_EXT

CONNECT_CONCURRENCY = 100
OPEN_TIMEOUT_S = 120.0
STORM_RETRY_S = 0.5
STORM_ATTEMPTS = 20


def raise_fd_limit() -> int:
    """As many sockets as the hard limit allows (one per kiosk, plus some)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Recorder:
    """Receive times of every delivered change, per socket, and a total to wait on."""

    def __init__(self, count: int) -> None:
        self.records: list[list[tuple[int, float]]] = [[] for _ in range(count)]
        # Per socket, where its stream is (Ridgeline): what a reconnect asks history from.
        self.positions: list[dict[str, Any] | None] = [None] * count
        self.frame_bytes = 0
        self.pings = 0
        self.frames = 0
        self.total = 0
        self.goal = 0
        self.reached = asyncio.Event()

    def record(self, index: int, key: int, received: float, size: int) -> None:
        self.records[index].append((key, received))
        self.frame_bytes += size
        self.total += 1
        if self.total >= self.goal:
            self.reached.set()

    async def wait(self, per_socket: int, timeout_s: float) -> dict[str, Any]:
        self.goal = per_socket * len(self.records)
        self.reached.clear()
        if self.total < self.goal:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reached.wait(), timeout_s)
        complete = sum(1 for r in self.records if len(r) >= per_socket)
        return {
            "event": "waited",
            "complete": complete,
            "total": self.total,
            "cpu_s": time.process_time(),  # the load generator's own CPU, to see if it saturates
            "pings": self.pings,
            "frames": self.frames,
        }


async def _open(url: str, subprotocols: list[Subprotocol] | None) -> ClientConnection:
    return await connect(
        url,
        subprotocols=subprotocols,
        compression=None,
        proxy=None,
        ping_interval=None,  # both servers ping at their protocol's level
        open_timeout=OPEN_TIMEOUT_S,
        max_size=2**20,
    )


# --- Ridgeline: ActionCable, reliable extension ---------------------------------------------------


async def ridgeline_kiosk(
    base: str, token: str, identifier: str, position: dict[str, Any] | None = None
) -> ClientConnection:
    """Connected and subscribed; with `position` (stream id, epoch, offset of the last message
    received), subscribed with `history` from there. Frames that arrive before the
    confirmation (a replay confirms after its messages) are left for the reader."""
    socket = await _open(f"{base}/cable?token={token}", [Subprotocol(PROTOCOL_EXT)])
    welcome = json.loads(await socket.recv())
    if welcome.get("type") != "welcome":
        raise RuntimeError(f"no welcome: {welcome}")
    command: dict[str, Any] = {"command": "subscribe", "identifier": identifier}
    if position is not None:
        stream = {"epoch": position["epoch"], "offset": position["offset"]}
        command["history"] = {"streams": {position["stream_id"]: stream}}
    await socket.send(json.dumps(command))
    if position is not None:
        return socket  # the reader takes the replay and its confirm_history
    while True:
        frame = json.loads(await socket.recv())
        if frame.get("type") == "confirm_subscription":
            return socket
        if frame.get("type") != "ping":
            raise RuntimeError(f"subscription not confirmed: {frame}")


async def ridgeline_reader(socket: ClientConnection, index: int, recorder: Recorder) -> None:
    async for text in socket:
        received = time.time()
        assert isinstance(text, str)
        recorder.frames += 1
        if text.startswith('{"type":"ping"'):
            recorder.pings += 1
            continue
        # A broadcast frame ends with `"offset":N}` (see ridgeline.realtime.protocol).
        at = text.rfind('"offset":')
        if at < 0:
            continue
        offset = int(text[at + 9 : -1])
        recorder.record(index, offset, received, len(text))
        if recorder.positions[index] is None:
            frame = json.loads(text)
            recorder.positions[index] = {"stream_id": frame["stream_id"], "epoch": frame["epoch"]}
        position = recorder.positions[index]
        assert position is not None
        position["offset"] = offset


# --- python-socketio: Engine.IO 4 over a websocket, Socket.IO 5 packets ---------------------------


async def socketio_kiosk(base: str, store_id: str) -> ClientConnection:
    socket = await _open(f"{base}/socket.io/?EIO=4&transport=websocket", None)
    opened = await socket.recv()
    if not isinstance(opened, str) or not opened.startswith("0{"):
        raise RuntimeError(f"no Engine.IO open packet: {opened!r}")
    await socket.send("40")  # Socket.IO CONNECT to the default namespace
    await _socketio_expect(socket, "40")
    await socket.send('420["join",' + json.dumps({"store_id": store_id}) + "]")
    await _socketio_expect(socket, "430")  # the join's acknowledgement
    return socket


async def _socketio_expect(socket: ClientConnection, prefix: str) -> None:
    while True:
        text = await socket.recv()
        assert isinstance(text, str)
        if text == "2":
            await socket.send("3")
            continue
        if not text.startswith(prefix):
            raise RuntimeError(f"expected {prefix}..., got {text[:200]!r}")
        return


async def socketio_reader(socket: ClientConnection, index: int, recorder: Recorder) -> None:
    async for text in socket:
        received = time.time()
        assert isinstance(text, str)
        recorder.frames += 1
        if text == "2":  # Engine.IO ping: a client that does not answer is dropped
            recorder.pings += 1
            await socket.send("3")
            continue
        # An event: 42["product.updated",{"seq":N,...}]
        at = text.find('"seq":')
        if not text.startswith("42") or at < 0:
            continue
        end = text.index(",", at)
        recorder.record(index, int(text[at + 6 : end]), received, len(text))


# --- the process ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    recorder = Recorder(args.count)
    base = args.url.replace("http://", "ws://")
    semaphore = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tokens: list[str] = json.loads(args.tokens.read_text()) if args.tokens else []
    identifier = json.dumps({"channel": "StoreChannel", "store_id": args.store_id})

    async def one(index: int) -> ClientConnection:
        async with semaphore:
            if args.kind == "ridgeline":
                return await ridgeline_kiosk(base, tokens[index], identifier)
            return await socketio_kiosk(base, args.store_id)

    failed_attempts = 0

    async def again(index: int) -> ClientConnection:
        """The storm's reconnect: all at once, each retried until it is back."""
        nonlocal failed_attempts
        for _ in range(STORM_ATTEMPTS):
            try:
                if args.kind == "ridgeline":
                    position = recorder.positions[index]
                    return await ridgeline_kiosk(base, tokens[index], identifier, position)
                return await socketio_kiosk(base, args.store_id)
            except Exception:
                failed_attempts += 1
                await asyncio.sleep(STORM_RETRY_S)
        raise RuntimeError(f"kiosk {index} not back after {STORM_ATTEMPTS} attempts")

    began = time.perf_counter()
    sockets = await asyncio.gather(*(one(i) for i in range(args.count)))
    connect_s = time.perf_counter() - began
    reader: Callable[[ClientConnection, int, Recorder], Coroutine[Any, Any, None]] = (
        ridgeline_reader if args.kind == "ridgeline" else socketio_reader
    )
    readers = [asyncio.create_task(reader(s, i, recorder)) for i, s in enumerate(sockets)]
    reply({"event": "ready", "connected": len(sockets), "connect_s": connect_s})

    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "wait":
            reply(await recorder.wait(command["count"], command["timeout_s"]))
        elif command["cmd"] == "storm":
            for task in readers:
                task.cancel()
            for sock in sockets:
                sock.transport.abort()  # no close handshake: the network went away
            await asyncio.gather(*readers, return_exceptions=True)
            failed_attempts = 0
            began = time.perf_counter()
            sockets = await asyncio.gather(*(again(i) for i in range(args.count)))
            back_s = time.perf_counter() - began
            readers = [asyncio.create_task(reader(s, i, recorder)) for i, s in enumerate(sockets)]
            reply({"event": "stormed", "back_s": back_s, "failed_attempts": failed_attempts})
        elif command["cmd"] == "dump":
            document = {"records": recorder.records, "frame_bytes": recorder.frame_bytes}
            await loop.run_in_executor(None, write_text, command["path"], json.dumps(document))
            break
    for task in readers:
        task.cancel()
    await asyncio.gather(*(asyncio.wait_for(s.close(), 5) for s in sockets), return_exceptions=True)
    reply({"event": "dumped"})


def write_text(path: str, text: str) -> None:
    Path(path).write_text(text)


def reply(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=["ridgeline", "socketio"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--store-id", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--tokens", type=Path, default=None, help="JSON list of kiosk keys")
    args = parser.parse_args()
    raise_fd_limit()
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
