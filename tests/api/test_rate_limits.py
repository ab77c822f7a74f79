"""The API's own rate limits, with their default budgets (docs/security.md#api-rate-limits): a
budget per kiosk key, per operator, per client address; the headers of the IETF draft on every
limited response; 429 `RATE_LIMITED` in the envelope; one kiosk spending its budget leaves its
neighbours theirs; health checks and static pages are never limited."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from ridgeline.api.rate_limits import BUDGET_NAMES, ORDER_ROUTES, UNLIMITED_PATHS
from ridgeline.app import app_services, create_app
from ridgeline.auth.dependencies import WEBHOOK_ROUTE_PREFIX
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Role
from ridgeline.webhooks.service import WEBHOOK_PATH
from tests.assertions import assert_error
from tests.factories import bearer, make_kiosk, make_operator, make_tenant, sign_in


def with_default_limits(settings: Settings, **changes: object) -> Settings:
    """The suite's settings with the API rate limits at their defaults."""
    defaults = {
        f"api_rate_limit_{name}": Settings.model_fields[f"api_rate_limit_{name}"].default
        for name in BUDGET_NAMES
    }
    return settings.model_copy(update={**defaults, **changes})


@pytest.fixture
async def limited(
    settings: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(with_default_limits(settings), database=database, clock=clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app_services(app).pos_connector.aclose()


async def spend(client: httpx.AsyncClient, method: str, path: str, **kwargs: object) -> int:
    """Requests until the first 429; how many were let through."""
    for sent in range(10_000):
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        if response.status_code == 429:
            return sent
    raise AssertionError(f"{method} {path} was never limited")


async def test_every_limited_response_carries_the_budget_it_drew_on(
    limited: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    response = await limited.get("/api/v1/kiosks/me", headers=bearer(tenant.kiosk_key))
    assert response.status_code == 200
    assert response.headers["ratelimit-policy"] == '"kiosk_read";q=600;w=60'
    assert response.headers["ratelimit"] == '"kiosk_read";r=59;t=1'
    # Errors too: a kiosk's order without an Idempotency-Key draws from the order budget.
    response = await limited.post("/api/v1/orders", json={}, headers=bearer(tenant.kiosk_key))
    assert response.status_code in (400, 422)
    assert response.headers["ratelimit-policy"] == '"kiosk_order";q=30;w=60'
    assert response.headers["ratelimit"].startswith('"kiosk_order";r=9;')
    operator = await sign_in(limited, tenant.admin)
    response = await limited.get(f"/api/v1/stores/{tenant.store.id}", headers=operator)
    assert response.headers["ratelimit-policy"] == '"operator_read";q=1200;w=60'
    response = await limited.get("/api/v2/status.json")
    assert response.headers["ratelimit-policy"] == '"anonymous_read";q=300;w=60'


async def test_a_kiosk_in_a_retry_loop_does_not_slow_its_neighbours(
    limited: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    _, neighbour_key, _ = await make_kiosk(database, tenant.store, "Kiosk 2")
    looping = bearer(tenant.kiosk_key)
    assert await spend(limited, "GET", "/api/v1/kiosks/me", headers=looping) == 60  # its burst

    response = await limited.get("/api/v1/kiosks/me", headers=looping)
    body = assert_error(response, 429, "RATE_LIMITED")
    details = body["error"]["details"]
    assert details["policy"] == "kiosk_read"
    assert details["limit"] == 600
    assert details["retry_after_s"] == int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit"] == '"kiosk_read";r=0;t=7'
    # The same store's other kiosk is served as if nothing happened.
    for _ in range(30):
        neighbour = await limited.get("/api/v1/kiosks/me", headers=bearer(neighbour_key))
        assert neighbour.status_code == 200
    # Its reads spent, the looping kiosk may still place orders (a budget of their own).
    order = await limited.post("/api/v1/orders", json={}, headers=looping)
    assert order.status_code != 429
    # Once Retry-After has passed, it is served again.
    clock.advance(details["retry_after_s"])
    assert (await limited.get("/api/v1/kiosks/me", headers=looping)).status_code == 200


async def test_orders_have_a_tighter_budget_than_reads(
    limited: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    headers = bearer(tenant.kiosk_key)
    assert await spend(limited, "POST", "/api/v1/orders", json={}, headers=headers) == 10
    cancel = f"/api/v1/orders/{tenant.order_id}/cancel"
    assert_error(await limited.post(cancel, headers=headers), 429, "RATE_LIMITED")
    assert (await limited.get("/api/v1/kiosks/me", headers=headers)).status_code == 200


async def test_credentials_that_fail_count_against_the_client_address(
    limited: httpx.AsyncClient, database: Database
) -> None:
    """Guessing keys is anonymous traffic: after the address's burst, 429 instead of 401."""
    tenant = await make_tenant(database)
    guess = bearer("rk_live_" + "x" * 40)
    assert await spend(limited, "GET", "/api/v1/kiosks/me", headers=guess) == 60
    response = await limited.get("/api/v1/kiosks/me")  # no credentials at all: the same address
    assert_error(response, 429, "RATE_LIMITED")
    assert response.json()["error"]["details"]["policy"] == "anonymous_read"
    assert_error(await limited.get("/api/v2/status.json"), 429, "RATE_LIMITED")
    # A valid key is its own caller, whatever the address did.
    response = await limited.get("/api/v1/kiosks/me", headers=bearer(tenant.kiosk_key))
    assert response.status_code == 200


async def test_operators_are_limited_per_operator(
    limited: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    first = await sign_in(limited, tenant.admin)
    colleague = await sign_in(limited, await make_operator(database, Role.PLATFORM_ADMIN))
    path = f"/api/v1/stores/{tenant.store.id}"
    assert await spend(limited, "PATCH", path, json={}, headers=first) == 30
    assert (await limited.get(path, headers=first)).status_code == 200  # reads: another budget
    assert (await limited.patch(path, json={}, headers=colleague)).status_code != 429


async def test_health_checks_and_static_pages_are_never_limited(
    limited: httpx.AsyncClient,
) -> None:
    for _ in range(400):
        response = await limited.get("/healthz")
        assert response.status_code == 200
    assert "ratelimit" not in response.headers
    assert "ratelimit" not in (await limited.get("/")).headers


async def test_limits_can_be_turned_off(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    app = create_app(
        with_default_limits(settings, api_rate_limits_enabled=False), database=database, clock=clock
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(80):
            response = await client.get("/api/v2/status.json")
            assert response.status_code == 200
        assert "ratelimit" not in response.headers
    await app_services(app).pos_connector.aclose()


def test_the_routes_the_limits_name_exist(app: FastAPI) -> None:
    routes = {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        for method in (context.methods or ())
    }
    paths = {path for _, path in routes}
    assert paths >= UNLIMITED_PATHS
    assert routes >= ORDER_ROUTES
    assert WEBHOOK_ROUTE_PREFIX == WEBHOOK_PATH + "/"
    assert any(path and path.startswith(WEBHOOK_ROUTE_PREFIX) for path in paths)


def test_openapi_documents_429_on_every_limited_route(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            limited = path not in UNLIMITED_PATHS
            assert ("429" in operation["responses"]) == limited, (method, path)
            if limited:
                headers = operation["responses"]["429"]["headers"]
                assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(headers)


@pytest.mark.parametrize("value", ["600/60s", "600 per minute", "10/60s burst 10", "5/0s burst 1"])
def test_a_malformed_limit_setting_is_refused(settings: Settings, value: str) -> None:
    with pytest.raises(ValueError, match="burst"):
        Settings(database_url=settings.database_url, api_rate_limit_kiosk_read=value)
