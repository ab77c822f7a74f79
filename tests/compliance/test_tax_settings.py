"""Operators and taxes: a store's tax schedules (org admins write, viewers read), the profile's
state taxes until it sets its own, a schedule that begins later, validation of every kind, and
tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.assertions import assert_error, data_of
from tests.factories import Tenant, make_operator, make_tenant, sign_in


def url(tenant: Tenant, what: str = "taxes") -> str:
    return f"/api/v1/stores/{tenant.store.id}/{what}"


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


def tax(**fields: Any) -> dict[str, Any]:
    return {"key": "city", "name": "City tax", "kind": "sales", "rate": "2.5", **fields}


async def test_a_store_is_taxed_by_its_profile_until_it_sets_its_own(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, clock: FakeClock
) -> None:
    admin = await sign_in(client, tenant.admin)
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))
    bare = data_of(await client.get(url(tenant), headers=viewer))
    assert (bare["schedules"], bare["source"], bare["in_effect"]) == (None, "none", None)
    assert bare["rounding"] == "line_half_up"

    await client.put(url(tenant, "compliance"), json={"profile": "michigan"}, headers=admin)
    state = data_of(await client.get(url(tenant), headers=viewer))
    assert (state["schedules"], state["source"]) == (None, "profile")
    assert [(t["key"], t["rate"]) for t in state["in_effect"]["taxes"]] == [
        ("mi_marihuana_excise", "10"),
        ("mi_sales", "6"),
    ]

    today = clock.now().date()
    later = today + timedelta(days=30)
    body = {
        "schedules": [
            {
                "effective_from": (today - timedelta(days=400)).isoformat(),
                "taxes": [
                    tax(key="state", rate="6"),
                    tax(
                        key="excise",
                        kind="excise",
                        rate="10",
                        customers=["adult_use"],
                        categories=["flower", "vape"],
                        in_sales_tax_base=True,
                    ),
                    tax(key="per_gram", kind="excise", basis="weight", rate="35.5", unit="g"),
                ],
            },
            {"effective_from": later.isoformat(), "taxes": [tax(key="state", rate="6.25")]},
        ]
    }
    assert_error(await client.put(url(tenant), json=body, headers=viewer), 403, "FORBIDDEN")
    saved = data_of(await client.put(url(tenant), json=body, headers=admin))
    assert saved["source"] == "store"
    assert [t["key"] for t in saved["in_effect"]["taxes"]] == ["state", "excise", "per_gram"]
    excise = saved["in_effect"]["taxes"][1]
    assert (excise["customers"], excise["categories"], excise["in_sales_tax_base"]) == (
        ["adult_use"],
        ["flower", "vape"],
        True,
    )
    assert [u["effective_from"] for u in saved["upcoming"]] == [later.isoformat()]
    assert data_of(await client.get(url(tenant), headers=viewer)) == saved

    # The later schedule takes over on its day.
    clock.advance(timedelta(days=31).total_seconds())
    admin = await sign_in(client, tenant.admin)
    viewer = admin
    moved = data_of(await client.get(url(tenant), headers=viewer))
    assert [(t["key"], t["rate"]) for t in moved["in_effect"]["taxes"]] == [("state", "6.25")]
    assert moved["upcoming"] == []

    # [] is no taxes at all; null is the profile's again.
    none = data_of(await client.put(url(tenant), json={"schedules": []}, headers=admin))
    assert (none["source"], none["in_effect"]) == ("store", None)
    back = data_of(await client.put(url(tenant), json={"schedules": None}, headers=admin))
    assert back["source"] == "profile"


def _schedule(*taxes: dict[str, Any], day: Any = "2026-01-01") -> dict[str, Any]:
    return {"schedules": [{"effective_from": day, "taxes": list(taxes)}]}


TAX = ["body", "schedules", "0", "taxes", "0"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        # A rate is a decimal string, never a number, never negative, at most 4 decimals.
        (_schedule(tax(rate=7.25)), [*TAX, "rate"]),
        (_schedule(tax(rate=7)), [*TAX, "rate"]),
        (_schedule(tax(rate="-1")), [*TAX, "rate"]),
        (_schedule(tax(rate="1.23456")), [*TAX, "rate"]),
        (_schedule(tax(rate="1e3")), [*TAX, "rate"]),
        (_schedule(tax(rate="NaN")), [*TAX, "rate"]),
        (_schedule(tax(rate="100.01")), [*TAX, "rate"]),
        # Units go with the weight basis, and only with it.
        (_schedule(tax(kind="excise", basis="weight", rate="10")), [*TAX, "unit"]),
        (_schedule(tax(kind="excise", basis="weight", rate="1", unit="lb")), [*TAX, "unit"]),
        (_schedule(tax(unit="g")), [*TAX, "unit"]),
        (_schedule(tax(basis="weight", unit="g")), [*TAX, "basis"]),
        (_schedule(tax(in_sales_tax_base=True)), [*TAX, "in_sales_tax_base"]),
        (_schedule(tax(kind="vat")), [*TAX, "kind"]),
        (_schedule(tax(categories=["flowers"])), [*TAX, "categories", "0"]),
        (_schedule(tax(categories=["flower", "flower"])), [*TAX, "categories"]),
        (_schedule(tax(customers=[])), [*TAX, "customers"]),
        (_schedule(tax(customers=["adult_use", "adult_use"])), [*TAX, "customers"]),
        (_schedule(tax(key="City Tax")), [*TAX, "key"]),
        (_schedule(tax(name="")), [*TAX, "name"]),
        (_schedule(tax(), tax()), ["body", "schedules", "0", "taxes", "1", "key"]),
        # Days: ISO dates, in range, one schedule a day.
        (_schedule(tax(), day=1767225600), ["body", "schedules", "0", "effective_from"]),
        (_schedule(tax(), day="2026-02-30"), ["body", "schedules", "0", "effective_from"]),
        (_schedule(tax(), day="1999-12-31"), ["body", "schedules", "0", "effective_from"]),
        (
            {
                "schedules": [
                    {"effective_from": "2026-01-01", "taxes": []},
                    {"effective_from": "2026-01-01", "taxes": []},
                ]
            },
            ["body", "schedules", "1", "effective_from"],
        ),
        ({}, ["body", "schedules"]),
        ({"schedules": [], "extra": 1}, ["body", "extra"]),
    ],
)
async def test_invalid_tax_settings_answer_the_field(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], loc: list[str]
) -> None:
    admin = await sign_in(client, tenant.admin)
    error = assert_error(
        await client.put(url(tenant), json=body, headers=admin), 422, "VALIDATION_ERROR"
    )
    assert loc in [field["loc"] for field in error["error"]["details"]["fields"]]
    assert data_of(await client.get(url(tenant), headers=admin))["schedules"] is None


async def test_another_organizations_store_is_not_found(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await make_tenant(database)
    admin = await sign_in(client, tenant.admin)
    assert_error(await client.get(url(other), headers=admin), 404, "NOT_FOUND")
    put = await client.put(url(other), json={"schedules": []}, headers=admin)
    assert_error(put, 404, "NOT_FOUND")
