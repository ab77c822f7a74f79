"""A private `redis-server` for tests: on a free loopback port, without persistence, that a test
can kill and start again on the same port (a Redis outage and its end, for real)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ridgeline.cli import children
from ridgeline.realtime.backplane import CHANNEL
from tests.net import free_port

REDIS_SERVER = "/usr/bin/redis-server"
STARTUP_TIMEOUT_S = 30.0  # generous: a loaded 2-core CI machine
STOP_TIMEOUT_S = 10.0


async def within(timeout_s: float, check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits until `check()` is true, at most `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        await asyncio.sleep(0.05)


async def stop_process(process: asyncio.subprocess.Process, *, kill: bool = False) -> None:
    signum = signal.SIGKILL if kill else signal.SIGTERM
    await children.stop_process(process, signum=signum, timeout_s=STOP_TIMEOUT_S)


class PrivateRedis:
    """`redis-server` on a free loopback port, without persistence, that can be killed and
    started again on the same port."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    async def start(self) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = await asyncio.create_subprocess_exec(
                REDIS_SERVER,
                "--save",
                "",
                "--appendonly",
                "no",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        client = self.client()
        try:

            async def answers() -> bool:
                assert self.process is not None
                assert self.process.returncode is None, (
                    f"redis-server exited: {self.log_path.read_text()[-2000:]}"
                )
                try:
                    return bool(await client.ping())
                except (RedisError, OSError):
                    return False

            await within(STARTUP_TIMEOUT_S, answers, "redis-server to answer")
        finally:
            await client.aclose()

    async def stop(self, *, kill: bool = False) -> None:
        if self.process is not None:
            await stop_process(self.process, kill=kill)
            self.process = None

    async def subscribers(self) -> int:
        client = self.client()
        try:
            counts = await client.pubsub_numsub(CHANNEL)
        finally:
            await client.aclose()
        return int(counts[0][1]) if counts else 0


def require_redis_server() -> None:
    """Skips the calling test where `redis-server` is not installed."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.skip(f"{REDIS_SERVER} is not installed")


@contextlib.asynccontextmanager
async def running_redis(log_dir: Path) -> AsyncIterator[PrivateRedis]:
    """A started `PrivateRedis`, stopped on the way out (whatever the test did to it)."""
    require_redis_server()
    server = PrivateRedis(log_dir / "redis.log")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(kill=True)
