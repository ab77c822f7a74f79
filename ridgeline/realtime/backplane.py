"""How server processes tell each other "stream S has a message at offset N" (and remote
disconnects). The message itself is never on the backplane: it is in the database, where the hub
reads it. So a lost notice only delays a message (the hub's database poll finds it), never loses it.

- `MemoryBackplane` (embedded mode): one process, notices go straight to its own hub.
- `RedisBackplane` (scaled mode): Redis pub/sub on one channel. The listener reconnects by itself
  with backoff after Redis restarts, resubscribes, and then asks the hub to catch every stream up
  from the database, since notices published while it was away are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from ridgeline.db.engine import Database
from ridgeline.monitoring.errors import log_unexpected
from ridgeline.realtime.metrics import BACKPLANE_RECONNECTS
from ridgeline.realtime.state import redis_client

log = structlog.get_logger(__name__)

CHANNEL = "ridgeline:cable"
RECONNECT_BASE_S = 0.2
RECONNECT_CAP_S = 5.0


@dataclass(frozen=True, slots=True)
class StreamAdvanced:
    stream_id: str
    offset: int


@dataclass(frozen=True, slots=True)
class KioskDisconnect:
    kiosk_id: str
    reconnect: bool
    key_id: str | None = None  # only the connections this key opened (a revoked key's)


@dataclass(frozen=True, slots=True)
class KioskKeysChanged:
    """The kiosk's keys changed without its connections closing (a roll brought their expiry
    forward, the kiosk was deleted): every process forgets the keys it cached."""

    kiosk_id: str


Notice = StreamAdvanced | KioskDisconnect | KioskKeysChanged
NoticeHandler = Callable[[Notice], None]
Reconnected = Callable[[], Awaitable[None]]


def encode_notices(notices: Sequence[Notice]) -> str:
    items: list[dict[str, Any]] = []
    for notice in notices:
        if isinstance(notice, StreamAdvanced):
            items.append({"t": "s", "s": notice.stream_id, "o": notice.offset})
        elif isinstance(notice, KioskKeysChanged):
            items.append({"t": "k", "k": notice.kiosk_id})
        else:
            item: dict[str, Any] = {"t": "d", "k": notice.kiosk_id, "r": notice.reconnect}
            if notice.key_id is not None:
                item["y"] = notice.key_id
            items.append(item)
    return json.dumps(items, separators=(",", ":"))


def decode_notices(text: str | bytes) -> list[Notice]:
    """Notices in a backplane payload; anything malformed is skipped (and logged)."""
    try:
        items = json.loads(text)
    except ValueError:
        log.warning("backplane_bad_payload")
        return []
    notices: list[Notice] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if (
            item.get("t") == "s"
            and isinstance(item.get("s"), str)
            and isinstance(item.get("o"), int)
        ):
            notices.append(StreamAdvanced(item["s"], item["o"]))
        elif item.get("t") == "d" and isinstance(item.get("k"), str):
            key_id = item.get("y")
            notices.append(
                KioskDisconnect(
                    item["k"],
                    bool(item.get("r", True)),
                    key_id if isinstance(key_id, str) else None,
                )
            )
        elif item.get("t") == "k" and isinstance(item.get("k"), str):
            notices.append(KioskKeysChanged(item["k"]))
    return notices


class Backplane(ABC):
    """Publishes notices to every process and hands each process's hub the ones it receives."""

    @abstractmethod
    async def start(self, handler: NoticeHandler, reconnected: Reconnected) -> None: ...

    @abstractmethod
    async def publish(self, notices: Sequence[Notice]) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @property
    def is_connected(self) -> bool:
        return True


class MemoryBackplane(Backplane):
    """Embedded mode: this process is the only one, so publishing is handing over."""

    def __init__(self) -> None:
        self._handler: NoticeHandler | None = None

    async def start(self, handler: NoticeHandler, reconnected: Reconnected) -> None:
        self._handler = handler

    async def publish(self, notices: Sequence[Notice]) -> None:
        if self._handler is not None:
            for notice in notices:
                self._handler(notice)

    async def close(self) -> None:
        self._handler = None


class RedisBackplane(Backplane):
    """Scaled mode. Publishing never raises: with Redis down a notice is dropped (logged) and the
    receivers' database poll delivers the message a little later."""

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self._url = url
        self._channel = channel
        self._redis = redis_client(url)
        self._listener: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self, handler: NoticeHandler, reconnected: Reconnected) -> None:
        self._listener = asyncio.create_task(self._listen(handler, reconnected))

    @property
    def is_connected(self) -> bool:
        return self.connected.is_set()

    async def publish(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        try:
            await self._redis.publish(self._channel, encode_notices(notices))
        except (RedisError, OSError) as exc:
            log.warning("backplane_publish_failed", error=str(exc), notices=len(notices))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._redis.aclose()

    async def _listen(self, handler: NoticeHandler, reconnected: Reconnected) -> None:
        attempt = 0
        first = True
        while True:
            client: Redis = Redis.from_url(self._url, socket_connect_timeout=2)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self.connected.set()
                    attempt = 0
                    if not first:
                        BACKPLANE_RECONNECTS.inc()
                        log.info("backplane_reconnected")
                        await reconnected()
                    first = False
                    async for item in pubsub.listen():
                        if item.get("type") != "message":
                            continue
                        for notice in decode_notices(item["data"]):
                            handler(notice)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                attempt += 1
                delay = random.uniform(0, min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2**attempt))  # noqa: S311
                if isinstance(exc, RedisError | OSError):
                    log.warning(
                        "backplane_disconnected", error=str(exc), retry_in_s=round(delay, 2)
                    )
                else:
                    # A bug (a handler, a decoder): logged as one, once, and the listener lives
                    # on; dying silently would cut this process off from the others' notices.
                    log_unexpected(
                        log, "backplane_listener_failed", exc, retry_in_s=round(delay, 2)
                    )
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()


def backplane_for(redis_url: str | None) -> Backplane:
    return RedisBackplane(redis_url) if redis_url else MemoryBackplane()


# What commits hand the publisher: a batch of notices, or None to stop it once what came before
# is published.
PublishQueue = asyncio.Queue[list[Notice] | None]
# How long a stopping publisher may take over what is left before it is cancelled.
PUBLISHER_STOP_S = 5.0


def take_queued(queue: PublishQueue) -> tuple[list[Notice], bool]:
    """Every notice waiting in `queue`, without waiting; and whether a stop was among them."""
    notices: list[Notice] = []
    stopping = False
    while not queue.empty():
        batch = queue.get_nowait()
        if batch is None:
            stopping = True
        else:
            notices.extend(batch)
    return notices, stopping


async def publish_queued(queue: PublishQueue, backplane: Backplane) -> None:
    """Publishes what commits queue, a batch at a time (all that waits when one is taken),
    until a None is queued: then it publishes what came before and returns. A failed publish is
    logged; the receivers' database poll delivers those messages later.

    It is stopped by that None rather than by cancelling: a cancellation that arrives during a
    publish can be absorbed by the Redis client, which left the publisher (and the process
    stopping it) waiting forever on an empty queue."""
    stopping = False
    while not stopping:
        first = await queue.get()
        notices, stopping = take_queued(queue)
        if first is None:
            stopping = True
        else:
            notices = [*first, *notices]
        if not notices:
            continue
        try:
            await backplane.publish(notices)
        except Exception:
            log.exception("backplane_publish_failed", notices=len(notices))


async def stop_publisher(queue: PublishQueue, publisher: asyncio.Task[None]) -> None:
    """Asks `publisher` to publish what is queued and return; cancels it after
    `PUBLISHER_STOP_S` (what it still held is then left to the receivers' database poll)."""
    queue.put_nowait(None)
    done, _ = await asyncio.wait({publisher}, timeout=PUBLISHER_STOP_S)
    if not done:
        log.warning("backplane_publisher_stop_timed_out")
        publisher.cancel()


@contextlib.asynccontextmanager
async def announcing_commits(database: Database, backplane: Backplane) -> AsyncIterator[None]:
    """For a process without a hub (a standalone worker, the CLI): every commit that appended
    to streams is announced on the backplane, so kiosks on the servers hear of it at once."""
    queue: PublishQueue = asyncio.Queue()

    def on_commit(appended: Mapping[str, int]) -> None:
        queue.put_nowait([StreamAdvanced(s, o) for s, o in appended.items()])

    database.commit_listeners.append(on_commit)
    publisher = asyncio.create_task(publish_queued(queue, backplane), name="backplane-publish")
    try:
        yield
    finally:
        database.commit_listeners.remove(on_commit)
        # What is still queued goes out before the process ends.
        await stop_publisher(queue, publisher)
        await backplane.close()
