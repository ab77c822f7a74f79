"""Kiosk API keys: issued once, stored as a hash, rolled with an overlap, revoked at once."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from ridgeline.app import app_services
from ridgeline.auth import kiosk_keys
from ridgeline.auth.schemas import KioskKeyCreate, KioskKeyCreated
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models import KioskApiKey, Role
from ridgeline.models.kiosk import Kiosk, KioskKeyPurpose
from tests.assertions import assert_error
from tests.factories import Tenant, bearer, make_kiosk, make_operator, make_tenant, sign_in

KIOSK_ME = "/api/v1/kiosks/me"


def keys_url(kiosk_id: uuid.UUID) -> str:
    return f"/api/v1/kiosks/{kiosk_id}/keys"


async def issue_key(
    client: httpx.AsyncClient, headers: dict[str, str], kiosk_id: uuid.UUID, **body: int
) -> dict[str, Any]:
    response = await client.post(keys_url(kiosk_id), json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["data"]
    return created


async def list_keys(
    client: httpx.AsyncClient, headers: dict[str, str], kiosk_id: uuid.UUID
) -> list[dict[str, Any]]:
    response = await client.get(keys_url(kiosk_id), headers=headers)
    assert response.status_code == 200, response.text
    keys: list[dict[str, Any]] = response.json()["data"]
    return keys


async def kiosk_me(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.get(KIOSK_ME, headers=bearer(key))


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


@pytest.fixture
async def admin(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    return await sign_in(client, tenant.admin)


async def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.AsyncClient,
    database: Database,
    tenant: Tenant,
    admin: dict[str, str],
    clock: FakeClock,
) -> None:
    created = await issue_key(client, admin, tenant.kiosk.id)

    key = created["key"]
    assert key.startswith("rk_live_")
    assert len(key) > 40
    assert created["key_prefix"] == key[: len("rk_live_") + 6]
    assert created["kiosk_id"] == str(tenant.kiosk.id)
    assert created["expires_at"] is None
    assert created["revoked_at"] is None
    assert datetime.fromisoformat(created["created_at"]) == clock.now()

    listed = await client.get(keys_url(tenant.kiosk.id), headers=admin)
    assert listed.status_code == 200, listed.text
    assert {k["id"] for k in listed.json()["data"]} == {str(tenant.kiosk_key_id), created["id"]}
    assert all("key" not in k for k in listed.json()["data"])
    assert key not in listed.text

    async with database.transaction(write=False) as session:
        stored = await session.get_one(KioskApiKey, uuid.UUID(created["id"]))
    assert stored.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {stored.key_hash, stored.key_prefix}


async def test_a_new_key_authenticates_its_kiosk(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    created = await issue_key(client, admin, tenant.kiosk.id)

    response = await kiosk_me(client, created["key"])

    assert response.status_code == 200, response.text
    kiosk = response.json()["data"]
    assert kiosk["id"] == str(tenant.kiosk.id)
    assert kiosk["store_id"] == str(tenant.store.id)


async def test_each_key_authenticates_only_its_own_kiosk(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    _, other_key, _ = await make_kiosk(database, tenant.store, name="Kiosk 2")

    mine = (await kiosk_me(client, tenant.kiosk_key)).json()["data"]
    other = (await kiosk_me(client, other_key)).json()["data"]

    assert mine["id"] == str(tenant.kiosk.id)
    assert other["id"] != mine["id"]


async def test_a_revoked_key_answers_token_revoked_at_once(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], clock: FakeClock
) -> None:
    spare = await issue_key(client, admin, tenant.kiosk.id)

    response = await client.delete(
        f"{keys_url(tenant.kiosk.id)}/{tenant.kiosk_key_id}", headers=admin
    )

    assert response.status_code == 200, response.text
    assert datetime.fromisoformat(response.json()["data"]["revoked_at"]) == clock.now()
    assert_error(await kiosk_me(client, tenant.kiosk_key), 401, "TOKEN_REVOKED")
    assert (await kiosk_me(client, spare["key"])).status_code == 200
    listed = {k["id"]: k for k in await list_keys(client, admin, tenant.kiosk.id)}
    assert listed[str(tenant.kiosk_key_id)]["revoked_at"] is not None
    assert listed[spare["id"]]["revoked_at"] is None


async def test_revoking_an_unknown_key_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    response = await client.delete(f"{keys_url(tenant.kiosk.id)}/{uuid.uuid4()}", headers=admin)

    body = assert_error(response, 404, "NOT_FOUND")
    assert body["error"]["details"]["resource"] == "kiosk_api_key"


async def test_rolling_keeps_the_old_key_until_the_cutoff(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], clock: FakeClock
) -> None:
    rolled = await issue_key(client, admin, tenant.kiosk.id, expire_existing_in_s=3600)

    clock.advance(3599)
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200
    clock.advance(1)
    assert_error(await kiosk_me(client, tenant.kiosk_key), 401, "TOKEN_EXPIRED")
    assert (await kiosk_me(client, rolled["key"])).status_code == 200
    admin = await sign_in(client, tenant.admin)  # the first access token expired meanwhile
    listed = {k["id"]: k for k in await list_keys(client, admin, tenant.kiosk.id)}
    assert datetime.fromisoformat(listed[str(tenant.kiosk_key_id)]["expires_at"]) == clock.now()
    assert listed[rolled["id"]]["expires_at"] is None


async def test_rolling_with_no_overlap_ends_the_old_key_at_once(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    rolled = await issue_key(client, admin, tenant.kiosk.id, expire_existing_in_s=0)

    assert_error(await kiosk_me(client, tenant.kiosk_key), 401, "TOKEN_EXPIRED")
    assert (await kiosk_me(client, rolled["key"])).status_code == 200


async def test_rolling_never_extends_a_key_that_expires_sooner(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], clock: FakeClock
) -> None:
    short = await issue_key(client, admin, tenant.kiosk.id, expires_in_s=600)
    await issue_key(client, admin, tenant.kiosk.id, expire_existing_in_s=3600)

    clock.advance(600)

    assert_error(await kiosk_me(client, short["key"]), 401, "TOKEN_EXPIRED")
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200


async def test_a_key_with_a_lifetime_expires(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], clock: FakeClock
) -> None:
    created = await issue_key(client, admin, tenant.kiosk.id, expires_in_s=600)

    clock.advance(599)
    assert (await kiosk_me(client, created["key"])).status_code == 200
    clock.advance(1)
    assert_error(await kiosk_me(client, created["key"]), 401, "TOKEN_EXPIRED")
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_s": 59},
        {"expires_in_s": "soon"},
        {"expire_existing_in_s": -1},
        {"expire_existing_in_s": 31 * 24 * 3600},
        {"lifetime": 600},
        {"purpose": "diagnostic"},  # only the doctor issues those
    ],
)
async def test_a_bad_key_request_is_refused_and_issues_nothing(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str], body: dict[str, Any]
) -> None:
    response = await client.post(keys_url(tenant.kiosk.id), json=body, headers=admin)

    assert_error(response, 422, "VALIDATION_ERROR")
    assert len(await list_keys(client, admin, tenant.kiosk.id)) == 1


async def test_a_disabled_kiosk_is_refused_until_enabled(
    client: httpx.AsyncClient, tenant: Tenant, admin: dict[str, str]
) -> None:
    async def set_status(status: str) -> None:
        response = await client.patch(
            f"/api/v1/kiosks/{tenant.kiosk.id}", json={"status": status}, headers=admin
        )
        assert response.status_code == 200, response.text

    await set_status("disabled")
    assert_error(await kiosk_me(client, tenant.kiosk_key), 401, "TOKEN_REVOKED")

    await set_status("active")
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200


async def test_a_kiosk_key_cannot_call_operator_endpoints(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    for path in ("/api/v1/stores", "/api/v1/auth/me", keys_url(tenant.kiosk.id)):
        response = await client.get(path, headers=bearer(tenant.kiosk_key))
        assert_error(response, 403, "FORBIDDEN")
    response = await client.post(
        keys_url(tenant.kiosk.id), json={}, headers=bearer(tenant.kiosk_key)
    )
    assert_error(response, 403, "FORBIDDEN")


async def test_an_operator_token_cannot_act_as_a_kiosk(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    assert_error(await client.get(KIOSK_ME, headers=admin), 403, "FORBIDDEN")


async def test_viewers_list_keys_but_cannot_issue_or_revoke_them(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, tenant.organization))

    assert len(await list_keys(client, viewer, tenant.kiosk.id)) == 1
    issued = await client.post(keys_url(tenant.kiosk.id), json={}, headers=viewer)
    assert_error(issued, 403, "FORBIDDEN")
    revoked = await client.delete(
        f"{keys_url(tenant.kiosk.id)}/{tenant.kiosk_key_id}", headers=viewer
    )
    assert_error(revoked, 403, "FORBIDDEN")
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200


async def test_another_organization_cannot_see_or_touch_the_keys(
    client: httpx.AsyncClient, database: Database, tenant: Tenant
) -> None:
    other = await sign_in(client, (await make_tenant(database)).admin)
    url = keys_url(tenant.kiosk.id)

    assert_error(await client.get(url, headers=other), 404, "NOT_FOUND")
    assert_error(await client.post(url, json={}, headers=other), 404, "NOT_FOUND")
    revoked = await client.delete(f"{url}/{tenant.kiosk_key_id}", headers=other)
    assert_error(revoked, 404, "NOT_FOUND")
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200


async def test_usage_appears_after_the_flush(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    tenant: Tenant,
    admin: dict[str, str],
    clock: FakeClock,
) -> None:
    usage: KioskKeyUsage = app_services(app).kiosk_key_usage
    clock.advance(60)
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200
    used_at = clock.now()
    clock.advance(60)

    (before,) = await list_keys(client, admin, tenant.kiosk.id)
    assert before["last_used_at"] is None

    assert await usage.flush(database) == 1

    (after,) = await list_keys(client, admin, tenant.kiosk.id)
    assert datetime.fromisoformat(after["last_used_at"]) == used_at
    kiosk = await client.get(f"/api/v1/kiosks/{tenant.kiosk.id}", headers=admin)
    assert datetime.fromisoformat(kiosk.json()["data"]["last_seen_at"]) == used_at
    async with database.transaction(write=False) as session:
        stored = await session.scalar(
            select(KioskApiKey.last_used_at).where(KioskApiKey.id == tenant.kiosk_key_id)
        )
    assert stored == used_at


# --- diagnostic keys (`ridgeline doctor`'s) ------------------------------------------------------


async def issue_diagnostic_key(
    database: Database, tenant: Tenant, clock: FakeClock, body: KioskKeyCreate | None = None
) -> KioskKeyCreated:
    async with database.transaction() as session:
        return await kiosk_keys.issue_key(
            session,
            TenantScope.everything(),
            tenant.kiosk.id,
            body or KioskKeyCreate(expires_in_s=kiosk_keys.DIAGNOSTIC_KEY_LIFETIME_S),
            now=clock.now(),
            purpose=KioskKeyPurpose.DIAGNOSTIC,
        )


async def test_a_diagnostic_keys_use_is_recorded_on_the_key_but_the_kiosk_is_not_seen(
    client: httpx.AsyncClient,
    app: FastAPI,
    database: Database,
    tenant: Tenant,
    admin: dict[str, str],
    clock: FakeClock,
) -> None:
    usage: KioskKeyUsage = app_services(app).kiosk_key_usage
    assert (await kiosk_me(client, tenant.kiosk_key)).status_code == 200
    seen_at = clock.now()
    await usage.flush(database)
    clock.advance(60)
    diagnostic = await issue_diagnostic_key(database, tenant, clock)

    response = await kiosk_me(client, diagnostic.key)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == str(tenant.kiosk.id)  # it acts as the kiosk
    used_at = clock.now()
    clock.advance(60)
    assert await usage.flush(database) == 1

    kiosk = await client.get(f"/api/v1/kiosks/{tenant.kiosk.id}", headers=admin)
    assert datetime.fromisoformat(kiosk.json()["data"]["last_seen_at"]) == seen_at
    async with database.transaction(write=False) as session:
        stored = await session.get_one(KioskApiKey, diagnostic.id)
        last_seen = await session.scalar(
            select(Kiosk.last_seen_at).where(Kiosk.id == tenant.kiosk.id)
        )
    assert stored.last_used_at == used_at
    assert last_seen == seen_at


async def test_a_diagnostic_key_is_listed_with_its_purpose_while_it_is_valid(
    client: httpx.AsyncClient,
    database: Database,
    tenant: Tenant,
    admin: dict[str, str],
    clock: FakeClock,
) -> None:
    diagnostic = await issue_diagnostic_key(database, tenant, clock)
    assert diagnostic.purpose is KioskKeyPurpose.DIAGNOSTIC
    listed = {k["id"]: k["purpose"] for k in await list_keys(client, admin, tenant.kiosk.id)}
    assert listed == {str(tenant.kiosk_key_id): "kiosk", str(diagnostic.id): "diagnostic"}

    # Spent (revoked, or expired): no longer the kiosk's key, no longer listed.
    revoked = await client.delete(f"{keys_url(tenant.kiosk.id)}/{diagnostic.id}", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["data"]["purpose"] == "diagnostic"
    expiring = await issue_diagnostic_key(database, tenant, clock)
    assert {k["id"] for k in await list_keys(client, admin, tenant.kiosk.id)} == {
        str(tenant.kiosk_key_id),
        str(expiring.id),
    }
    clock.advance(kiosk_keys.DIAGNOSTIC_KEY_LIFETIME_S)
    assert_error(await kiosk_me(client, expiring.key), 401, "TOKEN_EXPIRED")
    [own] = await list_keys(client, admin, tenant.kiosk.id)
    assert (own["id"], own["purpose"]) == (str(tenant.kiosk_key_id), "kiosk")


@pytest.mark.parametrize(
    "body",
    [
        KioskKeyCreate(),  # never expires
        KioskKeyCreate(expires_in_s=600),
        KioskKeyCreate(expires_in_s=120, expire_existing_in_s=0),  # would end the kiosk's keys
    ],
)
async def test_a_diagnostic_key_lives_120_s_at_most_and_rolls_nothing(
    database: Database, tenant: Tenant, clock: FakeClock, body: KioskKeyCreate
) -> None:
    with pytest.raises(ValueError, match="diagnostic"):
        await issue_diagnostic_key(database, tenant, clock, body)
    async with database.transaction(write=False) as session:
        keys = (await session.scalars(select(KioskApiKey))).all()
    assert [(k.id, k.expires_at) for k in keys] == [(tenant.kiosk_key_id, None)]
