"""The per-process performance monitor: the figures the platform alert rules read.

Every Ridgeline process (an API server, a worker, or the one process of embedded mode) runs one
`PerformanceMonitor`. It keeps, in memory and bounded:

- the HTTP requests of the last `window_s` (300 s, monotonic time), at most
  `MAX_SAMPLES_PER_ROUTE` per route template, fed by `RequestContextMiddleware`;
- the process's CPU use and resident memory (psutil), sampled every `RESOURCE_EVERY_S`;
- the event loop's lag: a task sleeps `lag_interval_s` and measures how late it wakes (a
  coroutine that blocks the loop delays every request of the process by as much);
- the database pool's use, where the pool keeps a count (SQLite's may not: null).

`report()` is its JSON document (keys below); every `PUBLISH_EVERY_S` the process writes it to
`process_reports` with the injected clock's time, and the alert rules (alerts/evaluation.py),
judged in a worker job, read every live process's latest report: a rule reads a figure, it does
not measure it. `report()` keys:

- `process_key` ("{hostname}:{pid}:{start timestamp}"), `role` (api, worker, embedded), `pid`,
  `hostname`, `started_at`, `generated_at` (ISO 8601, the injected clock), `window_s`;
- `http.overall` and `http.routes[<route template>]`: `count` (requests in the window),
  `errors` (5xx among them), `error_rate` (errors / count), `p50_s`, `p95_s`, `p99_s` (null
  without requests);
- `process.cpu_percent` (100 = one core busy for the last sample's interval; null before the
  first), `process.rss_bytes`;
- `event_loop.lag_s` (the last measurement), `event_loop.lag_max_s` (the largest in the window);
- `db_pool`: `size`, `checked_out`, `overflow`, or null when the pool keeps no count;
- `realtime` (processes serving `/cable`, else null): `backplane` (memory, redis),
  `backplane_connected`, `connections` (this process's open `/cable` connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import psutil
import structlog
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import QueuePool

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.monitoring import repository
from ridgeline.monitoring.errors import log_unexpected
from ridgeline.realtime.backplane import MemoryBackplane
from ridgeline.realtime.hub import Hub

log = structlog.get_logger(__name__)

Role = Literal["api", "worker", "embedded"]

WINDOW_S = 300.0
MAX_SAMPLES_PER_ROUTE = 5_000
LAG_INTERVAL_S = 0.5
RESOURCE_EVERY_S = 5.0
PUBLISH_EVERY_S = 15.0
# A report older than this belongs to a process that is gone (or stuck): it is not judged.
LIVE_WITHIN = timedelta(seconds=60)
# Reports of processes gone this long are deleted.
KEEP_FOR = timedelta(days=1)
# Where `RequestContextMiddleware` puts the process's monitor in each request's state.
MONITOR_STATE = "performance"

PROCESS_CPU = Gauge(
    "ridgeline_process_cpu_percent", "This process's CPU use (100 = one core) at the last sample."
)
EVENT_LOOP_LAG = Gauge(
    "ridgeline_event_loop_lag_seconds", "How late the event loop last woke a sleeping task."
)
HTTP_REQUEST_P95 = Gauge(
    "ridgeline_http_request_p95_seconds",
    "95th percentile of request durations over the monitor's window, by route template.",
    ["route"],
)
PROCESS_MEMORY = Gauge(
    "ridgeline_process_memory_bytes", "This process's resident memory at the last sample."
)
DB_POOL_CHECKED_OUT = Gauge(
    "ridgeline_db_pool_checked_out", "Database connections checked out of this process's pool."
)
DB_POOL_OVERFLOW = Gauge(
    "ridgeline_db_pool_overflow",
    "Connections open beyond the pool's size (negative: that many of the size not yet opened).",
)


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of already sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _summary(samples: Sequence[tuple[float, float, bool]]) -> dict[str, Any]:
    durations = sorted(duration for _, duration, _ in samples)
    errors = sum(1 for _, _, failed in samples if failed)
    count = len(durations)
    return {
        "count": count,
        "errors": errors,
        "error_rate": errors / count if count else 0.0,
        "p50_s": percentile(durations, 0.50),
        "p95_s": percentile(durations, 0.95),
        "p99_s": percentile(durations, 0.99),
    }


class RequestWindow:
    """The requests of the last `window_s`: per route, (monotonic time, duration, 5xx)."""

    def __init__(
        self,
        window_s: float = WINDOW_S,
        *,
        max_per_route: int = MAX_SAMPLES_PER_ROUTE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self._max_per_route = max_per_route
        self._monotonic = monotonic
        self._routes: dict[str, deque[tuple[float, float, bool]]] = {}

    def observe(self, route: str, status: int, duration_s: float) -> None:
        now = self._monotonic()
        samples = self._routes.get(route)
        if samples is None:
            samples = self._routes[route] = deque(maxlen=self._max_per_route)
        samples.append((now, duration_s, status >= 500))
        self._expire(samples, now)

    def summary(self) -> dict[str, Any]:
        """`overall` and `routes`, each as `_summary` describes them."""
        now = self._monotonic()
        routes: dict[str, dict[str, Any]] = {}
        everything: list[tuple[float, float, bool]] = []
        for route, samples in list(self._routes.items()):
            self._expire(samples, now)
            if not samples:
                del self._routes[route]
                continue
            routes[route] = _summary(samples)
            everything.extend(samples)
        return {"overall": _summary(everything), "routes": routes}

    def _expire(self, samples: deque[tuple[float, float, bool]], now: float) -> None:
        cutoff = now - self.window_s
        while samples and samples[0][0] < cutoff:
            samples.popleft()


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    """What the platform alert rules read from one process's published report."""

    requests: int
    p95_s: float | None
    error_rate: float | None
    cpu_percent: float | None
    rss_bytes: float | None
    lag_max_s: float | None

    @classmethod
    def of(cls, report: dict[str, Any]) -> ProcessFigures:
        overall = (report.get("http") or {}).get("overall") or {}
        process = report.get("process") or {}
        loop = report.get("event_loop") or {}
        requests = int(overall.get("count") or 0)
        return cls(
            requests=requests,
            p95_s=_number(overall.get("p95_s")),
            error_rate=_number(overall.get("error_rate")) if requests else None,
            cpu_percent=_number(process.get("cpu_percent")),
            rss_bytes=_number(process.get("rss_bytes")),
            lag_max_s=_number(loop.get("lag_max_s")),
        )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


class PerformanceMonitor:
    """One process's figures (see the module docstring); `running()` samples and publishes."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        role: Role,
        *,
        window_s: float = WINDOW_S,
        lag_interval_s: float = LAG_INTERVAL_S,
        publish_every_s: float = PUBLISH_EVERY_S,
        process_key: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        hub: Hub | None = None,
    ) -> None:
        self.database = database
        self.hub = hub
        self.clock = clock
        self.role = role
        self.started_at = clock.now()
        self.hostname = socket.gethostname()
        self.pid = os.getpid()
        self.process_key = (
            process_key or f"{self.hostname}:{self.pid}:{int(self.started_at.timestamp())}"
        )
        self.window_s = window_s
        self.lag_interval_s = lag_interval_s
        self.publish_every_s = publish_every_s
        self.requests = RequestWindow(window_s, monotonic=monotonic)
        self._monotonic = monotonic
        self._process = psutil.Process(self.pid)
        self._cpu_percent: float | None = None
        # (monotonic time, lag): one per `lag_interval_s`, so the window bounds it.
        self._lags: deque[tuple[float, float]] = deque(
            maxlen=max(1, math.ceil(window_s / lag_interval_s)) + 1
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._gauged_routes: set[str] = set()

    def observe_request(self, route: str, status: int, duration_s: float) -> None:
        """One answered request (`route` is its template: bounded labels)."""
        self.requests.observe(route, status, duration_s)

    def report(self) -> dict[str, Any]:
        """This process's figures now, as a JSON-able document (keys: module docstring)."""
        http = self.requests.summary()
        for route, figures in http["routes"].items():
            HTTP_REQUEST_P95.labels(route).set(figures["p95_s"])
        for route in self._gauged_routes - http["routes"].keys():
            with contextlib.suppress(KeyError):  # a route quiet for the whole window
                HTTP_REQUEST_P95.remove(route)
        self._gauged_routes = set(http["routes"])
        lags = self._lags_in_window()
        pool = self._gauge_pool()
        return {
            "process_key": self.process_key,
            "role": self.role,
            "pid": self.pid,
            "hostname": self.hostname,
            "started_at": self.started_at.isoformat(),
            "generated_at": self.clock.now().isoformat(),
            "window_s": self.window_s,
            "http": http,
            "process": {"cpu_percent": self._cpu_percent, "rss_bytes": self._rss_bytes()},
            "event_loop": {
                "lag_s": self._lags[-1][1] if self._lags else None,
                "lag_max_s": max(lags) if lags else None,
            },
            "db_pool": pool,
            "realtime": self._realtime(),
        }

    def _realtime(self) -> dict[str, Any] | None:
        """The hub's link to the other processes (the status page's real-time rule reads it)."""
        if self.hub is None:
            return None
        backplane = self.hub.backplane
        return {
            "backplane": "memory" if isinstance(backplane, MemoryBackplane) else "redis",
            "backplane_connected": backplane.is_connected,
            "connections": len(self.hub.connections),
        }

    async def publish(self) -> None:
        """Writes this process's report (and forgets processes gone for a day)."""
        now = self.clock.now()
        report = self.report()
        async with self.database.transaction() as session:
            await repository.upsert_report(
                session,
                process_key=self.process_key,
                role=self.role,
                started_at=self.started_at,
                updated_at=now,
                report=report,
            )
            await repository.delete_reports_before(session, now - KEEP_FOR)

    async def start(self) -> None:
        """Starts the sampler and the publisher (call `stop` to end them)."""
        if self._tasks:
            return
        self._process.cpu_percent(interval=None)  # the first call only sets the baseline
        self._tasks = [
            asyncio.create_task(self._sample(), name="performance-sampler"),
            asyncio.create_task(self._publish_periodically(), name="performance-publisher"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[PerformanceMonitor]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def _sample(self) -> None:
        next_resources = self._monotonic()
        while True:
            began = self._monotonic()
            # Real time, not the injected clock: this measures the loop itself.
            await asyncio.sleep(self.lag_interval_s)
            woke = self._monotonic()
            lag = max(0.0, woke - began - self.lag_interval_s)
            self._lags.append((woke, lag))
            EVENT_LOOP_LAG.set(lag)
            if woke >= next_resources:
                next_resources = woke + RESOURCE_EVERY_S
                try:
                    self._sample_resources()
                except Exception as error:  # logged once; the lag keeps being measured
                    log_unexpected(log, "performance_sample_failed", error)

    def _sample_resources(self) -> None:
        try:
            self._cpu_percent = self._process.cpu_percent(interval=None)
        except psutil.Error:
            log.warning("performance_cpu_unreadable", exc_info=True)
            return
        PROCESS_CPU.set(self._cpu_percent)
        rss = self._rss_bytes()
        if rss is not None:
            PROCESS_MEMORY.set(rss)
        self._gauge_pool()

    def _gauge_pool(self) -> dict[str, int] | None:
        """The pool's use now, also set on its gauges."""
        pool = self._pool_use()
        if pool is not None:
            DB_POOL_CHECKED_OUT.set(pool["checked_out"])
            DB_POOL_OVERFLOW.set(pool["overflow"])
        return pool

    async def _publish_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.publish_every_s)
            try:
                await self.publish()
            except Exception as error:  # the next one may get through; the figures stay in memory
                log_unexpected(
                    log, "performance_report_not_published", error, process_key=self.process_key
                )

    def _lags_in_window(self) -> list[float]:
        cutoff = self._monotonic() - self.window_s
        return [lag for at, lag in self._lags if at >= cutoff]

    def _rss_bytes(self) -> int | None:
        try:
            return int(self._process.memory_info().rss)
        except psutil.Error:
            return None

    def _pool_use(self) -> dict[str, int] | None:
        pool = self.database.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return {"size": pool.size(), "checked_out": pool.checkedout(), "overflow": pool.overflow()}


async def live_reports(session: AsyncSession, *, now: datetime) -> list[dict[str, Any]]:
    """Every process's latest report written within `LIVE_WITHIN` of `now`."""
    return [
        {
            "process_key": row.process_key,
            "role": row.role,
            "started_at": row.started_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "report": row.report,
        }
        for row in await repository.reports_updated_since(session, now - LIVE_WITHIN)
    ]
