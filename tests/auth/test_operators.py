"""Operator accounts and roles: who may create, change and remove whom, and what each role sees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Operator, Role, Store
from tests.assertions import assert_error, data_of, field_locs
from tests.factories import (
    PASSWORD,
    Tenant,
    bearer,
    make_kiosk,
    make_operator,
    make_store,
    make_tenant,
    sign_in,
)

OPERATORS = "/api/v1/operators"


def new_operator(role: Role, **extra: Any) -> dict[str, Any]:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
        "password": "a long enough password",
        "role": role.value,
        **extra,
    }


def data_of_list(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["data"]
    return items


async def operator_ids(client: httpx.AsyncClient, headers: dict[str, str]) -> set[str]:
    return {
        operator["id"] for operator in data_of_list(await client.get(OPERATORS, headers=headers))
    }


@dataclass
class Org:
    """An organization with two stores, its admin signed in."""

    tenant: Tenant
    store_b: Store
    admin: dict[str, str]

    @property
    def store_a(self) -> Store:
        return self.tenant.store


@pytest.fixture
async def org(client: httpx.AsyncClient, database: Database) -> Org:
    tenant = await make_tenant(database)
    store_b = await make_store(database, tenant.organization, name="Harbour Rd")
    return Org(tenant, store_b, await sign_in(client, tenant.admin))


async def signed_in(
    client: httpx.AsyncClient, database: Database, org: Org, role: Role
) -> tuple[Operator, dict[str, str]]:
    stores = [org.store_a] if role is Role.STORE_MANAGER else None
    operator = await make_operator(database, role, org.tenant.organization, stores=stores)
    return operator, await sign_in(client, operator)


# Creating operators


@pytest.mark.parametrize("role", [Role.STORE_MANAGER, Role.VIEWER, Role.ORG_ADMIN])
async def test_an_org_admin_creates_operators_in_their_organization(
    client: httpx.AsyncClient, org: Org, role: Role
) -> None:
    store_ids = [str(org.store_a.id)] if role is Role.STORE_MANAGER else []
    body = new_operator(role, email="New.Person@Example.com", name="New", store_ids=store_ids)

    response = await client.post(OPERATORS, json=body, headers=org.admin)

    created = data_of(response, 201)
    assert created["organization_id"] == str(org.tenant.organization.id)
    assert created["role"] == role.value
    assert created["email"] == "new.person@example.com"
    assert created["is_active"] is True
    assert created["store_ids"] == store_ids
    assert "password" not in created
    assert body["password"] not in response.text
    signed_in_as = await client.post(
        "/api/v1/auth/token", json={"email": "new.person@example.com", "password": body["password"]}
    )
    assert signed_in_as.status_code == 200, signed_in_as.text
    assert created["id"] in await operator_ids(client, org.admin)


async def test_an_org_admin_cannot_create_a_platform_admin(
    client: httpx.AsyncClient, org: Org
) -> None:
    before = await operator_ids(client, org.admin)

    response = await client.post(
        OPERATORS, json=new_operator(Role.PLATFORM_ADMIN), headers=org.admin
    )

    assert_error(response, 403, "FORBIDDEN")
    assert await operator_ids(client, org.admin) == before


async def test_an_org_admin_cannot_create_operators_in_another_organization(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    other = await make_tenant(database)
    body = new_operator(Role.VIEWER, organization_id=str(other.organization.id))

    response = await client.post(OPERATORS, json=body, headers=org.admin)

    assert_error(response, 404, "NOT_FOUND")


async def test_an_org_admin_cannot_assign_another_organizations_store(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    other = await make_tenant(database)
    body = new_operator(Role.STORE_MANAGER, store_ids=[str(other.store.id)])

    response = await client.post(OPERATORS, json=body, headers=org.admin)

    assert_error(response, 404, "NOT_FOUND")
    assert body["email"] not in response.text


async def test_only_store_managers_are_assigned_stores(client: httpx.AsyncClient, org: Org) -> None:
    body = new_operator(Role.VIEWER, store_ids=[str(org.store_a.id)])

    response = await client.post(OPERATORS, json=body, headers=org.admin)

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["body", "store_ids"]]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.STORE_MANAGER])
async def test_viewers_and_store_managers_cannot_manage_operators(
    client: httpx.AsyncClient, database: Database, org: Org, role: Role
) -> None:
    _, headers = await signed_in(client, database, org, role)

    listed = await client.get(OPERATORS, headers=headers)
    created = await client.post(OPERATORS, json=new_operator(Role.VIEWER), headers=headers)
    fetched = await client.get(f"{OPERATORS}/{org.tenant.admin.id}", headers=headers)

    for response in (listed, created, fetched):
        body = assert_error(response, 403, "FORBIDDEN")
        assert body["error"]["details"]["required_role"] == "org_admin"
        assert body["error"]["details"]["role"] == role.value


async def test_an_email_is_taken_whatever_its_case(client: httpx.AsyncClient, org: Org) -> None:
    first = new_operator(Role.VIEWER, email="dup@example.com")
    data_of(await client.post(OPERATORS, json=first, headers=org.admin), 201)

    again = new_operator(Role.VIEWER, email="DUP@Example.COM")
    response = await client.post(OPERATORS, json=again, headers=org.admin)

    body = assert_error(response, 409, "ALREADY_EXISTS")
    assert body["error"]["details"]["field"] == "email"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"password": "s3cr3t!"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"role": "owner"}, "role"),
        ({"name": "x" * 201}, "name"),
        ({"nickname": "typo"}, "nickname"),
    ],
)
async def test_a_bad_operator_is_refused_with_the_field_named(
    client: httpx.AsyncClient, org: Org, change: dict[str, Any], field: str
) -> None:
    body = {**new_operator(Role.VIEWER), **change}
    before = await operator_ids(client, org.admin)

    response = await client.post(OPERATORS, json=body, headers=org.admin)

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["body", field]]
    assert "s3cr3t!" not in response.text
    assert await operator_ids(client, org.admin) == before


# Store managers


async def test_a_store_manager_sees_and_acts_only_on_assigned_stores(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    await make_kiosk(database, org.store_b, name="Other store's kiosk")
    _, manager = await signed_in(client, database, org, Role.STORE_MANAGER)

    stores = data_of_list(await client.get("/api/v1/stores", headers=manager))
    assert [store["id"] for store in stores] == [str(org.store_a.id)]
    assert (
        await client.get(f"/api/v1/stores/{org.store_a.id}", headers=manager)
    ).status_code == 200
    hidden = await client.get(f"/api/v1/stores/{org.store_b.id}", headers=manager)
    assert_error(hidden, 404, "NOT_FOUND")

    kiosks = data_of_list(await client.get("/api/v1/kiosks", headers=manager))
    assert [kiosk["id"] for kiosk in kiosks] == [str(org.tenant.kiosk.id)]

    in_a = await client.post(
        "/api/v1/kiosks", json={"store_id": str(org.store_a.id), "name": "K2"}, headers=manager
    )
    assert data_of(in_a, 201)["store_id"] == str(org.store_a.id)
    in_b = await client.post(
        "/api/v1/kiosks", json={"store_id": str(org.store_b.id), "name": "K2"}, headers=manager
    )
    assert_error(in_b, 404, "NOT_FOUND")


async def test_new_store_assignments_apply_to_the_current_token(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    manager, headers = await signed_in(client, database, org, Role.STORE_MANAGER)

    changed = await client.patch(
        f"{OPERATORS}/{manager.id}", json={"store_ids": [str(org.store_b.id)]}, headers=org.admin
    )

    assert data_of(changed)["store_ids"] == [str(org.store_b.id)]
    stores = data_of_list(await client.get("/api/v1/stores", headers=headers))
    assert [store["id"] for store in stores] == [str(org.store_b.id)]


async def test_a_store_manager_without_stores_sees_none(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    manager = await make_operator(database, Role.STORE_MANAGER, org.tenant.organization)
    headers = await sign_in(client, manager)

    assert data_of_list(await client.get("/api/v1/stores", headers=headers)) == []
    assert data_of_list(await client.get("/api/v1/kiosks", headers=headers)) == []


async def test_a_role_change_away_from_store_manager_drops_the_stores(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    manager, _ = await signed_in(client, database, org, Role.STORE_MANAGER)

    changed = await client.patch(
        f"{OPERATORS}/{manager.id}", json={"role": "viewer"}, headers=org.admin
    )

    assert data_of(changed)["role"] == "viewer"
    assert data_of(changed)["store_ids"] == []
    promoted = await client.patch(
        f"{OPERATORS}/{manager.id}", json={"role": "platform_admin"}, headers=org.admin
    )
    assert_error(promoted, 403, "FORBIDDEN")


# Changing and removing operators


async def test_an_operator_cannot_change_their_own_role_or_remove_themselves(
    client: httpx.AsyncClient, org: Org
) -> None:
    own = f"{OPERATORS}/{org.tenant.admin.id}"

    for change in ({"role": "viewer"}, {"is_active": False}, {"role": "org_admin"}):
        assert_error(await client.patch(own, json=change, headers=org.admin), 403, "FORBIDDEN")
    assert_error(await client.delete(own, headers=org.admin), 403, "FORBIDDEN")

    renamed = await client.patch(own, json={"name": "Still Admin"}, headers=org.admin)
    assert data_of(renamed)["name"] == "Still Admin"
    me = data_of(await client.get("/api/v1/auth/me", headers=org.admin))
    assert me["role"] == "org_admin"
    assert me["is_active"] is True


@pytest.mark.parametrize("field", ["name", "role", "is_active", "password", "store_ids"])
async def test_null_for_a_field_that_cannot_be_empty_is_refused(
    client: httpx.AsyncClient, database: Database, org: Org, field: str
) -> None:
    viewer = await make_operator(database, Role.VIEWER, org.tenant.organization)
    url = f"{OPERATORS}/{viewer.id}"
    before = data_of(await client.get(url, headers=org.admin))

    response = await client.patch(url, json={field: None}, headers=org.admin)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert data_of(await client.get(url, headers=org.admin)) == before


async def test_an_unknown_field_in_a_change_is_refused(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    viewer = await make_operator(database, Role.VIEWER, org.tenant.organization)

    response = await client.patch(
        f"{OPERATORS}/{viewer.id}", json={"name": "Ok", "admin": True}, headers=org.admin
    )

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert field_locs(body) == [["body", "admin"]]


async def test_deleting_an_operator_ends_their_access(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    viewer, headers = await signed_in(client, database, org, Role.VIEWER)
    url = f"{OPERATORS}/{viewer.id}"

    response = await client.delete(url, headers=org.admin)

    assert response.status_code == 204, response.text
    assert_error(await client.get(url, headers=org.admin), 404, "NOT_FOUND")
    assert_error(await client.get("/api/v1/auth/me", headers=headers), 401, "INVALID_TOKEN")
    signed_in_again = await client.post(
        "/api/v1/auth/token", json={"email": viewer.email, "password": PASSWORD}
    )
    assert_error(signed_in_again, 401, "INVALID_CREDENTIALS")


async def test_operators_of_another_organization_are_invisible(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    other = await make_tenant(database)
    platform_admin = await make_operator(database, Role.PLATFORM_ADMIN)
    url = f"{OPERATORS}/{other.admin.id}"

    assert await operator_ids(client, org.admin) == {str(org.tenant.admin.id)}
    assert_error(await client.get(url, headers=org.admin), 404, "NOT_FOUND")
    renamed = await client.patch(url, json={"name": "x"}, headers=org.admin)
    assert_error(renamed, 404, "NOT_FOUND")
    assert_error(await client.delete(url, headers=org.admin), 404, "NOT_FOUND")
    hidden = await client.get(f"{OPERATORS}/{platform_admin.id}", headers=org.admin)
    assert_error(hidden, 404, "NOT_FOUND")


# Platform admins


async def test_a_platform_admin_creates_operators_in_any_organization(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    organization_id = str(org.tenant.organization.id)

    admin = await client.post(
        OPERATORS,
        json=new_operator(Role.ORG_ADMIN, organization_id=organization_id),
        headers=headers,
    )
    assert data_of(admin, 201)["organization_id"] == organization_id

    staff = await client.post(OPERATORS, json=new_operator(Role.PLATFORM_ADMIN), headers=headers)
    assert data_of(staff, 201)["organization_id"] is None

    no_org = await client.post(OPERATORS, json=new_operator(Role.VIEWER), headers=headers)
    assert field_locs(assert_error(no_org, 422, "VALIDATION_ERROR")) == [
        ["body", "organization_id"]
    ]
    staff_in_org = await client.post(
        OPERATORS,
        json=new_operator(Role.PLATFORM_ADMIN, organization_id=organization_id),
        headers=headers,
    )
    assert_error(staff_in_org, 422, "VALIDATION_ERROR")


async def test_an_operator_in_an_unknown_organization_is_not_found(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    body = new_operator(Role.ORG_ADMIN, organization_id=str(uuid.uuid4()))

    response = await client.post(OPERATORS, json=body, headers=headers)

    assert assert_error(response, 404, "NOT_FOUND")["error"]["details"]["resource"] == (
        "organization"
    )


# The signed-in operator


async def test_me_describes_the_signed_in_operator(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    manager, headers = await signed_in(client, database, org, Role.STORE_MANAGER)

    me = data_of(await client.get("/api/v1/auth/me", headers=headers))

    assert me["id"] == str(manager.id)
    assert me["email"] == manager.email
    assert me["role"] == "store_manager"
    assert me["organization_id"] == str(org.tenant.organization.id)
    assert me["store_ids"] == [str(org.store_a.id)]
    assert me["last_login_at"] is not None
    assert "password" not in me
    assert "password_hash" not in me


async def test_me_needs_a_valid_token(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/auth/me"), 401, "AUTHENTICATION_REQUIRED")
    assert_error(await client.get("/api/v1/auth/me", headers=bearer("nope")), 401, "INVALID_TOKEN")
