"""Outgoing calls the POS makes on its own: Treez and BLAZE webhooks, Flowhub postbacks.

Each push is a background task (it never delays the request that caused it), retried twice with
a short backoff on a connection error or a 5xx, and recorded so tests can see what was sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog

from ridgeline.clock import Clock
from ridgeline.possim.model import iso_ms

log = structlog.get_logger(__name__)

PUSH_TIMEOUT_S = 5.0
PUSH_ATTEMPTS = 3
PUSH_BACKOFF_S = 0.5


@dataclass(frozen=True)
class Push:
    url: str
    event: str
    body: dict[str, Any]


@dataclass
class Delivery:
    id: str
    store_id: str
    push: Push
    created_at: datetime
    attempts: int = 0
    status: int | None = None
    error: str | None = None
    delivered: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.push.url,
            "event": self.push.event,
            "body": self.push.body,
            "attempts": self.attempts,
            "status": self.status,
            "error": self.error,
            "delivered": self.delivered,
            "created_at": iso_ms(self.created_at),
        }


class Pusher:
    def __init__(self, clock: Clock, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clock = clock
        self._transport = transport
        self._tasks: set[asyncio.Task[None]] = set()
        self.deliveries: deque[Delivery] = deque(maxlen=1000)

    def send(self, store_id: str, pushes: list[Push]) -> list[Delivery]:
        started = []
        for push in pushes:
            delivery = Delivery(uuid.uuid4().hex, store_id, push, self._clock.now())
            self.deliveries.append(delivery)
            task = asyncio.get_running_loop().create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(delivery)
        return started

    def for_store(self, store_id: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.store_id == store_id]

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for pushes in flight (tests use this instead of sleeping)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=1.0)

    def forget(self) -> None:
        self.deliveries.clear()

    async def _deliver(self, delivery: Delivery) -> None:
        async with httpx.AsyncClient(transport=self._transport, timeout=PUSH_TIMEOUT_S) as client:
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                delivery.attempts = attempt
                try:
                    response = await client.post(delivery.push.url, json=delivery.push.body)
                except httpx.HTTPError as exc:
                    delivery.error = f"{type(exc).__name__}: {exc}"
                else:
                    delivery.status = response.status_code
                    delivery.error = None
                    if response.status_code < 500:
                        delivery.delivered = response.is_success
                        return
                if attempt < PUSH_ATTEMPTS:
                    await self._clock.sleep(PUSH_BACKOFF_S * attempt)
        log.warning("possim_push_failed", url=delivery.push.url, error=delivery.error)
