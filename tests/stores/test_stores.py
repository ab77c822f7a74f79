"""Stores: org admins manage them, everyone in the organization reads them, lists page by cursor."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.assertions import assert_error, data_of, field_locs
from tests.factories import (
    Tenant,
    bearer,
    make_operator,
    make_organization,
    make_store,
    make_tenant,
    sign_in,
)

STORES = "/api/v1/stores"


def encoded_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def store_ids(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    return [
        store["id"] for store in data_of(await client.get(STORES, params=params, headers=headers))
    ]


async def all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    """Every page of the store list, following `meta.next_cursor` to the end."""
    pages: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        response = await client.get(STORES, params=params, headers=headers)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["meta"]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10, "the cursor chain does not end"
        params = {"limit": limit, "cursor": cursor}


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


@pytest.fixture
async def admin(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    return await sign_in(client, tenant.admin)


async def test_an_org_admin_creates_reads_changes_and_deletes_a_store(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    created = data_of(await client.post(STORES, json={"name": "Harbour Rd"}, headers=admin), 201)
    url = f"{STORES}/{created['id']}"
    assert created["organization_id"] == str(tenant.organization.id)
    assert (created["timezone"], created["currency"]) == ("UTC", "USD")
    assert data_of(await client.get(url, headers=admin)) == created

    changes = {"name": "Harbour Road", "timezone": "America/Denver", "currency": "CAD"}
    changed = data_of(await client.patch(url, json=changes, headers=admin))
    assert {field: changed[field] for field in changes} == changes
    assert data_of(await client.get(url, headers=admin)) == changed

    deleted = await client.delete(url, headers=admin)
    assert deleted.status_code == 204, deleted.text
    assert_error(await client.get(url, headers=admin), 404, "NOT_FOUND")
    assert await store_ids(client, admin) == [str(tenant.store.id)]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.STORE_MANAGER])
async def test_viewers_and_store_managers_only_read_stores(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, role: Role
) -> None:
    stores = [tenant.store] if role is Role.STORE_MANAGER else None
    headers = await sign_in(
        client, await make_operator(database, role, tenant.organization, stores=stores)
    )
    url = f"{STORES}/{tenant.store.id}"

    assert data_of(await client.get(url, headers=headers))["name"] == tenant.store.name
    for response in (
        await client.post(STORES, json={"name": "Mine"}, headers=headers),
        await client.patch(url, json={"name": "Renamed"}, headers=headers),
        await client.delete(url, headers=headers),
    ):
        assert_error(response, 403, "FORBIDDEN")
    assert data_of(await client.get(url, headers=headers))["name"] == tenant.store.name


async def test_a_store_name_is_unique_within_its_organization(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, admin: dict[str, str]
) -> None:
    taken = tenant.store.name
    other_admin = await make_operator(database, Role.ORG_ADMIN, await make_organization(database))

    duplicate = await client.post(STORES, json={"name": taken}, headers=admin)
    assert assert_error(duplicate, 409, "ALREADY_EXISTS")["error"]["details"]["field"] == "name"

    second = data_of(await client.post(STORES, json={"name": "Second"}, headers=admin), 201)
    renamed = await client.patch(f"{STORES}/{second['id']}", json={"name": taken}, headers=admin)
    assert_error(renamed, 409, "ALREADY_EXISTS")
    unchanged = await client.patch(
        f"{STORES}/{tenant.store.id}", json={"name": taken}, headers=admin
    )
    assert data_of(unchanged)["name"] == taken

    # Another organization may use the same name.
    elsewhere = await client.post(
        STORES, json={"name": taken}, headers=await sign_in(client, other_admin)
    )
    assert data_of(elsewhere, 201)["name"] == taken


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": "../../etc/passwd"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"currency": "DOLLARS"}, "currency"),
        ({"currency": 840}, "currency"),
        ({"name": ""}, "name"),
        ({"adress": "1 Main St"}, "adress"),
    ],
)
async def test_a_bad_store_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient,
    tenant: Tenant,
    admin: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(STORES, json={"name": "New", **body}, headers=admin)

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["body", field]]
    assert await store_ids(client, admin) == [str(tenant.store.id)]


@pytest.mark.parametrize(
    "change",
    [
        {"timezone": "Nowhere/Special"},
        {"currency": "euro"},
        {"name": None},
        {"timezone": None},
        {"organization_id": str(uuid.UUID(int=1))},
    ],
)
async def test_a_bad_store_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], change: dict[str, Any]
) -> None:
    url = f"{STORES}/{tenant.store.id}"
    before = data_of(await client.get(url, headers=admin))

    assert_error(await client.patch(url, json=change, headers=admin), 422, "VALIDATION_ERROR")
    assert data_of(await client.get(url, headers=admin)) == before


async def test_a_store_with_kiosks_cannot_be_deleted(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    url = f"{STORES}/{tenant.store.id}"

    response = await client.delete(url, headers=admin)

    assert assert_error(response, 409, "NOT_EMPTY")["error"]["details"]["children"] == "kiosks"
    assert (await client.get(url, headers=admin)).status_code == 200
    kiosk = await client.get("/api/v1/kiosks/me", headers=bearer(tenant.kiosk_key))
    assert kiosk.status_code == 200, kiosk.text


async def test_a_missing_store_is_not_found(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = f"{STORES}/{uuid.uuid4()}"

    for response in (
        await client.get(url, headers=admin),
        await client.patch(url, json={"name": "x"}, headers=admin),
        await client.delete(url, headers=admin),
        await client.get(f"{url}/kiosks", headers=admin),
    ):
        assert assert_error(response, 404, "NOT_FOUND")["error"]["details"]["resource"] == "store"


async def test_another_organizations_store_is_not_found(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await sign_in(client, (await make_tenant(database)).admin)
    url = f"{STORES}/{tenant.store.id}"

    assert str(tenant.store.id) not in await store_ids(client, other)
    assert await store_ids(client, other, organization_id=str(tenant.organization.id)) == []
    for response in (
        await client.get(url, headers=other),
        await client.patch(url, json={"name": "Taken over"}, headers=other),
        await client.delete(url, headers=other),
        await client.post(
            STORES,
            json={"name": "Planted", "organization_id": str(tenant.organization.id)},
            headers=other,
        ),
    ):
        assert_error(response, 404, "NOT_FOUND")


async def test_a_platform_admin_sees_every_store_and_filters_by_organization(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await make_tenant(database)
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))

    assert set(await store_ids(client, headers)) == {str(tenant.store.id), str(other.store.id)}
    filtered = await store_ids(client, headers, organization_id=str(other.organization.id))
    assert filtered == [str(other.store.id)]


async def test_a_platform_admin_names_the_organization_of_a_new_store(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    organization_id = str(tenant.organization.id)

    created = await client.post(
        STORES, json={"name": "Uptown", "organization_id": organization_id}, headers=headers
    )
    assert data_of(created, 201)["organization_id"] == organization_id

    unnamed = await client.post(STORES, json={"name": "Nowhere"}, headers=headers)
    assert field_locs(assert_error(unnamed, 422, "VALIDATION_ERROR")) == [
        ["body", "organization_id"]
    ]
    unknown = await client.post(
        STORES, json={"name": "Nowhere", "organization_id": str(uuid.uuid4())}, headers=headers
    )
    assert_error(unknown, 404, "NOT_FOUND")


# Cursor paging


async def test_pages_chain_through_every_store_once(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, admin: dict[str, str]
) -> None:
    for n in range(4):
        await make_store(database, tenant.organization, name=f"Store {n}")
    everything = await store_ids(client, admin)

    pages = await all_pages(client, admin, limit=2)

    assert [page["meta"]["count"] for page in pages] == [2, 2, 1]
    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    assert all(page["meta"]["next_cursor"] for page in pages[:-1])
    paged = [store["id"] for page in pages for store in page["data"]]
    assert paged == everything
    assert len(set(paged)) == 5


async def test_a_store_created_while_paging_appears_on_a_later_page(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, admin: dict[str, str]
) -> None:
    await make_store(database, tenant.organization, name="Second")
    first = await client.get(STORES, params={"limit": 1}, headers=admin)
    cursor = first.json()["meta"]["next_cursor"]

    late = await make_store(database, tenant.organization, name="Late")
    rest = await client.get(STORES, params={"limit": 5, "cursor": cursor}, headers=admin)

    assert [store["name"] for store in first.json()["data"]] == [tenant.store.name]
    assert [store["name"] for store in data_of(rest)] == ["Second", late.name]
    assert rest.json()["meta"] == {"next_cursor": None, "count": 2}


async def test_an_exact_last_page_ends_the_chain(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, admin: dict[str, str]
) -> None:
    await make_store(database, tenant.organization, name="Second")

    response = await client.get(STORES, params={"limit": 2}, headers=admin)

    assert response.json()["meta"] == {"next_cursor": None, "count": 2}


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor!",
        "e30",  # {}
        encoded_cursor(["yesterday", str(uuid.uuid4())]),
        encoded_cursor(["2026-01-01T00:00:00", str(uuid.uuid4())]),  # no time zone
        encoded_cursor(["2026-01-01T00:00:00+00:00", "not-a-uuid"]),
        encoded_cursor(["2026-01-01T00:00:00+00:00"]),
        encoded_cursor(42),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        encoded_cursor(["2026-01-01T00:00:00+00:00", 42]),
        encoded_cursor(["0001-01-01T00:00:00+14:00", str(uuid.uuid4())]),
    ],
    ids=[
        "not-base64",
        "empty-object",
        "not-a-time",
        "naive-time",
        "not-a-uuid",
        "one-part",
        "a-number",
        "not-utf8",
        "numeric-id",
        "time-out-of-range",
    ],
)
async def test_a_tampered_cursor_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], cursor: str
) -> None:
    response = await client.get(STORES, params={"cursor": cursor}, headers=admin)

    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert field_locs(body) == [["query", "cursor"]]


async def test_a_cut_short_cursor_is_refused(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, admin: dict[str, str]
) -> None:
    await make_store(database, tenant.organization, name="Second")
    cursor = (await client.get(STORES, params={"limit": 1}, headers=admin)).json()["meta"][
        "next_cursor"
    ]

    response = await client.get(STORES, params={"cursor": cursor[:20]}, headers=admin)

    assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("limit", ["0", "201", "-1", "ten"])
async def test_a_bad_page_size_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], limit: str
) -> None:
    response = await client.get(STORES, params={"limit": limit}, headers=admin)

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["query", "limit"]]
