"""One HTTP exchange with a POS, classified: the bottom layer under the resilient client.

It sends exactly one request (no retries, no limits) and turns what came back into either a
`PosResponse` (any status below 500 except 401, 403 and 429) or a `PosError` that says what kind of
failure it was, with what the retry policy needs to decide (status, Retry-After).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx

from ridgeline.outbound import DestinationRefused, GuardedTransport, OutboundPolicy
from ridgeline.pos.base import EndpointClass, Headers, PosResponse, resolve_headers
from ridgeline.pos.errors import PosAuthFailed, PosRateLimited, PosUnavailable


class PosTimeout(PosUnavailable):
    code = "POS_TIMEOUT"


class PosConnectionFailed(PosUnavailable):
    code = "POS_CONNECTION_FAILED"


class PosServerError(PosUnavailable):
    code = "POS_SERVER_ERROR"


# Connections per POS origin (scheme, host and port), and how many of them stay open idle.
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# A pool dropped by a reset is closed once its requests have had this long to finish.
RETIRED_POOL_GRACE_S = 330.0


def origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or ''}"


class HttpPools:
    """One HTTP client (and so one connection pool) per POS origin, so that resetting one
    store's connection drops the connections to its POS host and no other.

    A dropped client is not closed at once: requests already on it finish (or time out) first,
    and it is closed at the next drop after `RETIRED_POOL_GRACE_S`, or at `aclose`. Requests
    look their client up when they start, so a retry after a reset uses the new pool.
    """

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        policy: OutboundPolicy | None = None,
    ) -> None:
        # A transport given here (tests: the simulator in-process) serves every origin; a
        # client given here serves every request, and is never dropped or closed by us. Our own
        # pools check each host against `policy` (ridgeline/outbound.py) before connecting.
        self.transport = transport
        self.client = client
        self.policy = policy
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._retired: list[tuple[float, httpx.AsyncClient]] = []

    def client_for(self, url: str) -> httpx.AsyncClient:
        if self.client is not None:
            return self.client
        origin = origin_of(url)
        client = self._clients.get(origin)
        if client is None:
            transport = self.transport
            if transport is None and self.policy is not None:
                transport = GuardedTransport(
                    self.policy, httpx.AsyncHTTPTransport(limits=POOL_LIMITS)
                )
            client = httpx.AsyncClient(limits=POOL_LIMITS, transport=transport)
            self._clients[origin] = client
        return client

    async def drop(self, url: str) -> bool:
        """Retires the origin's pool (the next request opens new connections). False when
        there was none."""
        now = time.monotonic()
        due = [client for at, client in self._retired if now - at >= RETIRED_POOL_GRACE_S]
        self._retired = [(at, c) for at, c in self._retired if now - at < RETIRED_POOL_GRACE_S]
        for client in due:
            await self._close(client)
        origin = origin_of(url)
        if origin not in self._clients:
            return False
        self._retired.append((now, self._clients.pop(origin)))
        return True

    async def aclose(self) -> None:
        clients = [*self._clients.values(), *(client for _, client in self._retired)]
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await self._close(client)

    async def _close(self, client: httpx.AsyncClient) -> None:
        if self.transport is None:  # a shared transport is its owner's to close
            await client.aclose()


class HttpxTransport:
    """`timeout` applies per request; the client is looked up per request, from the pools."""

    def __init__(self, pools: HttpPools, timeout: httpx.Timeout | None = None) -> None:
        self.pools = pools
        self.timeout = timeout

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
        try:
            response = await self.pools.client_for(url).request(
                method,
                url,
                headers=resolve_headers(headers),
                params=params,
                json=json_body,
                timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except DestinationRefused as exc:
            raise PosConnectionFailed(str(exc), endpoint=endpoint) from exc
        except httpx.TimeoutException as exc:
            raise PosTimeout(f"timed out: {type(exc).__name__}", endpoint=endpoint) from exc
        except httpx.TransportError as exc:
            raise PosConnectionFailed(
                f"connection failed: {type(exc).__name__}", endpoint=endpoint
            ) from exc
        status = response.status_code
        if status == 429:
            raise PosRateLimited(
                "the POS rate limited the request",
                endpoint=endpoint,
                status=status,
                retry_after=response.headers.get("retry-after"),
            )
        if status in (401, 403):
            raise PosAuthFailed(
                "the POS refused the credentials"
                if status == 401
                else "the credentials lack a permission this call needs",
                endpoint=endpoint,
                status=status,
            )
        if status >= 500:
            raise PosServerError(f"the POS answered {status}", endpoint=endpoint, status=status)
        return PosResponse(status=status, headers=dict(response.headers), body=response.content)
