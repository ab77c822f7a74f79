"""HTTP hygiene, pure ASGI like the rest of our middleware (docs/security.md#http-headers):
security headers on every answer (the outermost middleware, so that the others' errors get them
too), and inside the request context (logged, with a request id) a `Host` check and CORS for the
origins configured and no others."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ridgeline.api.middleware import header_value, send_error
from ridgeline.errors import InvalidHost

# What our own HTML pages load: scripts, styles and images from this server, the API and `/cable`
# same-origin. pages.py sends the same for its pages; the status pages get it from here.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# FastAPI's Swagger UI at /docs loads its script and style from jsDelivr and starts itself with an
# inline script; nothing else may run there.
DOCS_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# A JSON (or any non-HTML) answer loads nothing and is never framed: should a browser render one
# anyway (an old one sniffing, a user opening a URL), nothing in it can run.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
# One year; sent only on https (a browser ignores it on http, and it must not pin a test host).
HSTS = "max-age=31536000"

# Sent whatever the answer, unless the route set the header itself.
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    # Our URLs carry ids (stores, orders, incidents) and nothing we serve needs a referrer: none
    # is sent, the same as pages.py sends on its pages.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP answer; a header the route set is kept (the pages'
    own CSP, the catalog's and status page's `Cache-Control`). An answer with no `Cache-Control`
    of its own gets `no-store`: it may carry tokens (sign-in) or a tenant's data, and neither
    belongs in a browser's or a proxy's cache. Answers readable from any origin (the status
    page's feeds, `Access-Control-Allow-Origin: *`) may also be embedded from any origin
    (`Cross-Origin-Resource-Policy: cross-origin`); all others are same-origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"
        docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(
                    _missing(headers, _security_headers(headers, https=https, docs=docs))
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _security_headers(
    headers: Sequence[tuple[bytes, bytes]], *, https: bool, docs: bool
) -> list[tuple[bytes, bytes]]:
    values = {name.lower(): value for name, value in headers}
    html = values.get(b"content-type", b"").lower().startswith(b"text/html")
    csp = (DOCS_CSP if docs else PAGE_CSP) if html else API_CSP
    shared = values.get(b"access-control-allow-origin") == b"*"
    wanted = [
        *_ALWAYS,
        (b"content-security-policy", csp.encode()),
        (b"cross-origin-resource-policy", b"cross-origin" if shared else b"same-origin"),
        (b"cache-control", b"no-store"),
    ]
    if https:
        wanted.append((b"strict-transport-security", HSTS.encode()))
    return wanted


def _missing(
    headers: Iterable[tuple[bytes, bytes]], wanted: Iterable[tuple[bytes, bytes]]
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    return [(name, value) for name, value in wanted if name not in present]


# What a browser may send and read across origins: our request headers and the response headers
# a client paces or caches by.
_CORS_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE"
_CORS_REQUEST_HEADERS = b"Authorization, Content-Type, Idempotency-Key, If-None-Match, X-Request-ID"
_CORS_EXPOSED = b"ETag, Retry-After, RateLimit, RateLimit-Policy, X-Request-ID"
_PREFLIGHT_MAX_AGE = b"600"


class CorsMiddleware:
    """CORS for the configured origins only. A preflight from one of them is answered here (204);
    any other request from one gets `Access-Control-Allow-Origin` with its origin. A request
    from another origin passes through untouched: no CORS header, so the browser keeps the
    answer from the page (its preflight reaches the routes and gets their 405). Credentials
    are not allowed: the API takes bearer tokens, never cookies, so a browser has none to send."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        origin = header_value(scope, b"origin") if scope["type"] == "http" else None
        if origin is None or origin not in self.origins:
            await self.app(scope, receive, send)
            return
        allowed = [(b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
        preflight = scope["method"] == "OPTIONS" and header_value(
            scope, b"access-control-request-method"
        )
        if preflight:
            headers = [
                *allowed,
                (b"access-control-allow-methods", _CORS_METHODS),
                (b"access-control-allow-headers", _CORS_REQUEST_HEADERS),
                (b"access-control-max-age", _PREFLIGHT_MAX_AGE),
            ]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"access-control-allow-origin"
                ]
                headers += [*allowed, (b"access-control-expose-headers", _CORS_EXPOSED)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


class AllowedHostsMiddleware:
    """Refuses a request whose `Host` is not one this server answers for (400 INVALID_HOST; a
    WebSocket is closed before it is accepted). Behind a proxy that passes any name through, a
    forged `Host` would otherwise reach the app: into the links it builds from it."""

    def __init__(self, app: ASGIApp, *, hosts: Sequence[str]) -> None:
        self.app = app
        self.exact = frozenset(host.lower() for host in hosts if not host.startswith("*."))
        self.suffixes = tuple(host[1:].lower() for host in hosts if host.startswith("*."))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send_error(send, InvalidHost())

    def _allowed(self, scope: Scope) -> bool:
        host = (header_value(scope, b"host") or "").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))
