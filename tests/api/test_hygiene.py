"""HTTP hygiene (docs/security.md#http-headers): the security headers on every kind of answer
(JSON, the middlewares' errors, HTML pages, /metrics, /healthz) without overriding what a route
set itself; CORS for the configured origins only; a `Host` not configured refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest

from ridgeline.api.hygiene import API_CSP, HSTS, PAGE_CSP
from ridgeline.app import app_services, create_app
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from tests.assertions import assert_error
from tests.factories import bearer, make_tenant

ORIGIN = "https://console.example.com"
ClientFor = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def client_for(settings: Settings, database: Database, clock: FakeClock) -> ClientFor:
    """A client of an app made with `changes` to the suite's settings."""

    @asynccontextmanager
    async def client(
        base_url: str = "http://testserver", **changes: object
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update=changes), database=database, clock=clock)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
                yield http
        finally:
            await app_services(app).pos_connector.aclose()

    return client


def assert_secured(response: httpx.Response, *, csp: str = API_CSP) -> None:
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["content-security-policy"] == csp
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "strict-transport-security" not in headers  # plain http


async def test_a_json_answer_is_secured_and_never_cached(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    response = await client.get("/api/v1/kiosks/me", headers=bearer(tenant.kiosk_key))
    assert response.status_code == 200
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("GET", "/api/v1/no-such-route", {}, 404),
        ("GET", "/api/v1/organizations", {}, 401),
        (
            "POST",
            "/api/v1/auth/token",
            {"content": b"x" * 2_000_000, "headers": {"content-type": "application/json"}},
            413,
        ),
    ],
)
async def test_errors_are_secured(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.json()["status"] == "error"
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


async def test_a_rate_limited_answer_is_secured(client_for: ClientFor) -> None:
    async with client_for(api_rate_limit_anonymous_read="2/60s burst 1") as client:
        statuses = [(await client.get("/api/v1/status")).status_code for _ in range(3)]
        response = await client.get("/api/v1/status")
    assert 429 in statuses
    assert response.status_code == 429
    assert_secured(response)
    assert response.headers["retry-after"]


async def test_pages_keep_their_own_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-cache"  # the page's own, revalidated by ETag
    again = await client.get("/", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "no-cache"
    assert_secured(again, csp=page.headers["content-security-policy"])


async def test_the_status_page_gets_the_page_policy_and_stays_embeddable(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/status")
    assert page.status_code == 200
    assert_secured(page, csp=PAGE_CSP)
    assert page.headers["cache-control"] == "public, max-age=5"
    feed = await client.get("/api/v2/summary.json")
    assert feed.headers["access-control-allow-origin"] == "*"
    # Status widgets on other sites read the feeds; everything else stays same-origin.
    assert feed.headers["cross-origin-resource-policy"] == "cross-origin"
    assert feed.headers["cache-control"] == "public, max-age=5"
    etag = feed.headers["etag"]
    again = await client.get("/api/v2/summary.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["cache-control"] == "public, max-age=5"


@pytest.mark.parametrize("path", ["/metrics", "/healthz"])
async def test_probes_are_secured(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


async def test_hsts_only_over_https(client_for: ClientFor) -> None:
    async with client_for(base_url="https://testserver") as client:
        response = await client.get("/healthz")
    assert response.headers["strict-transport-security"] == HSTS


async def test_no_cors_headers_unless_origins_are_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options(
        "/api/v1/organizations",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_answers_configured_origins_only(
    client_for: ClientFor, database: Database
) -> None:
    tenant = await make_tenant(database)
    preflight_headers = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    async with client_for(cors_allowed_origins=[ORIGIN]) as client:
        preflight = await client.options(
            "/api/v1/kiosks/me", headers={"Origin": ORIGIN, **preflight_headers}
        )
        allowed = await client.get(
            "/api/v1/kiosks/me", headers={"Origin": ORIGIN, **bearer(tenant.kiosk_key)}
        )
        other_preflight = await client.options(
            "/api/v1/kiosks/me", headers={"Origin": "https://evil.example", **preflight_headers}
        )
        other = await client.get(
            "/api/v1/kiosks/me",
            headers={"Origin": "https://evil.example", **bearer(tenant.kiosk_key)},
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "Authorization" in preflight.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert allowed.headers["vary"] == "Origin"
    assert "RateLimit" in allowed.headers["access-control-expose-headers"]
    assert "access-control-allow-origin" not in other_preflight.headers
    assert_error(other_preflight, 405, "METHOD_NOT_ALLOWED")
    assert other.status_code == 200
    assert "access-control-allow-origin" not in other.headers


def test_an_origin_that_is_not_one_is_refused_at_start(settings: Settings) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        Settings(database_url=settings.database_url, cors_allowed_origins=["https://a.example/"])


async def test_hosts_not_configured_are_refused(client_for: ClientFor) -> None:
    hosts = ["api.example.com", "*.example.org"]
    async with client_for(allowed_hosts=hosts) as client:
        exact = await client.get("/healthz", headers={"Host": "api.example.com:3000"})
        sub = await client.get("/healthz", headers={"Host": "eu.example.org"})
        forged = await client.get("/healthz", headers={"Host": "evil.example"})
        bare = await client.get("/healthz", headers={"Host": "example.org"})
    assert exact.status_code == 200
    assert sub.status_code == 200
    assert_error(forged, 400, "INVALID_HOST")
    assert_error(bare, 400, "INVALID_HOST")
    assert_secured(forged)
    assert forged.headers["x-request-id"]


async def test_any_host_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Host": "anything.example"})
    assert response.status_code == 200
