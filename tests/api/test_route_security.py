"""Walks every route of the app: each is declared public or refuses anonymous callers, and a
caller from another organization gets 404 (never data) on every object route."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from ridgeline.app import create_app
from ridgeline.auth.dependencies import authenticate_caller, require_kiosk
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.factories import Tenant, bearer, make_operator, make_tenant, sign_in

# Framework pages that carry no tenant data.
FRAMEWORK_ROUTES = {"/docs", "/docs/oauth2-redirect", "/openapi.json"}
_PARAM = re.compile(r"{(\w+)}")

# Bodies that pass validation, for routes whose body has required fields, so that the walk
# reaches the object lookup (an empty body would stop at 422 first). An unreachable address:
# nothing is ever called.
VALID_BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("PUT", "/api/v1/stores/{store_id}/pos"): {
        "provider": "dutchie",
        "config": {"base_url": "http://127.0.0.1:9", "api_key": "k", "consumer_key": "c"},
    },
    ("POST", "/api/v1/stores/{store_id}/pos/breaker"): {"action": "reset"},
    ("PUT", "/api/v1/stores/{store_id}/rfid-tags/{tag}"): {
        "product_id": "00000000-0000-4000-8000-000000000000"
    },
    ("POST", "/api/v1/stores/{store_id}/sync"): {"kind": "full"},
    ("POST", "/api/v1/stores/{store_id}/pause"): {"reason": "stocktaking"},
    ("PUT", "/api/v1/stores/{store_id}/health/thresholds"): {"thresholds": {}},
    ("PUT", "/api/v1/stores/{store_id}/compliance"): {"profile": "california"},
    ("PUT", "/api/v1/stores/{store_id}/taxes"): {"schedules": []},
    ("POST", "/api/v1/kiosks/{kiosk_id}/commands"): {"type": "reload"},
    ("PUT", "/api/v1/alert-channels/{channel_id}"): {"name": "Ops", "config": {}},
    ("PUT", "/api/v1/stores/{store_id}/alert-rules/{rule}"): {"threshold": 5},
    ("PUT", "/api/v1/escalation-policies/{policy_id}"): {
        "name": "On call",
        "levels": [{"delay_s": 0, "channel_ids": ["00000000-0000-4000-8000-000000000000"]}],
    },
    ("POST", "/api/v1/orders"): {
        "items": [
            {
                "product_id": "00000000-0000-4000-8000-000000000000",
                "variant_id": "00000000-0000-4000-8000-000000000000",
                "quantity": 1,
            }
        ]
    },
}


# Path parameters that name no tenant object (a built-in rule; the status page's components and
# incidents, which describe Ridgeline itself): a route with only these acts on the caller's own
# organization or on the platform, so the cross-organization walk has no victim object to try.
NAMED_PARAMS: dict[str, str] = {
    "rule": "sync_failed",
    "component": "api",
    "incident_id": "00000000-0000-4000-8000-000000000001",
}


def body_for(method: str, path: str) -> dict[str, object]:
    return VALID_BODIES.get((method, path), {})


@dataclass(frozen=True)
class Endpoint:
    path: str
    dependant: Dependant
    public: bool


def walk(app: FastAPI) -> list[tuple[str, str, Endpoint]]:
    """(method, path, endpoint) for every route the app answers, routers included."""
    routes: list[tuple[str, str, Endpoint]] = []
    for context in iter_route_contexts(app.routes):
        path = context.path
        assert path is not None
        if path in FRAMEWORK_ROUTES:
            continue
        dependant = getattr(context, "dependant", None)
        assert isinstance(dependant, Dependant), f"{path} is not an API route"
        extra = getattr(context, "openapi_extra", None) or {}
        endpoint = Endpoint(path, dependant, bool(extra.get("x-ridgeline-public")))
        routes.extend((method, path, endpoint) for method in sorted(context.methods or ()))
    return routes


def is_public(route: Endpoint) -> bool:
    return route.public


def needs_caller(dependant: Dependant) -> bool:
    return dependant.call is authenticate_caller or any(
        needs_caller(sub) for sub in dependant.dependencies
    )


def is_kiosk_route(dependant: Dependant) -> bool:
    return dependant.call is require_kiosk or any(
        is_kiosk_route(sub) for sub in dependant.dependencies
    )


def fill(path: str, ids: Mapping[str, object]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ids, f"no test object for path parameter {name!r} in {path}"
        return str(ids[name])

    return _PARAM.sub(replace, path)


def object_ids(tenant: Tenant) -> dict[str, uuid.UUID | str]:
    return {
        "job_id": tenant.job_id,
        "organization_id": tenant.organization.id,
        "store_id": tenant.store.id,
        "kiosk_id": tenant.kiosk.id,
        "operator_id": tenant.admin.id,
        "key_id": tenant.kiosk_key_id,
        "product_id": tenant.product_id,
        "tag": tenant.rfid_tag,
        "sync_run_id": tenant.sync_run_id,
        "order_id": tenant.order_id,
        "alert_id": tenant.alert_id,
        "recovery_run_id": tenant.recovery_run_id,
        "channel_id": tenant.alert_channel_id,
        "silence_id": tenant.silence_id,
        "policy_id": tenant.escalation_policy_id,
        "group_id": tenant.alert_group_id,
    }


def path_values(tenant: Tenant) -> dict[str, uuid.UUID | str]:
    """A value for every path parameter: the tenant's objects, and the named ones."""
    return {**object_ids(tenant), **NAMED_PARAMS}


def names_a_tenant_object(path: str) -> bool:
    return any(name not in NAMED_PARAMS for name in _PARAM.findall(path))


def test_every_route_is_public_or_authenticated(settings: Settings) -> None:
    app = create_app(settings)
    routes = walk(app)
    assert len(routes) > 20
    for method, path, route in routes:
        assert is_public(route) or needs_caller(route.dependant), (method, path)
        assert not (is_public(route) and needs_caller(route.dependant)), (method, path)


async def test_anonymous_callers_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    random_ids = {name: uuid.uuid4() for name in _all_param_names(app)}
    for method, path, route in walk(app):
        if is_public(route):
            continue
        response = await client.request(method, fill(path, random_ids), json={})
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_other_organizations_get_404_on_every_object_route(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    """404 for another organization's objects; a 403 is accepted only where the caller's role
    alone forbids the action, i.e. the caller gets the same 403 on its own objects."""
    victim = await make_tenant(database, "victim")
    intruder = await make_tenant(database, "intruder")
    headers = await sign_in(client, intruder.admin)
    checked = 0
    for method, path, route in walk(app):
        if is_public(route) or not names_a_tenant_object(path):
            continue
        response = await client.request(
            method, fill(path, path_values(victim)), json=body_for(method, path), headers=headers
        )
        code = response.json()["error"]["code"] if response.status_code >= 400 else None
        if response.status_code == 403:
            own = await client.request(
                method,
                fill(path, path_values(intruder)),
                json=body_for(method, path),
                headers=headers,
            )
            assert own.status_code == 403, (method, path, "403 depends on the object")
        else:
            assert (response.status_code, code) == (404, "NOT_FOUND"), (method, path)
            checked += 1
    assert checked >= 15
    # Nothing of the victim's was changed by the attempts.
    owner = await sign_in(client, victim.admin)
    for path in (f"/api/v1/stores/{victim.store.id}", f"/api/v1/kiosks/{victim.kiosk.id}"):
        assert (await client.get(path, headers=owner)).status_code == 200
    assert (
        await client.get("/api/v1/kiosks/me", headers=bearer(victim.kiosk_key))
    ).status_code == 200


async def test_lists_never_show_other_organizations(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    victim = await make_tenant(database, "victim")
    intruder = await make_tenant(database, "intruder")
    headers = await sign_in(client, intruder.admin)
    secrets = [str(value) for value in object_ids(victim).values()]
    for method, path, route in walk(app):
        if method != "GET" or is_public(route) or _PARAM.search(path) or path.endswith("/me"):
            continue
        response = await client.get(path, headers=headers)
        assert response.status_code in (200, 403), (path, response.text)  # 403: by role
        assert not any(secret in response.text for secret in secrets), path


async def test_a_kiosk_cannot_reach_operator_routes(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    ids = path_values(tenant)
    for method, path, route in walk(app):
        if is_public(route) or is_kiosk_route(route.dependant):
            continue
        response = await client.request(
            method, fill(path, ids), json={}, headers=bearer(tenant.kiosk_key)
        )
        assert response.status_code == 403, (method, path, response.text)


async def test_platform_admin_reaches_every_tenant(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    support = await make_operator(database, Role.PLATFORM_ADMIN)
    headers = await sign_in(client, support)
    for path in (
        f"/api/v1/organizations/{tenant.organization.id}",
        f"/api/v1/stores/{tenant.store.id}",
        f"/api/v1/kiosks/{tenant.kiosk.id}",
    ):
        assert (await client.get(path, headers=headers)).status_code == 200, path


def _all_param_names(app: FastAPI) -> set[str]:
    return {name for _, path, _ in walk(app) for name in _PARAM.findall(path)}
