"""Waits for a database connection: a checkout that finds every connection of the pool in use
(its size and its overflow) queues until one comes back, and every request or job behind it
waits as long. `MeasuredPool` counts those waits and times them
(`ridgeline_db_pool_waits_total`, `ridgeline_db_pool_wait_seconds`).

A checkout that is served at once, or that opens a new connection within the overflow, is not
a wait. The pool's own timeout still applies: a wait that ends in `TimeoutError` is counted too.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry

DB_POOL_WAITS = Counter(
    "ridgeline_db_pool_waits",
    "Checkouts that found every connection of this process's pool in use and had to wait.",
)
DB_POOL_WAIT_SECONDS = Histogram(
    "ridgeline_db_pool_wait_seconds",
    "How long a checkout that had to wait waited for a connection.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class MeasuredPool(AsyncAdaptedQueuePool):
    """The async engines' queue pool, with the checkouts that wait counted and timed."""

    def __init__(self, creator: Any, *, max_overflow: int = 10, **kwargs: Any) -> None:
        super().__init__(creator, max_overflow=max_overflow, **kwargs)
        self.max_connections = self.size() + max(max_overflow, 0)

    def _do_get(self) -> ConnectionPoolEntry:
        if self.checkedout() < self.max_connections:
            return super()._do_get()
        began = time.perf_counter()
        try:
            return super()._do_get()
        finally:
            DB_POOL_WAITS.inc()
            DB_POOL_WAIT_SECONDS.observe(time.perf_counter() - began)
