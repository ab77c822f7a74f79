"""Kiosk keys on REST come from the per-process key cache `/cable` uses (auth/key_cache.py): a
kiosk's requests read its key once, not once each, and a key that stops being valid stops at once
(its expiry on every request; a revocation, a disabled or deleted kiosk, a roll through the
notice that empties the cache in every process), embedded and scaled alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ridgeline.app import app_services, create_app
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import KioskApiKey
from ridgeline.models.kiosk import Kiosk
from ridgeline.realtime.backplane import RedisBackplane
from tests.assertions import assert_error
from tests.factories import Tenant, bearer, make_kiosk, make_tenant, sign_in
from tests.realtime.notices import hearing
from tests.redis_server import running_redis

KIOSK_ME = "/api/v1/kiosks/me"


@pytest.fixture
async def tenant(database: Database) -> Tenant:
    return await make_tenant(database)


async def me(client: httpx.AsyncClient, key: str) -> httpx.Response:
    return await client.get(KIOSK_ME, headers=bearer(key))


async def test_a_kiosks_requests_read_its_key_once_and_each_use_is_recorded(
    app: FastAPI,
    client: httpx.AsyncClient,
    database: Database,
    tenant: Tenant,
    clock: FakeClock,
    key_reads: list[int],
) -> None:
    for _ in range(3):
        clock.advance(1)
        assert (await me(client, tenant.kiosk_key)).status_code == 200
    assert key_reads == [1]
    # Each use is recorded, cached or not: the flush writes the last.
    assert await app_services(app).kiosk_key_usage.flush(database) == 1
    async with database.transaction(write=False) as session:
        key = await session.get(KioskApiKey, tenant.kiosk_key_id)
        kiosk = await session.get(Kiosk, tenant.kiosk.id)
    assert key is not None
    assert kiosk is not None
    assert key.last_used_at == clock.now()
    assert kiosk.last_seen_at == clock.now()
    assert_error(await me(client, "rk_live_not-a-key"), 401, "INVALID_TOKEN")


async def test_a_cached_key_stops_at_its_expiry(
    client: httpx.AsyncClient, tenant: Tenant, clock: FakeClock, key_reads: list[int]
) -> None:
    admin = await sign_in(client, tenant.admin)
    response = await client.post(
        f"/api/v1/kiosks/{tenant.kiosk.id}/keys", json={"expires_in_s": 600}, headers=admin
    )
    assert response.status_code == 201, response.text
    key = response.json()["data"]["key"]
    assert (await me(client, key)).status_code == 200
    reads = len(key_reads)

    clock.advance(599)
    assert (await me(client, key)).status_code == 200
    clock.advance(1)
    assert_error(await me(client, key), 401, "TOKEN_EXPIRED")
    assert len(key_reads) == reads + 1  # cached until then; the read says why it is refused


@pytest.mark.parametrize("change", ["revoke", "disable", "roll", "delete"])
async def test_a_cached_key_is_refused_at_once_after_a_change_through_the_api(
    client: httpx.AsyncClient, database: Database, tenant: Tenant, change: str
) -> None:
    """Embedded mode: the request that makes the change empties its own process's cache before
    it answers, so the kiosk's very next request is refused."""
    admin = await sign_in(client, tenant.admin)
    _, other_key, _ = await make_kiosk(database, tenant.store, "Kiosk 2")
    for key in (tenant.kiosk_key, other_key):
        assert (await me(client, key)).status_code == 200  # both cached now
    kiosk_url = f"/api/v1/kiosks/{tenant.kiosk.id}"
    if change == "revoke":
        response = await client.delete(f"{kiosk_url}/keys/{tenant.kiosk_key_id}", headers=admin)
    elif change == "disable":
        response = await client.patch(kiosk_url, json={"status": "disabled"}, headers=admin)
    elif change == "roll":
        response = await client.post(
            f"{kiosk_url}/keys", json={"expire_existing_in_s": 0}, headers=admin
        )
    else:
        response = await client.delete(kiosk_url, headers=admin)
    assert response.status_code < 300, response.text

    refused = await me(client, tenant.kiosk_key)

    expected = {
        "revoke": "TOKEN_REVOKED",
        "disable": "TOKEN_REVOKED",
        "roll": "TOKEN_EXPIRED",
        "delete": "INVALID_TOKEN",
    }
    assert_error(refused, 401, expected[change])
    assert (await me(client, other_key)).status_code == 200  # another kiosk's key is kept


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """`app`'s hub started (its backplane connected) and a client of it."""
    hub = app_services(app).hub
    await hub.start()
    try:
        assert isinstance(hub.backplane, RedisBackplane)
        await asyncio.wait_for(hub.backplane.connected.wait(), 10)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        services = app_services(app)
        await hub.stop()
        await services.pos_connector.aclose()
        await services.sign_in_throttle.aclose()
        await services.api_rate_limits.aclose()


@pytest.mark.parametrize("change", ["revoke", "disable", "roll"])
async def test_a_key_cached_by_another_process_is_refused_there_once_the_notice_arrives(
    settings: Settings,
    database: Database,
    clock: FakeClock,
    tenant: Tenant,
    tmp_path: Path,
    change: str,
) -> None:
    """Scaled mode: two processes over one database and Redis. The one that did not make the
    change refuses the key as soon as the change's notice reaches it, not when its entry would
    have gone stale (300 s here)."""
    async with running_redis(tmp_path) as redis:
        scaled = settings.model_copy(
            update={"redis_url": redis.url, "cable_key_cache_ttl_s": 300.0}
        )
        here = create_app(scaled, database=database, clock=clock)
        there = create_app(scaled, database=database, clock=clock)
        next_notice = hearing(app_services(there).hub)
        async with serving(here) as here_client, serving(there) as there_client:
            assert (await me(there_client, tenant.kiosk_key)).status_code == 200
            assert len(app_services(there).hub.key_cache) == 1

            admin = await sign_in(here_client, tenant.admin)
            kiosk_url = f"/api/v1/kiosks/{tenant.kiosk.id}"
            heard = next_notice()
            if change == "revoke":
                response = await here_client.delete(
                    f"{kiosk_url}/keys/{tenant.kiosk_key_id}", headers=admin
                )
            elif change == "disable":
                response = await here_client.patch(
                    kiosk_url, json={"status": "disabled"}, headers=admin
                )
            else:
                response = await here_client.post(
                    f"{kiosk_url}/keys", json={"expire_existing_in_s": 0}, headers=admin
                )
            assert response.status_code < 300, response.text
            await asyncio.wait_for(heard.wait(), 10)

            assert len(app_services(there).hub.key_cache) == 0
            refused = await me(there_client, tenant.kiosk_key)
            assert_error(refused, 401, "TOKEN_EXPIRED" if change == "roll" else "TOKEN_REVOKED")


async def test_the_rest_path_and_the_hub_share_one_cache(app: FastAPI) -> None:
    services = app_services(app)
    assert services.kiosk_key_reader.cache is services.hub.key_cache
    assert services.hub.key_cache.ttl_s == services.settings.cable_key_cache_ttl_s
