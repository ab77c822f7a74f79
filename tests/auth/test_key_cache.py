"""The kiosk key cache (`/cable` and REST) and its batched reader: every use is still checked
(revoked, expired, kiosk disabled), and what empties the cache empties it at once."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from ridgeline.auth import kiosk_keys
from ridgeline.auth import service as auth_service
from ridgeline.auth.key_cache import KioskKeyCache
from ridgeline.auth.principal import KioskPrincipal
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.auth.service import KioskKeyReader
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import InvalidToken, TokenExpired, TokenRevoked
from tests.factories import make_kiosk, make_tenant


def principal(kiosk_id: uuid.UUID | None = None) -> KioskPrincipal:
    return KioskPrincipal(
        kiosk_id=kiosk_id or uuid.uuid4(),
        store_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        key_id=uuid.uuid4(),
    )


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_serves_until_its_ttl_and_never_past_the_keys_expiry() -> None:
    ticks, clock = Ticks(), FakeClock()
    cache = KioskKeyCache(30, monotonic=ticks)
    lasting, expiring = principal(), principal()
    cache.put("a", lasting, None, since=cache.generation)
    cache.put("b", expiring, clock.now() + timedelta(seconds=5), since=cache.generation)
    assert cache.get("a", now=clock.now()) is lasting
    assert cache.get("b", now=clock.now()) is expiring
    clock.advance(5)
    assert cache.get("b", now=clock.now()) is None  # expired: the database read says so
    ticks.now = 30
    assert cache.get("a", now=clock.now()) is None
    assert len(cache) == 0


def test_forgetting_a_kiosk_drops_its_keys_or_the_one_named() -> None:
    cache, now = KioskKeyCache(30), FakeClock().now()
    kiosk = uuid.uuid4()
    first, second, other = principal(kiosk), principal(kiosk), principal()
    for key_hash, found in (("1", first), ("2", second), ("3", other)):
        cache.put(key_hash, found, None, since=cache.generation)
    cache.forget_kiosk(kiosk, first.key_id)
    assert cache.get("1", now=now) is None
    assert cache.get("2", now=now) is second
    cache.forget_kiosk(kiosk)
    assert cache.get("2", now=now) is None
    assert cache.get("3", now=now) is other


def test_a_read_that_began_before_a_revocation_is_not_cached() -> None:
    cache = KioskKeyCache(30)
    began = cache.generation
    found = principal()
    cache.forget_kiosk(found.kiosk_id, found.key_id)  # the revocation's notice, meanwhile
    cache.put("a", found, None, since=began)
    assert cache.get("a", now=FakeClock().now()) is None


def test_the_cache_is_bounded_and_off_at_zero_ttl() -> None:
    cache, now = KioskKeyCache(30, max_entries=2), FakeClock().now()
    for key_hash in "abc":
        cache.put(key_hash, principal(), None, since=cache.generation)
    assert len(cache) == 2
    assert cache.get("a", now=now) is None  # the oldest went first
    off = KioskKeyCache(0)
    off.put("a", principal(), None, since=off.generation)
    assert len(off) == 0


async def test_concurrent_connects_are_read_together_and_each_key_is_checked(
    database: Database, clock: FakeClock, key_reads: list[int]
) -> None:
    tenant = await make_tenant(database)
    keys = [tenant.kiosk_key]
    for n in range(4):
        _, key, _ = await make_kiosk(database, tenant.store, f"Kiosk {n + 2}")
        keys.append(key)
    cache, usage = KioskKeyCache(30), KioskKeyUsage()
    reader = KioskKeyReader(database, cache)
    found = await asyncio.gather(
        *(reader.authenticate(key, now=clock.now(), key_usage=usage) for key in keys)
    )
    assert [p.store_id for p in found] == [tenant.store.id] * 5
    assert key_reads == [5]  # one statement for the five
    assert usage.pending == 5
    with pytest.raises(InvalidToken):
        await reader.authenticate("rk_live_not-a-key", now=clock.now(), key_usage=usage)
    # Cached now: no read; its use is still recorded.
    await reader.authenticate(keys[0], now=clock.now(), key_usage=usage)
    assert key_reads == [5, 1]


async def test_a_cached_key_stops_at_its_expiry_and_at_its_revocation(
    database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    scope = TenantScope(organization_id=tenant.organization.id)
    async with database.transaction() as session:
        created = await kiosk_keys.issue_key(
            session, scope, tenant.kiosk.id, KioskKeyCreate(expires_in_s=60), now=clock.now()
        )
    reader, usage = KioskKeyReader(database, KioskKeyCache(300)), KioskKeyUsage()
    await reader.authenticate(created.key, now=clock.now(), key_usage=usage)
    await reader.authenticate(tenant.kiosk_key, now=clock.now(), key_usage=usage)
    assert len(reader.cache) == 2
    clock.advance(60)
    with pytest.raises(TokenExpired):
        await reader.authenticate(created.key, now=clock.now(), key_usage=usage)
    async with database.transaction() as session:
        await kiosk_keys.revoke_key(
            session, scope, tenant.kiosk.id, tenant.kiosk_key_id, now=clock.now()
        )
    # What the revocation's notice does in every process (tests/realtime: over Redis).
    reader.cache.forget_kiosk(tenant.kiosk.id, tenant.kiosk_key_id)
    with pytest.raises(TokenRevoked):
        await reader.authenticate(tenant.kiosk_key, now=clock.now(), key_usage=usage)


async def test_authenticating_without_the_cache_reads_the_key(
    database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    async with database.transaction(write=False) as session:
        found = await auth_service.authenticate(
            session,
            tenant.kiosk_key,
            settings=None,  # type: ignore[arg-type]  # a kiosk key needs none
            now=clock.now(),
            key_usage=KioskKeyUsage(),
        )
    assert isinstance(found, KioskPrincipal)
    assert found.key_id == tenant.kiosk_key_id
