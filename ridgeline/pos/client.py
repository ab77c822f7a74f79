"""The resilient POS client: every adapter call goes through a store's `ResilientTransport`.

Per attempt: the vendor's rate limit, the store's circuit breaker, connect and total timeouts,
one classified HTTP exchange, the outcome recorded (breaker, `pos_calls` row, metric, log line),
then the retry decision (policy + the store's retry budget). See docs/resilience.md.

Callers must not hold a database write transaction while calling a POS: the breaker and the
call log write in their own short transactions, which on SQLite would wait on the caller's lock.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.health import service as health
from ridgeline.models.store import Store
from ridgeline.monitoring import tracing
from ridgeline.monitoring.statsd import timed_operation
from ridgeline.outbound import OutboundPolicy
from ridgeline.pos import service as pos_service
from ridgeline.pos.base import EndpointClass, Headers, PosResponse
from ridgeline.pos.call_log import CallRecord, PosCallLog
from ridgeline.pos.capabilities import PosAdapter
from ridgeline.pos.credentials import CredentialCipher, CredentialsRefused, CredentialsUnreadable
from ridgeline.pos.errors import PosAuthFailed, PosError, PosRateLimited
from ridgeline.pos.http import (
    HttpPools,
    HttpxTransport,
    PosConnectionFailed,
    PosServerError,
    PosTimeout,
)
from ridgeline.pos.schemas import BreakerView
from ridgeline.resilience import (
    AttemptFailure,
    CircuitBreakers,
    CircuitOpen,
    RateLimiter,
    RetryBudgets,
    RetryPolicy,
    StoreGuard,
)
from ridgeline.resilience.metrics import LimitKind
from ridgeline.resilience.retry import never_sent
from ridgeline.resilience.shared import SharedLimitsLink, limits_redis

log = structlog.get_logger(__name__)

# Adapters kept per process (one per store with a POS, beyond which the least used go).
MAX_CACHED_ADAPTERS = 2048

POS_REQUESTS = Counter(
    "ridgeline_pos_requests_total",
    "POS call attempts by outcome.",
    ["store_id", "vendor", "endpoint", "outcome"],
)
POS_REQUEST_DURATION = timed_operation(
    "pos_request",
    "ridgeline_pos_request_duration_seconds",
    "Duration of one POS call attempt.",
    ["store_id", "vendor", "endpoint", "status"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def classify(exc: BaseException) -> AttemptFailure | None:
    """How a transport failure counts for retries and the breaker (None: not the POS's doing)."""
    if isinstance(exc, PosTimeout):
        return AttemptFailure.timeout(request_sent=not never_sent(exc))
    if isinstance(exc, PosConnectionFailed):
        return AttemptFailure.connection(request_sent=not never_sent(exc))
    if isinstance(exc, PosRateLimited):
        return AttemptFailure.http_status(429, retry_after=exc.retry_after)
    if isinstance(exc, PosServerError | PosAuthFailed) and exc.status is not None:
        return AttemptFailure.http_status(exc.status)
    return None


@dataclass(frozen=True, slots=True)
class StoreRef:
    id: uuid.UUID
    organization_id: uuid.UUID
    vendor: str
    # The stored (encrypted) credentials the adapter was built with: a refusal by the POS marks
    # these, not whatever was saved since.
    credentials: str


class ResilientTransport:
    def __init__(
        self,
        *,
        store: StoreRef,
        inner: HttpxTransport,
        guard: StoreGuard,
        total_timeout_s: float,
        call_log: PosCallLog,
        clock: Clock,
    ) -> None:
        self.store = store
        self.inner = inner
        self.guard = guard
        self.total_timeout_s = total_timeout_s
        self.call_log = call_log
        self.clock = clock

    async def request(
        self,
        endpoint: EndpointClass,
        method: str,
        url: str,
        *,
        idempotent: bool,
        headers: Headers | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> PosResponse:
        attempts = 0

        async def attempt() -> PosResponse:
            nonlocal attempts
            attempts += 1
            with tracing.start_span(
                f"pos {self.store.vendor} {endpoint.value}",
                "client",
                {
                    "pos.vendor": self.store.vendor,
                    "pos.endpoint": endpoint.value,
                    "http.request.method": method,
                    "pos.attempt": attempts,
                    "store.id": str(self.store.id),
                },
            ) as span:
                return await self._attempt(
                    endpoint,
                    method,
                    url,
                    idempotent=idempotent,
                    headers=headers,
                    params=params,
                    json_body=json_body,
                    attempt=attempts,
                    span=span,
                )

        try:
            return await self.guard.call(
                endpoint.value, attempt, idempotent=idempotent, classify=classify
            )
        except CircuitOpen as exc:
            await self._record(endpoint, method, None, "CIRCUIT_OPEN", exc, self.clock.now(), 0)
            raise

    async def _attempt(
        self,
        endpoint: EndpointClass,
        method: str,
        url: str,
        *,
        idempotent: bool,
        headers: Headers | None,
        params: Mapping[str, str] | None,
        json_body: Any,
        attempt: int,
        span: tracing.Span | None,
    ) -> PosResponse:
        began = self.clock.now()
        try:
            async with asyncio.timeout(self.total_timeout_s):
                response = await self.inner.request(
                    endpoint,
                    method,
                    url,
                    idempotent=idempotent,
                    headers=headers,
                    params=params,
                    json_body=json_body,
                )
        except TimeoutError:
            failure = PosTimeout(f"no answer within {self.total_timeout_s:g} s", endpoint=endpoint)
            tracing.set_attributes(span, {"pos.outcome": failure.code})
            await self._record(endpoint, method, None, failure.code, failure, began, attempt)
            raise failure from None
        except PosError as exc:
            tracing.set_attributes(
                span, {"pos.outcome": exc.code, "http.response.status_code": exc.status}
            )
            await self._record(endpoint, method, exc.status, exc.code, exc, began, attempt)
            raise
        outcome = "success" if response.status < 400 else "rejected"
        tracing.set_attributes(
            span, {"pos.outcome": outcome, "http.response.status_code": response.status}
        )
        if response.status >= 400:
            tracing.mark_failed(span, f"the POS answered {response.status}")
        await self._record(endpoint, method, response.status, outcome, None, began, attempt)
        return response

    async def _record(
        self,
        endpoint: EndpointClass,
        method: str,
        status: int | None,
        outcome: str,
        error: BaseException | None,
        began: datetime,
        attempt: int,
    ) -> None:
        # On the injected clock, like the breaker's slow-call rule: the same duration for both.
        duration_s = (self.clock.now() - began).total_seconds()
        store_id = str(self.store.id)
        POS_REQUESTS.labels(store_id, self.store.vendor, endpoint.value, outcome).inc()
        POS_REQUEST_DURATION.labels(
            store_id, self.store.vendor, endpoint.value, str(status or outcome)
        ).observe(duration_s)
        duration_ms = round(duration_s * 1000, 1)
        fields = {
            "store_id": store_id,
            "vendor": self.store.vendor,
            "endpoint": endpoint.value,
            "method": method,
            "status": status,
            "outcome": outcome,
            "duration_ms": duration_ms,
            "attempt": attempt,
        }
        if error is None:
            log.info("pos_call_finished", **fields)
        else:
            log.warning("pos_call_failed", error=str(error), **fields)
        await self.call_log.record(
            CallRecord(
                organization_id=self.store.organization_id,
                store_id=self.store.id,
                vendor=self.store.vendor,
                endpoint=endpoint.value,
                method=method,
                status=status,
                outcome=outcome,
                error=None if error is None else str(error)[:2000],
                duration_ms=duration_ms,
                attempt=attempt,
                at=self.clock.now(),
                credentials=self.store.credentials,
            )
        )


class PosConnector:
    """Builds a store's adapter on the resilient transport. One per process: it owns the HTTP
    connection pool, the rate limits and retry budgets (in Redis with `redis_url`, shared by
    every process; else this process's own), and the breakers (whose state lives in the
    database, shared by every process)."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        clock: Clock,
        *,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clock = clock
        self.cipher = CredentialCipher(settings.encryption_keys)
        self.pools = HttpPools(transport, policy=OutboundPolicy.from_settings(settings))
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.policy = policy or RetryPolicy()
        # Scaled mode: every process draws from the same limits in Redis; while Redis does not
        # answer, each falls back to its share of them.
        share = settings.pos_rate_limit_share
        self._limits_redis = limits_redis(settings.redis_url) if settings.redis_url else None
        rate_link = budget_link = None
        if self._limits_redis is not None:
            rate_link = SharedLimitsLink(self._limits_redis, LimitKind.POS_RATE_LIMIT)
            budget_link = SharedLimitsLink(self._limits_redis, LimitKind.RETRY_BUDGET)
        self.limiter = RateLimiter(clock, share=share, shared=rate_link)
        self.budgets = RetryBudgets(clock, shared=budget_link, fallback_share=share)
        # A breaker transition and the store state it leads to commit together (health/).
        self.breakers = CircuitBreakers(database, clock, journal=health.on_breaker_transition)
        # Every attempt's `pos_calls` row, written in batches (call_log.py).
        self.call_log = PosCallLog(
            database,
            flush_after_s=settings.pos_call_log_flush_ms / 1000,
            max_rows=settings.pos_call_log_max_rows,
        )
        self._adapters: OrderedDict[AdapterKey, PosAdapter[Any]] = OrderedDict()

    def adapter_for(self, store: Store, *, refused_ok: bool = False) -> PosAdapter[Any]:
        """The store's adapter; `PosNotConfigured`, `CredentialsUnreadable` or (unless an
        operator asks, `refused_ok`) `CredentialsRefused` when it cannot be used.

        Kept per store, stored config and connection reset (provider and ciphertext: any change
        of either, a rotation included, builds a new one; so does `reset`), so what an adapter
        holds between calls (a Flowhub access token, a parsed key) lasts across jobs instead of
        being fetched again for each."""
        if store.pos_credentials_refused_at is not None and not refused_ok:
            raise CredentialsRefused(store.id, store.pos_credentials_refused_at)
        if store.pos_provider is not None and store.pos_config_encrypted is not None:
            key = (
                store.id,
                store.pos_provider,
                store.pos_config_encrypted,
                store.pos_connection_reset_at,
            )
            adapter = self._adapters.get(key)
            if adapter is None:
                adapter = self._build_adapter(store)
                self._adapters[key] = adapter
                while len(self._adapters) > MAX_CACHED_ADAPTERS:
                    self._adapters.popitem(last=False)
            else:
                self._adapters.move_to_end(key)
            return adapter
        return self._build_adapter(store)  # raises PosNotConfigured

    def _build_adapter(self, store: Store) -> PosAdapter[Any]:
        adapter_class, config = pos_service.stored_config(store, self.cipher)
        assert store.pos_config_encrypted is not None  # stored_config raised otherwise
        ref = StoreRef(
            store.id, store.organization_id, adapter_class.name, store.pos_config_encrypted
        )
        guard = StoreGuard(
            store_id=store.id,
            limits=adapter_class.rate_limits,
            limiter=self.limiter,
            breaker=self.breakers.for_store(store.id),
            budget=self.budgets.for_store(store.id),
            policy=self.policy,
            clock=self.clock,
            rng=self.rng,
        )
        timeout = httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s)
        transport = ResilientTransport(
            store=ref,
            inner=HttpxTransport(self.pools, timeout=timeout),
            guard=guard,
            total_timeout_s=config.timeout_s,
            call_log=self.call_log,
            clock=self.clock,
        )
        return adapter_class(config, transport, self.clock)

    async def breaker_view(self, store_id: uuid.UUID) -> BreakerView:
        snapshot = await self.breakers.for_store(store_id).snapshot()
        return BreakerView(
            state=snapshot.state.value,
            failure_rate=snapshot.failure_rate,
            slow_call_rate=snapshot.slow_call_rate,
            calls_in_window=snapshot.calls_in_window,
            open_until=snapshot.open_until,
            state_changed_at=snapshot.state_changed_at,
            last_reason=snapshot.last_reason,
            last_actor=snapshot.last_actor,
        )

    async def reset(self, store: Store) -> ResetOutcome:
        """Drops what this process holds for the store's POS connection: its cached adapters
        (and with them access tokens and parsed keys) and the pooled connections to its POS
        host. Other processes rebuild theirs when the caller moves `pos_connection_reset_at`."""
        dropped = [key for key in self._adapters if key[0] == store.id]
        for key in dropped:
            del self._adapters[key]
        pool_dropped = False
        if store.pos_provider is not None and store.pos_config_encrypted is not None:
            try:
                _, config = pos_service.stored_config(store, self.cipher)
            except CredentialsUnreadable:
                config = None
            if config is not None:
                pool_dropped = await self.pools.drop(config.base_url)
        return ResetOutcome(adapters_dropped=len(dropped), pool_dropped=pool_dropped)

    async def aclose(self) -> None:
        await self.call_log.aclose()
        await self.pools.aclose()
        if self._limits_redis is not None:
            await self._limits_redis.aclose()


@dataclass(frozen=True, slots=True)
class ResetOutcome:
    adapters_dropped: int
    pool_dropped: bool


AdapterKey = tuple[uuid.UUID, str, str, datetime | None]
