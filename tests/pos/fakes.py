"""A scripted stand-in for the transport: records what an adapter sends and answers from a
handler, so adapter behaviour (auth headers, paging, token reuse) is checked without a network."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ridgeline.pos.base import EndpointClass, Headers, PosResponse, resolve_headers


@dataclass(frozen=True)
class Sent:
    endpoint: EndpointClass
    method: str
    url: str
    idempotent: bool
    headers: Mapping[str, str]
    params: Mapping[str, str]
    json_body: Any


def reply(status: int = 200, body: Any = None, *, raw: bytes | None = None) -> PosResponse:
    content = raw if raw is not None else json.dumps(body).encode()
    return PosResponse(status=status, headers={"content-type": "application/json"}, body=content)


Handler = Callable[[Sent], PosResponse]


class ScriptedTransport:
    """Answers each request with `handler(sent)`; a handler may raise a `PosError` the way the
    real transport does for 401/403/429/5xx."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Sent] = []

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
        sent = Sent(
            endpoint,
            method,
            url,
            idempotent,
            dict(resolve_headers(headers) or {}),
            dict(params or {}),
            json_body,
        )
        self.sent.append(sent)
        return self.handler(sent)


def answers(*responses: PosResponse) -> Handler:
    """A handler that plays `responses` in order."""
    pending = list(responses)

    def handle(sent: Sent) -> PosResponse:
        assert pending, f"unexpected request {sent.method} {sent.url}"
        return pending.pop(0)

    return handle
