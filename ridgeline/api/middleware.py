"""Pure ASGI middleware (BaseHTTPMiddleware would break context variables).

Outermost first: `RequestContextMiddleware` (request id, access log, metrics, last-resort 500),
`BodyGuardMiddleware` (413 / 415 / unreadable bodies before any route runs), and
`DatabaseSessionMiddleware` (one session per request, committed before the response starts).
api/hygiene.py adds security headers around them all, and the `Host` check and CORS just inside
the first.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ridgeline.db.engine import Database, is_database_busy
from ridgeline.errors import (
    DatabaseBusy,
    InternalError,
    MalformedJSON,
    PayloadTooLarge,
    RidgelineError,
    UnsupportedMediaType,
    error_body,
)
from ridgeline.monitoring import tracing
from ridgeline.monitoring.context import reset_request_id, set_request_id
from ridgeline.monitoring.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS
from ridgeline.monitoring.performance import MONITOR_STATE, PerformanceMonitor

log = structlog.get_logger(__name__)

_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def send_error(send: Send, error: RidgelineError) -> None:
    body = json.dumps(error_body(error.code, error.message, error.details)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *((k.lower().encode(), v.encode()) for k, v in error.headers.items()),
    ]
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def header_value(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    """Gives every request an id (ours, or a sane `X-Request-ID` from the caller) that every log
    line and error body carries, echoes it, records the access log and metrics, and turns any
    exception that escaped the app into the 500 envelope without a stack trace. With a
    `monitor`, each request also feeds the process's performance window, and the request's
    state carries the monitor (for `GET /api/v1/system/performance`). With tracing on, each
    request is a server span, the child of the caller's W3C `traceparent` when it sends one."""

    def __init__(self, app: ASGIApp, *, monitor: PerformanceMonitor | None = None) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not tracing.tracing_enabled():  # not even the header scan
            await self._handle(scope, receive, send, None)
            return
        with tracing.start_span(
            scope["method"],
            "server",
            traceparent=header_value(scope, b"traceparent"),
            tracestate=header_value(scope, b"tracestate"),
        ) as span:
            await self._handle(scope, receive, send, span)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, span: tracing.Span | None
    ) -> None:
        offered = header_value(scope, b"x-request-id")
        request_id = offered if offered and _REQUEST_ID_PATTERN.match(offered) else uuid.uuid4().hex
        token = set_request_id(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if self.monitor is not None:
            scope.setdefault("state", {})[MONITOR_STATE] = self.monitor
        status = 500
        started = False
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if is_database_busy(exc):
                # Overload, not a bug: the transaction rolled back whole; the caller retries.
                log.warning("http_request_database_busy", method=scope["method"], error=str(exc))
                if not started:
                    await send_error(send_with_id, DatabaseBusy())
                tracing.mark_failed(span, exc)
            else:
                log.exception("http_request_crashed", method=scope["method"], path=scope["path"])
                if not started:
                    await send_error(send_with_id, InternalError())
                tracing.mark_failed(span, exc)
        finally:
            elapsed = time.perf_counter() - began
            route = _route_template(scope)
            _describe_span(span, scope["method"], route, status, request_id)
            HTTP_REQUESTS.labels(route, scope["method"], str(status)).inc()
            HTTP_REQUEST_DURATION.labels(route, scope["method"]).observe(elapsed)
            if self.monitor is not None:
                self.monitor.observe_request(route, status, elapsed)
            log.info(
                "http_request_finished",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            reset_request_id(token)


def _describe_span(
    span: tracing.Span | None, method: str, route: str, status: int, request_id: str
) -> None:
    if span is None:
        return
    span.update_name(f"{method} {route}")
    tracing.set_attributes(
        span,
        {
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "ridgeline.request_id": request_id,
        },
    )
    if status >= 500:
        tracing.mark_failed(span, f"answered {status}")


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class BodyGuardMiddleware:
    """Reads a request body up front, within a size limit, and refuses what no route could use:
    bodies over the limit (413), bodies that are not JSON (415), JSON that is not UTF-8 (400).
    Paths under `raw_body_prefixes` (signed POS webhooks) accept any media type."""

    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, raw_body_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.raw_body_prefixes = raw_body_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = header_value(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            error: RidgelineError = (
                PayloadTooLarge(details={"max_bytes": self.max_body_bytes})
                if declared.isdigit()
                else MalformedJSON("The Content-Length header is not a number.")
            )
            await send_error(send, error)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await send_error(send, PayloadTooLarge(details={"max_bytes": self.max_body_bytes}))
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        problem = self._check_body(scope, body)
        if problem is not None:
            await send_error(send, problem)
            return
        await self.app(scope, _replay(body), send)

    def _check_body(self, scope: Scope, body: bytes) -> RidgelineError | None:
        if not body or scope["path"].startswith(self.raw_body_prefixes):
            return None
        content_type = (header_value(scope, b"content-type") or "").split(";")[0].strip().lower()
        if not (content_type == "application/json" or content_type.endswith("+json")):
            return UnsupportedMediaType(details={"content_type": content_type or None})
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return MalformedJSON("The request body is not valid UTF-8.")
        return None


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # After the body, a receive only returns when the client goes away.
        return {"type": "http.disconnect"}

    return receive


class RequestSession:
    """The request's database session, opened on first use: requests that never touch the
    database (health, metrics, errors) never take a connection."""

    def __init__(self, database: Database, *, write: bool) -> None:
        self._database = database
        self._write = write
        self.session: AsyncSession | None = None
        self._after_commit: list[Callable[[], Awaitable[None]]] = []

    def after_commit(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` once the request's transaction has committed (never if it rolls back):
        for side effects outside the database that must not act on a change that is undone."""
        self._after_commit.append(action)

    def get(self) -> AsyncSession:
        if self.session is None:
            self.session = self._database.session(write=self._write)
        return self.session

    async def finish(self, *, commit: bool) -> None:
        if self.session is not None:
            if commit:
                await self.session.commit()
            else:
                await self.session.rollback()
        if not commit:
            return
        for action in self._after_commit:
            try:
                await action()
            except Exception:  # the change is committed: the response still reports it
                log.exception("after_commit_action_failed", action=repr(action))

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


class DatabaseSessionMiddleware:
    """Commits the request's transaction just before the response starts when the status is
    below 400, and rolls it back otherwise. Committing before the first byte means a client
    never sees success for a change that did not commit; a failed commit becomes a 500."""

    def __init__(self, app: ASGIApp, *, database: Database) -> None:
        self.app = app
        self.database = database

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder = RequestSession(self.database, write=scope["method"] not in _SAFE_METHODS)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["db"] = holder

        async def send_after_commit(message: Message) -> None:
            if message["type"] == "http.response.start":
                await holder.finish(commit=message["status"] < 400)
            await send(message)

        try:
            await self.app(scope, receive, send_after_commit)
        finally:
            await holder.close()
