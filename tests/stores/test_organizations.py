"""Organizations: platform admins create and delete them, org admins rename their own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.assertions import assert_error, data_of, field_locs
from tests.factories import Tenant, make_operator, make_organization, make_tenant, sign_in

ORGANIZATIONS = "/api/v1/organizations"


async def create_organization(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(ORGANIZATIONS, json={"name": "Green Leaf", **body}, headers=headers)


@pytest.fixture
async def platform_admin(client: httpx.AsyncClient, database: Database) -> dict[str, str]:
    return await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


async def test_a_platform_admin_creates_reads_renames_and_deletes_an_organization(
    client: httpx.AsyncClient, platform_admin: dict[str, str]
) -> None:
    created = data_of(
        await create_organization(client, platform_admin, name="Green Leaf", slug="green-leaf"),
        201,
    )
    url = f"{ORGANIZATIONS}/{created['id']}"
    assert created["name"] == "Green Leaf"
    assert created["slug"] == "green-leaf"
    assert created["created_at"].endswith("Z")
    assert data_of(await client.get(url, headers=platform_admin)) == created

    renamed = data_of(
        await client.patch(url, json={"name": "Green Leaf Co"}, headers=platform_admin)
    )
    assert renamed["name"] == "Green Leaf Co"
    assert renamed["slug"] == "green-leaf"

    deleted = await client.delete(url, headers=platform_admin)
    assert deleted.status_code == 204, deleted.text
    assert_error(await client.get(url, headers=platform_admin), 404, "NOT_FOUND")
    assert_error(await client.delete(url, headers=platform_admin), 404, "NOT_FOUND")


async def test_a_slug_is_unique(client: httpx.AsyncClient, platform_admin: dict[str, str]) -> None:
    data_of(await create_organization(client, platform_admin, slug="taken"), 201)

    response = await create_organization(client, platform_admin, name="Other", slug="taken")

    body = assert_error(response, 409, "ALREADY_EXISTS")
    assert body["error"]["details"]["field"] == "slug"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Upper-Case"}, "slug"),
        ({"slug": "-leading"}, "slug"),
        ({"slug": "trailing-"}, "slug"),
        ({"slug": "with space"}, "slug"),
        ({"slug": "ümlaut"}, "slug"),
        ({"slug": "a" * 101}, "slug"),
        ({"slug": ""}, "slug"),
        ({"slug": "fine", "name": ""}, "name"),
        ({"slug": "fine", "name": "x" * 201}, "name"),
        ({"slug": "fine", "plan": "gold"}, "plan"),
        ({"name": "No Slug"}, "slug"),
    ],
)
async def test_a_bad_organization_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient, platform_admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = await client.post(
        ORGANIZATIONS, json={"name": "Green Leaf", **body}, headers=platform_admin
    )

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["body", field]]
    assert data_of(await client.get(ORGANIZATIONS, headers=platform_admin)) == []


@pytest.mark.parametrize("change", [{"slug": "new-slug"}, {"name": None}, {"name": ""}])
async def test_a_bad_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    platform_admin: dict[str, str],
    tenant: Tenant,
    change: dict[str, Any],
) -> None:
    url = f"{ORGANIZATIONS}/{tenant.organization.id}"
    before = data_of(await client.get(url, headers=platform_admin))

    response = await client.patch(url, json=change, headers=platform_admin)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert data_of(await client.get(url, headers=platform_admin)) == before


async def test_an_org_admin_renames_only_their_own_organization(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    headers = await sign_in(client, tenant.admin)
    other = await make_organization(database)

    own = await client.patch(
        f"{ORGANIZATIONS}/{tenant.organization.id}", json={"name": "Renamed"}, headers=headers
    )
    assert data_of(own)["name"] == "Renamed"

    listed = data_of(await client.get(ORGANIZATIONS, headers=headers))
    assert [organization["id"] for organization in listed] == [str(tenant.organization.id)]
    other_url = f"{ORGANIZATIONS}/{other.id}"
    assert_error(await client.get(other_url, headers=headers), 404, "NOT_FOUND")
    renamed = await client.patch(other_url, json={"name": "Mine now"}, headers=headers)
    assert_error(renamed, 404, "NOT_FOUND")


async def test_only_platform_admins_create_or_delete_organizations(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = await sign_in(client, tenant.admin)

    created = await create_organization(client, headers, slug="sneaky")
    deleted = await client.delete(f"{ORGANIZATIONS}/{tenant.organization.id}", headers=headers)

    for response in (created, deleted):
        body = assert_error(response, 403, "FORBIDDEN")
        assert body["error"]["details"]["required_role"] == "platform_admin"
    assert (
        await client.get(f"{ORGANIZATIONS}/{tenant.organization.id}", headers=headers)
    ).status_code == 200


async def test_a_viewer_reads_but_cannot_rename(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))
    url = f"{ORGANIZATIONS}/{tenant.organization.id}"

    assert data_of(await client.get(url, headers=viewer))["slug"] == tenant.organization.slug
    assert_error(await client.patch(url, json={"name": "x"}, headers=viewer), 403, "FORBIDDEN")


async def test_an_organization_with_stores_cannot_be_deleted(
    client: httpx.AsyncClient, platform_admin: dict[str, str], tenant: Tenant
) -> None:
    url = f"{ORGANIZATIONS}/{tenant.organization.id}"

    response = await client.delete(url, headers=platform_admin)

    body = assert_error(response, 409, "NOT_EMPTY")
    assert body["error"]["details"]["children"] == "stores"
    assert (await client.get(url, headers=platform_admin)).status_code == 200


async def test_deleting_an_emptied_organization_removes_its_operators(
    client: httpx.AsyncClient, platform_admin: dict[str, str], tenant: Tenant
) -> None:
    org_admin = await sign_in(client, tenant.admin)
    kiosk_url = f"/api/v1/kiosks/{tenant.kiosk.id}"
    assert (await client.delete(kiosk_url, headers=org_admin)).status_code == 204
    store_url = f"/api/v1/stores/{tenant.store.id}"
    assert (await client.delete(store_url, headers=org_admin)).status_code == 204

    response = await client.delete(
        f"{ORGANIZATIONS}/{tenant.organization.id}", headers=platform_admin
    )

    assert response.status_code == 204, response.text
    assert_error(await client.get("/api/v1/auth/me", headers=org_admin), 401, "INVALID_TOKEN")
    operators = data_of(await client.get("/api/v1/operators", headers=platform_admin))
    assert str(tenant.admin.id) not in {operator["id"] for operator in operators}


async def test_a_missing_organization_is_not_found(
    client: httpx.AsyncClient, platform_admin: dict[str, str]
) -> None:
    missing = uuid.uuid4()
    url = f"{ORGANIZATIONS}/{missing}"

    for response in (
        await client.get(url, headers=platform_admin),
        await client.patch(url, json={"name": "x"}, headers=platform_admin),
        await client.delete(url, headers=platform_admin),
    ):
        body = assert_error(response, 404, "NOT_FOUND")
        assert body["error"]["details"] == {
            "resource": "organization",
            "id": str(missing),
            "request_id": response.headers["X-Request-ID"],
        }
    malformed = await client.get(f"{ORGANIZATIONS}/not-a-uuid", headers=platform_admin)
    assert field_locs(assert_error(malformed, 422, "VALIDATION_ERROR")) == [
        ["path", "organization_id"]
    ]


async def test_a_platform_admin_lists_every_organization(
    client: httpx.AsyncClient, database: Database, platform_admin: dict[str, str]
) -> None:
    created = [await make_organization(database) for _ in range(3)]

    first = await client.get(ORGANIZATIONS, params={"limit": 2}, headers=platform_admin)
    assert first.status_code == 200, first.text
    cursor = first.json()["meta"]["next_cursor"]
    second = await client.get(
        ORGANIZATIONS, params={"limit": 2, "cursor": cursor}, headers=platform_admin
    )

    pages = [first.json(), second.json()]
    assert [page["meta"]["count"] for page in pages] == [2, 1]
    assert second.json()["meta"]["next_cursor"] is None
    listed = [organization["id"] for page in pages for organization in page["data"]]
    assert listed == [str(organization.id) for organization in created]
