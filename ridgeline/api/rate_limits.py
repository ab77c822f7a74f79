"""Rate limits of our own API (OWASP API4:2023, unrestricted resource consumption).

Every request to a limited route draws one token from one budget, chosen by who calls and what
the request does (docs/security.md#api-rate-limits):

| caller (bucket keyed by) | read (GET, HEAD) | write (other methods) | order |
|---|---|---|---|
| kiosk key (the key) | `kiosk_read` | `kiosk_write` | `kiosk_order` |
| operator token (the operator) | `operator_read` | `operator_write` | `operator_write` |
| anonymous or failed credentials (address) | `anonymous_read` | `anonymous_write` | same |

and POS webhook deliveries (anonymous: the token is checked inside) draw from `webhook`, per
address. Order routes are placing an order and cancelling one. A kiosk's buckets are its key's
own: one kiosk in a retry loop runs out alone, its neighbours at the store keep theirs.

Where the buckets live is `QuotaLimiter`'s business (Redis in scaled mode, this process
otherwise or while Redis is away). The check itself runs in the authentication dependency (for
callers with credentials) and in an app-wide dependency for public routes
(`ridgeline.auth.dependencies`); what it drew is kept in the request's state, and
`RateLimitHeadersMiddleware` puts the `RateLimit-Policy` and `RateLimit` fields of the IETF
draft (draft-ietf-httpapi-ratelimit-headers-09) on the response, whatever the response is.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import FastAPI
from fastapi.requests import HTTPConnection
from prometheus_client import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.clock import Clock
from ridgeline.config import Settings, parse_api_rate_limit
from ridgeline.errors import RateLimited
from ridgeline.resilience.metrics import LimitKind
from ridgeline.resilience.quota import QuotaDraw, QuotaLimiter
from ridgeline.resilience.rate_limit import RateLimit
from ridgeline.resilience.shared import SharedLimitsLink, key_digest, limits_redis

# Routes that no budget counts: health checks and metrics (a load balancer or Prometheus polls
# them from few addresses, and throttling a probe would take a healthy process out of service)
# and the static pages and assets (no database work; a browser loads many at once).
UNLIMITED_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/",
        "/assets/{name}",
        "/dashboard",
        "/kiosk",
        "/status/assets/{name}",
    }
)
# (method, route) of the order budget: placing an order and cancelling one.
ORDER_ROUTES = frozenset({("POST", "/api/v1/orders"), ("POST", "/api/v1/orders/{order_id}/cancel")})
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_STATE_KEY = "ridgeline_rate_limit"

API_RATE_LIMITED = Counter(
    "ridgeline_api_rate_limited",
    "Requests to our API refused with 429 RATE_LIMITED, by caller kind and budget.",
    ["caller", "budget"],
)


class CallerKind(StrEnum):
    KIOSK = "kiosk"
    OPERATOR = "operator"
    ANONYMOUS = "anonymous"


class RequestClass(StrEnum):
    READ = "read"
    WRITE = "write"
    ORDER = "order"
    WEBHOOK = "webhook"


# The budget each (caller, request class) draws from; a pair not listed draws from the caller's
# write budget (an operator calling an order route: refused by role anyway).
_BUDGET_NAMES: Mapping[tuple[CallerKind, RequestClass], str] = {
    (CallerKind.KIOSK, RequestClass.READ): "kiosk_read",
    (CallerKind.KIOSK, RequestClass.WRITE): "kiosk_write",
    (CallerKind.KIOSK, RequestClass.ORDER): "kiosk_order",
    (CallerKind.OPERATOR, RequestClass.READ): "operator_read",
    (CallerKind.OPERATOR, RequestClass.WRITE): "operator_write",
    (CallerKind.ANONYMOUS, RequestClass.READ): "anonymous_read",
    (CallerKind.ANONYMOUS, RequestClass.WRITE): "anonymous_write",
    (CallerKind.ANONYMOUS, RequestClass.WEBHOOK): "webhook",
}
BUDGET_NAMES = frozenset(_BUDGET_NAMES.values())
# Every (caller, budget) has its series from the start, at 0: an alert needs no `absent()`.
for (_kind, _), _budget in _BUDGET_NAMES.items():
    API_RATE_LIMITED.labels(_kind.value, _budget)


def budgets_from(settings: Settings) -> dict[str, RateLimit]:
    """Each budget's limit, from its `RIDGELINE_API_RATE_LIMIT_<BUDGET>` setting."""
    budgets = {}
    for name in BUDGET_NAMES:
        limit, window_s, burst = parse_api_rate_limit(getattr(settings, f"api_rate_limit_{name}"))
        budgets[name] = RateLimit(limit=limit, period_s=window_s, burst=burst)
    return budgets


@dataclass(frozen=True, slots=True)
class Drawn:
    """What a request drew, kept in its state for the response headers."""

    budget: str
    draw: QuotaDraw

    def headers(self) -> list[tuple[bytes, bytes]]:
        limit = self.draw.limit
        window_s = max(1, round(limit.period_s))
        policy = f'"{self.budget}";q={limit.limit};w={window_s}'
        state = f'"{self.budget}";r={self.draw.remaining};t={math.ceil(self.draw.reset_s)}'
        return [(b"ratelimit-policy", policy.encode()), (b"ratelimit", state.encode())]


def classify(method: str, route_path: str, *, webhook: bool = False) -> RequestClass:
    if webhook:
        return RequestClass.WEBHOOK
    if (method, route_path) in ORDER_ROUTES:
        return RequestClass.ORDER
    return RequestClass.READ if method in _READ_METHODS else RequestClass.WRITE


def route_path(connection: HTTPConnection) -> str:
    """The matched route's template (`/api/v1/orders/{order_id}/cancel`)."""
    path = getattr(connection.scope.get("route"), "path", None)
    return path if isinstance(path, str) else connection.url.path


class ApiRateLimits:
    """The API's budgets and the buckets they are counted in; `limiter` None: limits off."""

    def __init__(self, budgets: Mapping[str, RateLimit], limiter: QuotaLimiter | None) -> None:
        missing = BUDGET_NAMES - set(budgets)
        if missing:
            raise ValueError(f"no limit for budgets {sorted(missing)}")
        self.budgets = dict(budgets)
        self.limiter = limiter

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> ApiRateLimits:
        """In Redis with `redis_url` (a client of its own, closed by `aclose`), else in this
        process; no limiter at all when `api_rate_limits_enabled` is off."""
        limiter = None
        if settings.api_rate_limits_enabled:
            shared = (
                SharedLimitsLink(limits_redis(settings.redis_url), LimitKind.API_RATE_LIMIT)
                if settings.redis_url
                else None
            )
            limiter = QuotaLimiter(
                clock, shared=shared, fallback_share=settings.pos_rate_limit_share
            )
        return cls(budgets_from(settings), limiter)

    @property
    def enabled(self) -> bool:
        return self.limiter is not None

    @staticmethod
    def caller_of(connection: HTTPConnection, caller: Principal | None) -> tuple[CallerKind, str]:
        """Whose bucket: the kiosk key, the operator, or the client address (stored hashed)."""
        if isinstance(caller, KioskPrincipal):
            return CallerKind.KIOSK, str(caller.key_id)
        if isinstance(caller, OperatorPrincipal):
            return CallerKind.OPERATOR, str(caller.operator_id)
        address = connection.client.host if connection.client else "unknown"
        return CallerKind.ANONYMOUS, key_digest(address)

    async def admit(
        self, connection: HTTPConnection, caller: Principal | None, *, webhook: bool = False
    ) -> None:
        """Draw the request's token; `RateLimited` when its budget has none left."""
        if self.limiter is None:
            return
        kind, identity = self.caller_of(connection, caller)
        method = connection.scope["method"]
        request_class = classify(method, route_path(connection), webhook=webhook)
        budget = _BUDGET_NAMES.get((kind, request_class), f"{kind.value}_write")
        draw = await self.limiter.draw(f"{budget}:{identity}", self.budgets[budget])
        connection.scope.setdefault("state", {})[_STATE_KEY] = Drawn(budget, draw)
        if draw.allowed:
            return
        API_RATE_LIMITED.labels(kind.value, budget).inc()
        raise RateLimited(
            max(1, math.ceil(draw.retry_after_s)),
            "Too many requests; wait for Retry-After before the next one.",
            details={
                "policy": budget,
                "limit": draw.limit.limit,
                "window_s": draw.limit.period_s,
                "burst": draw.limit.burst,
            },
        )

    async def aclose(self) -> None:
        if self.limiter is not None:
            await self.limiter.aclose()


class RateLimitHeadersMiddleware:
    """Adds `RateLimit-Policy` and `RateLimit` to every response of a request that drew from a
    budget: successes, errors and 429s alike (set in the request's state by `admit`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            drawn = state.get(_STATE_KEY)
            if message["type"] == "http.response.start" and isinstance(drawn, Drawn):
                message = {**message, "headers": [*message.get("headers", []), *drawn.headers()]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


_RATE_LIMITED_RESPONSE: dict[str, Any] = {
    "description": "`RATE_LIMITED`: this caller's budget for this kind of request is spent "
    "(docs/security.md#api-rate-limits).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    "headers": {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}},
        "RateLimit-Policy": {
            "description": 'The budget drawn from: `"<budget>";q=<limit>;w=<window_s>`.',
            "schema": {"type": "string"},
        },
        "RateLimit": {
            "description": 'What is left of it: `"<budget>";r=<remaining>;t=<seconds_to_full>`.',
            "schema": {"type": "string"},
        },
    },
}


def document_rate_limits(app: FastAPI) -> None:
    """Every limited route lists its 429 in the OpenAPI schema (added to the schema FastAPI
    generates, the way its docs extend it)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                if path in UNLIMITED_PATHS:
                    continue
                for operation in operations.values():
                    operation.setdefault("responses", {})["429"] = copy.deepcopy(
                        _RATE_LIMITED_RESPONSE
                    )
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
