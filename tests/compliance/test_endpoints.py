"""Operators and compliance: the shipped profiles, a store's profile and overrides (org admins
write, viewers read), validation of every kind, and tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.assertions import assert_error, data_of
from tests.factories import Tenant, make_operator, make_tenant, sign_in

PROFILES = "/api/v1/compliance/profiles"


def url(tenant: Tenant) -> str:
    return f"/api/v1/stores/{tenant.store.id}/compliance"


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


async def test_the_shipped_profiles_are_listed_with_their_values(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))
    profiles = {p["key"]: p for p in data_of(await client.get(PROFILES, headers=viewer))}
    assert set(profiles) == {"california", "colorado", "michigan", "washington"}
    colorado = profiles["colorado"]
    assert colorado["limits"][0] == {
        "category": "flower_equivalent",
        "unit": "g_flower_equivalent",
        "period": "transaction",
        "adult_use": 28.35,
        "medical": None,
    }
    assert {c["limit"]: c["factor"] for c in colorado["counts"]["concentrate"]} == {
        "flower_equivalent": 3.54375,
        "medical_concentrate": 1.0,
    }
    assert colorado["missing_data"]["action"] == "default"


async def test_admins_set_a_profile_with_overrides_and_viewers_read_it(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    admin = await sign_in(client, tenant.admin)
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))
    before = data_of(await client.get(url(tenant), headers=viewer))
    assert (before["profile"], before["effective"]) == (None, None)

    body = {
        "profile": "washington",
        "overrides": {
            "limits": {"concentrate": {"unit": "g", "adult_use": 3.5}},
            "missing_data": {"action": "default", "default_weight_grams": 1},
        },
    }
    assert_error(await client.put(url(tenant), json=body, headers=viewer), 403, "FORBIDDEN")
    saved = data_of(await client.put(url(tenant), json=body, headers=admin))
    assert saved["profile"] == "washington"
    assert saved["overrides"]["limits"]["concentrate"]["adult_use"] == 3.5
    limits = {limit["category"]: limit for limit in saved["effective"]["limits"]}
    assert (limits["concentrate"]["adult_use"], limits["concentrate"]["medical"]) == (3.5, 21.0)
    assert saved["effective"]["missing_data"] == {
        "action": "default",
        "default_weight_grams": 1.0,
        "default_thc_mg": 100.0,
    }
    assert data_of(await client.get(url(tenant), headers=viewer)) == saved

    cleared = data_of(await client.put(url(tenant), json={"profile": None}, headers=admin))
    assert (cleared["profile"], cleared["effective"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"profile": "oregon"}, ["body", "profile"]),
        (
            {"profile": "michigan", "overrides": {"limits": {"edibles": {"unit": "g"}}}},
            ["body", "overrides", "limits", "edibles"],
        ),
        (
            {"profile": "colorado", "overrides": {"limits": {"flower_equivalent": {"unit": "g"}}}},
            ["body", "overrides", "limits", "flower_equivalent", "unit"],
        ),
        (
            {"profile": None, "overrides": {"limits": {"concentrate": {"unit": "g"}}}},
            ["body", "overrides", "limits", "concentrate"],
        ),
        (
            {
                "profile": "california",
                "overrides": {"limits": {"concentrate": {"unit": "g", "adult_use": -1}}},
            },
            ["body", "overrides", "limits", "concentrate", "adult_use"],
        ),
        (
            {"profile": "california", "overrides": {"limits": {"concentrate": {"unit": "oz"}}}},
            ["body", "overrides", "limits", "concentrate", "unit"],
        ),
        (
            {
                "profile": "california",
                "overrides": {"missing_data": {"default_thc_mg": -5}},
            },
            ["body", "overrides", "missing_data", "default_thc_mg"],
        ),
    ],
)
async def test_invalid_settings_answer_the_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], loc: list[str]
) -> None:
    admin = await sign_in(client, tenant.admin)
    error = assert_error(
        await client.put(url(tenant), json=body, headers=admin), 422, "VALIDATION_ERROR"
    )
    assert loc in [field["loc"] for field in error["error"]["details"]["fields"]]
    assert data_of(await client.get(url(tenant), headers=admin))["profile"] is None


async def test_another_organizations_store_is_not_found(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await make_tenant(database)
    admin = await sign_in(client, tenant.admin)
    assert_error(await client.get(url(other), headers=admin), 404, "NOT_FOUND")
    put = await client.put(url(other), json={"profile": "california"}, headers=admin)
    assert_error(put, 404, "NOT_FOUND")
