"""Kiosks: store managers register, rename, disable and remove the kiosks of their stores."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from ridgeline.db.engine import Database
from ridgeline.models import KioskApiKey, Role
from tests.assertions import assert_error, data_of, field_locs
from tests.factories import (
    Tenant,
    bearer,
    make_kiosk,
    make_operator,
    make_store,
    make_tenant,
    sign_in,
)

KIOSKS = "/api/v1/kiosks"


async def create_kiosk(
    client: httpx.AsyncClient, headers: dict[str, str], store_id: uuid.UUID, name: str = "Lobby"
) -> httpx.Response:
    return await client.post(
        KIOSKS, json={"store_id": str(store_id), "name": name}, headers=headers
    )


async def kiosk_ids(
    client: httpx.AsyncClient, headers: dict[str, str], path: str = KIOSKS, **params: str
) -> list[str]:
    return [
        kiosk["id"] for kiosk in data_of(await client.get(path, params=params, headers=headers))
    ]


async def stored_key_count(database: Database, kiosk_id: uuid.UUID) -> int:
    async with database.transaction(write=False) as session:
        count = await session.scalar(
            select(func.count()).select_from(KioskApiKey).where(KioskApiKey.kiosk_id == kiosk_id)
        )
    return int(count or 0)


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


@pytest.fixture
async def manager(client: httpx.AsyncClient, database: Database, tenant: Tenant) -> dict[str, str]:
    """A store manager assigned to the tenant's store."""
    operator = await make_operator(
        database, Role.STORE_MANAGER, tenant.organization, stores=[tenant.store]
    )
    return await sign_in(client, operator)


async def test_a_store_manager_registers_reads_renames_and_deletes_a_kiosk(
    client: httpx.AsyncClient, tenant: Tenant, manager: dict[str, str]
) -> None:
    created = data_of(await create_kiosk(client, manager, tenant.store.id, "Lobby"), 201)
    url = f"{KIOSKS}/{created['id']}"
    assert created["store_id"] == str(tenant.store.id)
    assert created["organization_id"] == str(tenant.organization.id)
    assert created["status"] == "active"
    assert created["last_seen_at"] is None
    assert data_of(await client.get(url, headers=manager)) == created

    renamed = data_of(await client.patch(url, json={"name": "Entrance"}, headers=manager))
    assert renamed["name"] == "Entrance"
    # An explicit null for a field that cannot be empty is refused at that field.
    emptied = await client.patch(url, json={"name": None}, headers=manager)
    assert_error(emptied, 422, "VALIDATION_ERROR")
    assert field_locs(emptied.json()) == [["body", "name"]]
    assert renamed["status"] == "active"

    deleted = await client.delete(url, headers=manager)
    assert deleted.status_code == 204, deleted.text
    assert_error(await client.get(url, headers=manager), 404, "NOT_FOUND")
    assert await kiosk_ids(client, manager) == [str(tenant.kiosk.id)]


async def test_a_kiosk_is_listed_under_its_store(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, manager: dict[str, str]
) -> None:
    second = data_of(await create_kiosk(client, manager, tenant.store.id), 201)
    other_store = await make_store(database, tenant.organization, name="Elsewhere")
    await make_kiosk(database, other_store)
    admin = await sign_in(client, tenant.admin)
    expected = [str(tenant.kiosk.id), second["id"]]

    assert await kiosk_ids(client, admin, f"/api/v1/stores/{tenant.store.id}/kiosks") == expected
    assert await kiosk_ids(client, admin, store_id=str(tenant.store.id)) == expected
    assert len(await kiosk_ids(client, admin)) == 3
    first_page = await client.get(
        f"/api/v1/stores/{tenant.store.id}/kiosks", params={"limit": 1}, headers=admin
    )
    assert first_page.json()["meta"]["count"] == 1
    assert first_page.json()["meta"]["next_cursor"] is not None


async def test_deleting_a_kiosk_ends_its_api_keys(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, manager: dict[str, str]
) -> None:
    assert (await client.get(f"{KIOSKS}/me", headers=bearer(tenant.kiosk_key))).status_code == 200

    response = await client.delete(f"{KIOSKS}/{tenant.kiosk.id}", headers=manager)

    assert response.status_code == 204, response.text
    gone = await client.get(f"{KIOSKS}/me", headers=bearer(tenant.kiosk_key))
    assert_error(gone, 401, "INVALID_TOKEN")
    assert await stored_key_count(database, tenant.kiosk.id) == 0


async def test_a_store_can_be_deleted_once_its_kiosks_are(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await sign_in(client, tenant.admin)
    store_url = f"/api/v1/stores/{tenant.store.id}"
    assert_error(await client.delete(store_url, headers=admin), 409, "NOT_EMPTY")

    assert (await client.delete(f"{KIOSKS}/{tenant.kiosk.id}", headers=admin)).status_code == 204

    assert (await client.delete(store_url, headers=admin)).status_code == 204


async def test_a_viewer_reads_kiosks_but_cannot_change_them(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))
    url = f"{KIOSKS}/{tenant.kiosk.id}"

    assert data_of(await client.get(url, headers=viewer))["name"] == tenant.kiosk.name
    for response in (
        await create_kiosk(client, viewer, tenant.store.id),
        await client.patch(url, json={"status": "disabled"}, headers=viewer),
        await client.delete(url, headers=viewer),
    ):
        body = assert_error(response, 403, "FORBIDDEN")
        assert body["error"]["details"]["required_role"] == "store_manager"
    assert (await client.get(f"{KIOSKS}/me", headers=bearer(tenant.kiosk_key))).status_code == 200


async def test_a_store_manager_cannot_touch_another_stores_kiosks(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, manager: dict[str, str]
) -> None:
    other_store = await make_store(database, tenant.organization, name="Elsewhere")
    kiosk, key, _ = await make_kiosk(database, other_store)
    url = f"{KIOSKS}/{kiosk.id}"

    assert str(kiosk.id) not in await kiosk_ids(client, manager)
    for response in (
        await client.get(url, headers=manager),
        await client.patch(url, json={"status": "disabled"}, headers=manager),
        await client.delete(url, headers=manager),
        await client.post(f"{url}/keys", json={}, headers=manager),
        await create_kiosk(client, manager, other_store.id),
    ):
        assert_error(response, 404, "NOT_FOUND")
    assert (await client.get(f"{KIOSKS}/me", headers=bearer(key))).status_code == 200


async def test_another_organizations_kiosks_are_not_found(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await sign_in(client, (await make_tenant(database)).admin)
    url = f"{KIOSKS}/{tenant.kiosk.id}"

    assert str(tenant.kiosk.id) not in await kiosk_ids(client, other)
    assert await kiosk_ids(client, other, store_id=str(tenant.store.id)) == []
    for response in (
        await client.get(url, headers=other),
        await client.patch(url, json={"name": "Mine"}, headers=other),
        await client.delete(url, headers=other),
        await client.get(f"/api/v1/stores/{tenant.store.id}/kiosks", headers=other),
        await create_kiosk(client, other, tenant.store.id),
    ):
        assert_error(response, 404, "NOT_FOUND")


async def test_a_missing_kiosk_is_not_found(
    client: httpx.AsyncClient, manager: dict[str, str]
) -> None:
    missing = uuid.uuid4()
    url = f"{KIOSKS}/{missing}"

    for response in (
        await client.get(url, headers=manager),
        await client.patch(url, json={"name": "x"}, headers=manager),
        await client.delete(url, headers=manager),
        await client.get(f"{url}/keys", headers=manager),
    ):
        body = assert_error(response, 404, "NOT_FOUND")
        assert body["error"]["details"]["resource"] == "kiosk"
        assert body["error"]["details"]["id"] == str(missing)
    unknown_store = await create_kiosk(client, manager, uuid.uuid4())
    assert assert_error(unknown_store, 404, "NOT_FOUND")["error"]["details"]["resource"] == "store"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"store_id": "not-a-uuid"}, "store_id"),
        ({"status": "disabled"}, "status"),
    ],
)
async def test_a_bad_kiosk_is_refused_and_nothing_is_created(
    client: httpx.AsyncClient,
    tenant: Tenant,
    manager: dict[str, str],
    body: dict[str, Any],
    field: str,
) -> None:
    payload = {"store_id": str(tenant.store.id), "name": "Lobby", **body}

    response = await client.post(KIOSKS, json=payload, headers=manager)

    assert field_locs(assert_error(response, 422, "VALIDATION_ERROR")) == [["body", field]]
    assert await kiosk_ids(client, manager) == [str(tenant.kiosk.id)]


@pytest.mark.parametrize(
    "change",
    [
        {"status": "broken"},
        {"status": None},
        {"name": None},
        {"name": ""},
        {"store_id": str(uuid.UUID(int=1))},
    ],
)
async def test_a_bad_kiosk_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, manager: dict[str, str], change: dict[str, Any]
) -> None:
    url = f"{KIOSKS}/{tenant.kiosk.id}"
    before = data_of(await client.get(url, headers=manager))

    assert_error(await client.patch(url, json=change, headers=manager), 422, "VALIDATION_ERROR")
    assert data_of(await client.get(url, headers=manager)) == before
