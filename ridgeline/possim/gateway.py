"""The request pipeline every dialect shares.

A dialect describes itself with a `DialectSpec` (its routes, how a request names its store, how
it checks credentials, its error bodies and rate limits); the `Gateway` runs each request
through: route -> store -> credentials -> rate limit -> faults before -> handler -> faults after
-> answer (or not), and logs it on the store.
"""

from __future__ import annotations

import json
import re
import traceback
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import structlog
from starlette.datastructures import Headers

from ridgeline.possim.asgi import Receive, Scope, Send, dump_json, read_body, send_bytes
from ridgeline.possim.connection import hold_then_reset, reset_connection
from ridgeline.possim.faults import (
    EndpointClass,
    Fault,
    FaultKind,
    RecordList,
    break_records,
    duplicate_page,
    shorten_page,
)
from ridgeline.possim.model import Dialect, Order, Product
from ridgeline.possim.orders import OrderRejected
from ridgeline.possim.pushes import Push
from ridgeline.possim.state import Simulator, Store

log = structlog.get_logger(__name__)


class DialectError(Exception):
    """A refusal in the dialect's own error shape; `reason` is Treez's `resultReason`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"DialectError({self.status}, {self.message!r})"


@dataclass
class SimRequest:
    method: str
    path: str  # below the dialect's prefix
    full_path: str
    url: str  # as the client sent it (scheme, Host header, raw path and query): Treez's `aud`
    query: dict[str, str]
    headers: Headers
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise DialectError(400, "The request body is not valid JSON.") from None

    def json_object(self) -> dict[str, Any]:
        body = self.json()
        if not isinstance(body, dict):
            raise DialectError(400, "The request body must be a JSON object.")
        return body


@dataclass
class SimResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    records: RecordList | None = None

    def payload(self) -> Any:
        return self.records.body() if self.records is not None else self.body


@dataclass
class Call:
    """What a handler gets: the request, the store it is for, and the simulator."""

    request: SimRequest
    store: Store
    simulator: Simulator

    @property
    def now(self) -> datetime:
        return self.simulator.clock.now()

    def push(self, pushes: list[Push]) -> None:
        if pushes:
            self.simulator.pusher.send(self.store.id, pushes)


Handler = Callable[[Call], Awaitable[SimResponse]]


class DialectRoute:
    def __init__(
        self,
        method: str,
        pattern: str,
        endpoint: EndpointClass,
        handler: Handler,
        *,
        also: frozenset[EndpointClass] = frozenset(),
        classify: Callable[[SimRequest], EndpointClass] | None = None,
        case_insensitive: bool = False,
    ) -> None:
        self.method = method
        self.pattern = pattern
        self.endpoint = endpoint
        self.handler = handler
        self.also = also
        self._classify = classify
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._regex = re.compile(f"^{regex}/?$", re.IGNORECASE if case_insensitive else 0)

    def match(self, path: str) -> dict[str, str] | None:
        found = self._regex.match(path)
        return found.groupdict() if found else None

    def endpoint_for(self, request: SimRequest) -> EndpointClass:
        return self._classify(request) if self._classify else self.endpoint

    def fault_classes(self, endpoint: EndpointClass) -> frozenset[str]:
        return frozenset({endpoint.value} | {c.value for c in self.also})


@dataclass
class _Outcome:
    status: int | None = None
    fault: str | None = None


@dataclass(frozen=True)
class RateOutcome:
    refusal: SimResponse | None
    headers: dict[str, str]


class DialectSpec(ABC):
    dialect: Dialect
    prefix: str  # path prefix on the simulator, e.g. "/blaze/api/v1/partner"

    @property
    @abstractmethod
    def routes(self) -> list[DialectRoute]: ...

    @abstractmethod
    def identify(self, request: SimRequest, simulator: Simulator) -> Store | None:
        """The store the request is for, from its credentials (not yet verified); None or a
        DialectError refuses the request before any store sees it."""

    @abstractmethod
    def authenticate(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> None:
        """Raise DialectError if the credentials are not good for this store and route."""

    @abstractmethod
    def error(self, status: int, message: str, reason: str | None = None) -> SimResponse:
        """An error body in the dialect's shape."""

    @abstractmethod
    def rate_limit(
        self, request: SimRequest, store: Store, route: DialectRoute, simulator: Simulator
    ) -> RateOutcome: ...

    @abstractmethod
    def rate_limited(self, retry_after_s: float | None) -> SimResponse:
        """The dialect's 429, for the `rate_limit` fault."""

    def unauthorized(self) -> SimResponse:
        return self.error(401, "Unauthorized", "UNAUTHORIZED")

    def forbidden(self) -> SimResponse:
        return self.error(403, "Forbidden", "FORBIDDEN")

    def product_pushes(self, store: Store, product: Product, *, removed: bool) -> list[Push]:
        """Webhooks this POS sends when a product changes (none by default)."""
        return []

    def order_pushes(self, store: Store, order: Order, *, created: bool) -> list[Push]:
        """Webhooks or postbacks this POS sends when an order is created or changes status."""
        return []


def dollars(cents: int) -> float:
    """Minor units to the decimal dollars most dialects send (49.99 serializes as `49.99`)."""
    return cents / 100


def query_int(
    request: SimRequest, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DialectError(400, f"{name} must be an integer", reason="INVALID_PARAMETER") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise DialectError(400, f"{name} is out of range", reason="INVALID_PARAMETER")
    return value


def query_bool(request: SimRequest, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise DialectError(400, f"{name} must be true or false", reason="INVALID_PARAMETER")


def retry_after_header(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"retry-after": f"{seconds:g}" if seconds != int(seconds) else str(int(seconds))}


class Gateway:
    """Serves one dialect for every store of that dialect."""

    def __init__(self, spec: DialectSpec, simulator: Simulator) -> None:
        self.spec = spec
        self.simulator = simulator

    def _request(self, scope: Scope, body: bytes) -> SimRequest:
        headers = Headers(scope=scope)
        full_path: str = scope["path"]
        raw_path = scope.get("raw_path") or full_path.encode()
        raw_path = raw_path.split(b"?", 1)[0]
        query_string: bytes = scope.get("query_string", b"")
        host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
        url = f"{scope.get('scheme', 'http')}://{host}{raw_path.decode('latin-1')}"
        if query_string:
            url += "?" + query_string.decode("latin-1")
        return SimRequest(
            method=scope["method"].upper(),
            path=full_path[len(self.spec.prefix) :] or "/",
            full_path=full_path,
            url=url,
            query=dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)),
            headers=headers,
            body=body,
        )

    def _route(self, request: SimRequest) -> DialectRoute | None:
        for route in self.spec.routes:
            if route.method != request.method:
                continue
            params = route.match(request.path)
            if params is not None:
                request.params = params
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = self._request(scope, await read_body(receive))
        route = self._route(request)
        if route is None:
            await self._send(send, self.spec.error(404, "Not found", "NOT_FOUND"))
            return
        try:
            store = self.spec.identify(request, self.simulator)
        except DialectError as exc:
            await self._send(send, self._error(exc))
            return
        if store is None:
            await self._send(send, self.spec.unauthorized())
            return
        endpoint = route.endpoint_for(request)
        outcome = _Outcome()
        try:
            await self._serve(request, route, store, endpoint, receive, send, outcome)
        finally:
            # Also when the connection is dropped in-process (the simulated httpx errors).
            store.log_request(
                request.method, request.full_path, endpoint.value, outcome.status, outcome.fault
            )

    async def _serve(
        self,
        request: SimRequest,
        route: DialectRoute,
        store: Store,
        endpoint: EndpointClass,
        receive: Receive,
        send: Send,
        outcome: _Outcome,
    ) -> None:
        """Answer one request, noting in `outcome` the status sent (None: none) and any fault."""
        spec, simulator = self.spec, self.simulator
        try:
            spec.authenticate(request, store, route, simulator)
        except DialectError as exc:
            outcome.status = await self._send(send, self._error(exc))
            return
        limited = spec.rate_limit(request, store, route, simulator)
        if limited.refusal is not None:
            outcome.status = await self._send(send, limited.refusal, limited.headers)
            return
        classes = route.fault_classes(endpoint)
        delays = store.faults.latencies(classes)
        if delays:
            outcome.fault = FaultKind.LATENCY.value
            await simulator.clock.sleep(sum(f.delay_s for f in delays))
        extra = limited.headers
        fault = store.faults.before_handler(classes)
        if fault is not None:
            outcome.fault = fault.kind.value
            outcome.status = await self._fail_before(fault, receive, send, extra)
            return
        response = await self._handle(route, Call(request, store, simulator))
        fault = store.faults.after_handler(classes, has_records=response.records is not None)
        if fault is None:
            outcome.status = await self._send(send, response, extra)
            return
        outcome.fault = fault.kind.value
        outcome.status = await self._fail_after(fault, store, response, receive, send, extra)

    async def _handle(self, route: DialectRoute, call: Call) -> SimResponse:
        try:
            return await route.handler(call)
        except DialectError as exc:
            return self._error(exc)
        except OrderRejected as exc:
            return self.spec.error(400, exc.message)
        except Exception:
            log.error(
                "possim_handler_failed",
                path=call.request.full_path,
                traceback=traceback.format_exc(),
            )
            return self.spec.error(500, "Internal server error", "INTERNAL_ERROR")

    def _error(self, exc: DialectError) -> SimResponse:
        response = self.spec.error(exc.status, exc.message, exc.reason)
        response.headers.update(exc.headers)
        return response

    async def _fail_before(
        self, fault: Fault, receive: Receive, send: Send, extra: Mapping[str, str]
    ) -> int | None:
        spec = self.spec
        if fault.kind is FaultKind.TIMEOUT:
            await hold_then_reset(receive, fault.delay_s)
            return None
        if fault.kind is FaultKind.RESET:
            await reset_connection(receive)
            return None
        if fault.kind is FaultKind.RATE_LIMIT:
            response = spec.rate_limited(fault.retry_after_s)
        elif fault.kind is FaultKind.UNAUTHORIZED:
            response = spec.unauthorized()
        elif fault.kind is FaultKind.FORBIDDEN:
            response = spec.forbidden()
        else:
            status = fault.status or 500
            response = spec.error(status, f"Simulated failure ({status})", "SIMULATED_FAILURE")
            response.headers.update(retry_after_header(fault.retry_after_s))
        return await self._send(send, response, extra)

    async def _fail_after(
        self,
        fault: Fault,
        store: Store,
        response: SimResponse,
        receive: Receive,
        send: Send,
        extra: Mapping[str, str],
    ) -> int | None:
        if fault.kind is FaultKind.DROP_RESPONSE_AFTER_ACCEPT:
            await reset_connection(receive)
            return None
        if fault.kind is FaultKind.MALFORMED_JSON:
            serialized = dump_json(response.payload())
            broken = serialized[: len(serialized) // 2] or b'{"'
            headers = {"content-type": "application/json", **extra, **response.headers}
            await send_bytes(send, response.status, broken, headers)
            return response.status
        assert response.records is not None
        if fault.kind is FaultKind.BAD_RECORDS:
            break_records(response.records, store.faults.rng)
        elif fault.kind is FaultKind.SHORT_PAGE:
            shorten_page(response.records)
        else:
            duplicate_page(response.records)
        return await self._send(send, response, extra)

    @staticmethod
    async def _send(
        send: Send, response: SimResponse, extra_headers: Mapping[str, str] | None = None
    ) -> int:
        headers = {"content-type": "application/json", **(extra_headers or {}), **response.headers}
        payload = response.payload()
        body = b"" if payload is None and response.status == 204 else dump_json(payload)
        await send_bytes(send, response.status, body, headers)
        return response.status
