"""Serving this process's Prometheus metrics: on the API's `/metrics`, or on a listener of its own.

Two ways to keep a scrape private (docs/monitoring.md#scraping):

- `RIDGELINE_METRICS_TOKEN`: the scraper must send `Authorization: Bearer <token>`.
- `RIDGELINE_METRICS_PORT`: every process (API and worker alike) serves `/metrics` on its own
  port at `RIDGELINE_METRICS_HOST` (loopback by default), and the API port no longer does. This is
  also how a worker, which has no HTTP port, is scraped: one scrape target per process.

The fleet gauges (stores, jobs, orders and alerts by state) are read from the database at most
once per `FLEET_REFRESH_S`, so a tight scrape interval costs no more than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import AuthenticationRequired, InvalidToken, RidgelineError, error_body
from ridgeline.monitoring.fleet import refresh_fleet_metrics

log = structlog.get_logger(__name__)

FLEET_REFRESH_S = 5.0
# A database this slow does not hold the scrape (Prometheus's default scrape timeout is 10 s).
FLEET_TIMEOUT_S = 3.0
# A scraper's request line and headers; anything longer is not a scraper.
MAX_REQUEST_BYTES = 16_384
READ_TIMEOUT_S = 10.0


class MetricsExposition:
    """What a scrape of this process returns, and whether the scraper may have it."""

    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        token: str | None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._clock = clock
        self._token = token
        self._monotonic = monotonic
        self._refreshed_at: float | None = None
        self._refresh_lock = asyncio.Lock()

    def check(self, authorization: str | None) -> None:
        """Raise the 401 a scraper without the configured bearer token gets."""
        if self._token is None:
            return
        if not authorization:
            raise AuthenticationRequired("Scraping /metrics needs RIDGELINE_METRICS_TOKEN.")
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            credential.strip().encode(), self._token.encode()
        ):
            raise InvalidToken("The metrics token is not the configured one.")

    async def payload(self) -> bytes:
        """The Prometheus text: this process's figures and the fleet gauges, refreshed when older
        than `FLEET_REFRESH_S`. A database that fails or does not answer within `FLEET_TIMEOUT_S`
        leaves the fleet gauges as they were (the scrape still answers: the process figures
        matter most then)."""
        await self._refresh_fleet()
        return generate_latest()

    async def _refresh_fleet(self) -> None:
        async with self._refresh_lock:
            now = self._monotonic()
            if self._refreshed_at is not None and now - self._refreshed_at < FLEET_REFRESH_S:
                return
            self._refreshed_at = now
            try:
                async with asyncio.timeout(FLEET_TIMEOUT_S):
                    async with self._database.session(write=False) as session:
                        await refresh_fleet_metrics(session, self._clock.now())
            except Exception as error:  # a scrape must answer without the database
                log.warning("fleet_metrics_refresh_failed", error=type(error).__name__)


class MetricsListener:
    """`GET /metrics` on a port of its own: a small HTTP/1.1 responder (one request per
    connection), so a worker process can be scraped and the API port need not expose metrics."""

    def __init__(self, exposition: MetricsExposition, *, host: str, port: int) -> None:
        self._exposition = exposition
        self.host = host
        self.port = port

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[MetricsListener]:
        server = await asyncio.start_server(self._answer, self.host, self.port)
        self.port = server.sockets[0].getsockname()[1]  # the bound port when 0 was asked for
        log.info("metrics_listener_started", host=self.host, port=self.port)
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            status, headers, body = await self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, headers, body = _error(400, "BAD_REQUEST", "Not an HTTP request.")
        except ConnectionError:
            writer.close()
            return
        try:
            writer.write(_http_response(status, headers, body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _respond(self, head: bytes) -> tuple[int, dict[str, str], bytes]:
        if len(head) > MAX_REQUEST_BYTES:
            return _error(400, "BAD_REQUEST", "Request headers too large.")
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = [*lines[0].split(" "), "", ""][:3]
        if not version.startswith("HTTP/1."):
            return _error(400, "BAD_REQUEST", "Not an HTTP/1 request.")
        path = target.partition("?")[0]
        if path != "/metrics":
            return _error(404, "ROUTE_NOT_FOUND", "Only /metrics is served on this port.")
        if method not in ("GET", "HEAD"):
            return _error(405, "METHOD_NOT_ALLOWED", "Use GET.")
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        try:
            self._exposition.check(fields.get("authorization"))
        except RidgelineError as error:
            return _error(error.status_code, error.code, error.message)
        body = await self._exposition.payload()
        return 200, {"Content-Type": CONTENT_TYPE_LATEST}, b"" if method == "HEAD" else body


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body: dict[str, Any] = error_body(code, message)
    headers = {"Content-Type": "application/json"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return status, headers, json.dumps(body).encode()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Not Allowed",
}


def _http_response(status: int, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body
