"""The long-lived collaborators one process's API shares: built once, started and closed by the
app's lifespan in one place, and reached by endpoints through typed dependencies
(`ridgeline.api.dependencies`), never by attribute lookups on the app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import structlog

from ridgeline.api.rate_limits import ApiRateLimits
from ridgeline.auth.key_cache import KioskKeyCache
from ridgeline.auth.service import KioskKeyReader
from ridgeline.auth.throttle import SignInThrottle
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.catalog.listing import CatalogIndexCache
from ridgeline.clock import Clock, SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.monitoring.exposition import MetricsExposition, MetricsListener
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.activity import KioskActivity
from ridgeline.realtime.backplane import backplane_for
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.state import cable_state_for

log = structlog.get_logger(__name__)

# Kiosk key usage and kiosk activity are kept in memory and written in batches this often.
FLUSH_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    settings: Settings
    database: Database
    clock: Clock
    pos_connector: PosConnector
    hub: Hub
    # Kiosk keys for REST requests: the hub's cache (auth/key_cache.py), so the notices the hub
    # handles (revocation, disabled or deleted kiosk, key roll) empty it for both.
    kiosk_key_reader: KioskKeyReader
    kiosk_key_usage: KioskKeyUsage
    kiosk_activity: KioskActivity
    sign_in_throttle: SignInThrottle
    api_rate_limits: ApiRateLimits
    catalog_indexes: CatalogIndexCache
    metrics: MetricsExposition

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        database: Database | None = None,
        clock: Clock | None = None,
        pos_connector: PosConnector | None = None,
    ) -> Services:
        """Everything from `settings`; a test passes the collaborators it wants to hold itself."""
        database = database or Database.from_settings(settings)
        clock = clock or SystemClock()
        key_cache = KioskKeyCache(settings.cable_key_cache_ttl_s)
        return cls(
            settings=settings,
            database=database,
            clock=clock,
            pos_connector=pos_connector or PosConnector(settings, database, clock),
            hub=Hub(
                database=database,
                backplane=backplane_for(settings.redis_url),
                state=cable_state_for(settings.redis_url),
                clock=clock,
                ping_interval_s=settings.cable_ping_interval_s,
                poll_interval_s=settings.cable_poll_interval_s,
                queue_max=settings.cable_send_queue_max,
                session_ttl_s=settings.cable_session_ttl_s,
                key_cache=key_cache,
            ),
            kiosk_key_reader=KioskKeyReader(database, key_cache),
            kiosk_key_usage=KioskKeyUsage(),
            kiosk_activity=KioskActivity(clock),
            sign_in_throttle=(
                SignInThrottle.shared_through(
                    settings.redis_url, fallback_share=settings.pos_rate_limit_share
                )
                if settings.redis_url
                else SignInThrottle()
            ),
            api_rate_limits=ApiRateLimits.from_settings(settings, clock),
            catalog_indexes=CatalogIndexCache(),
            metrics=MetricsExposition(database, clock, token=settings.metrics_token),
        )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The hub, the batch flushers and (with `metrics_port`) the metrics listener run inside
        the block; on the way out each is stopped, what is batched is written, and the POS client,
        the Redis clients of the sign-in throttle and the API rate limits, and the database are
        closed (in the reverse order of starting: the hub stops before the kiosk activity's last
        flush)."""
        flush_key_usage = functools.partial(self.kiosk_key_usage.flush, self.database)
        flush_activity = functools.partial(self.kiosk_activity.flush, self.database)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.database.dispose)
            stack.push_async_callback(self.pos_connector.aclose)
            stack.push_async_callback(self.sign_in_throttle.aclose)
            stack.push_async_callback(self.api_rate_limits.aclose)
            stack.push_async_callback(flush_key_usage)
            stack.enter_context(_every(FLUSH_INTERVAL_S, flush_key_usage))
            await self.hub.start()
            stack.push_async_callback(flush_activity)
            stack.push_async_callback(self.hub.stop)
            stack.enter_context(_every(FLUSH_INTERVAL_S, flush_activity))
            if self.settings.metrics_port is not None:
                listener = MetricsListener(
                    self.metrics, host=self.settings.metrics_host, port=self.settings.metrics_port
                )
                await stack.enter_async_context(listener.running())
            yield


@contextlib.contextmanager
def _every(interval_s: float, flush: Callable[[], Awaitable[object]]) -> Iterator[None]:
    """`flush` every `interval_s` in the background while the block runs; a failed flush is
    logged and tried again at the next interval (what it holds stays batched until then)."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await flush()
            except Exception:
                log.exception("batch_flush_failed", flush=getattr(flush, "__qualname__", "?"))

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
