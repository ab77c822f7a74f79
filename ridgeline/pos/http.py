"""One HTTP exchange with a POS, classified: the bottom layer under the resilient client.

It sends exactly one request (no retries, no limits) and turns what came back into either a
`PosResponse` (any status below 500 except 401, 403 and 429) or a `PosError` that says what kind of
failure it was, with what the retry policy needs to decide (status, Retry-After).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ridgeline.pos.base import EndpointClass, Headers, PosResponse, resolve_headers
from ridgeline.pos.errors import PosAuthFailed, PosRateLimited, PosUnavailable


class PosTimeout(PosUnavailable):
    code = "POS_TIMEOUT"


class PosConnectionFailed(PosUnavailable):
    code = "POS_CONNECTION_FAILED"


class PosServerError(PosUnavailable):
    code = "POS_SERVER_ERROR"


class HttpxTransport:
    """`timeout` applies per request (the shared client's pool serves every store)."""

    def __init__(self, client: httpx.AsyncClient, timeout: httpx.Timeout | None = None) -> None:
        self.client = client
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
            response = await self.client.request(
                method,
                url,
                headers=resolve_headers(headers),
                params=params,
                json=json_body,
                timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
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
