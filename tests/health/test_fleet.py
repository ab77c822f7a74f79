"""The operator console's fleet (`GET /api/v1/fleet`): every field of a store as support reads
it, scoping, filters and paging, bad input, and a statement count that does not grow with the
number of stores."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.app import app_services
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.health.fleet import encode_cursor, worst_severity
from ridgeline.models import (
    AdminNotification,
    Kiosk,
    Order,
    OrderStatus,
    Organization,
    Role,
    Store,
    StoreConnectionState,
    SyncKind,
    SyncRun,
    SyncStatus,
    SyncTrigger,
)
from ridgeline.models.circuit_breaker import CircuitBreakerState, CircuitState
from ridgeline.models.health import StoreHealth
from ridgeline.models.kiosk import KioskStatus
from ridgeline.models.sync import StoreSyncState
from ridgeline.realtime.state import PresenceEntry
from tests.assertions import assert_error
from tests.factories import make_operator, make_organization, sign_in

FLEET = "/api/v1/fleet"


def _health(store: Store, state: StoreConnectionState, cause: str, at: datetime) -> StoreHealth:
    return StoreHealth(
        store_id=store.id,
        organization_id=store.organization_id,
        state=state,
        cause=cause,
        since=at,
        updated_at=at,
    )


def _order(store: Store, kiosk: Kiosk, status: OrderStatus, placed: datetime) -> Order:
    return Order(
        organization_id=store.organization_id,
        store_id=store.id,
        kiosk_id=kiosk.id,
        reference=f"RL-{uuid.uuid4().hex[:10].upper()}",
        status=status,
        subtotal_cents=1000,
        currency="USD",
        pos_idempotency_key=uuid.uuid4().hex,
        status_changed_at=placed,
        created_at=placed,
    )


def _alert(
    store: Store, severity: str, state: str, at: datetime, **extra: Any
) -> AdminNotification:
    return AdminNotification(
        organization_id=store.organization_id,
        store_id=store.id,
        kind="store_health",
        severity=severity,
        state=state,
        title=f"{severity} {state}",
        message="a test alert",
        details={},
        created_at=at,
        updated_at=at,
        **extra,
    )


def _sync(store: Store, kind: SyncKind, status: SyncStatus, at: datetime, **extra: Any) -> SyncRun:
    return SyncRun(
        organization_id=store.organization_id,
        store_id=store.id,
        kind=kind,
        trigger=SyncTrigger.SCHEDULE,
        status=status,
        started_at=at,
        heartbeat_at=at,
        **extra,
    )


async def busy_store(
    session: AsyncSession, organization: Organization, name: str, now: datetime
) -> tuple[Store, list[Kiosk]]:
    """A store with everything the fleet shows: POS, a judged state, an open breaker, syncs
    (the latest failed), two enabled kiosks and a disabled one, waiting and settled orders,
    alerts in every state."""
    store = Store(organization_id=organization.id, name=name, pos_provider="dutchie")
    session.add(store)
    await session.flush()
    session.add(_health(store, StoreConnectionState.ERROR, "breaker_open", now))
    session.add(
        CircuitBreakerState(
            store_id=store.id,
            state=CircuitState.OPEN,
            state_changed_at=now,
            opened_at=now,
            open_until=now + timedelta(seconds=30),
            wait_ms=30_000,
            updated_at=now,
        )
    )
    session.add(
        StoreSyncState(
            store_id=store.id,
            organization_id=organization.id,
            last_success_at=now - timedelta(hours=2),
        )
    )
    session.add(
        _sync(
            store,
            SyncKind.FULL,
            SyncStatus.SUCCEEDED,
            now - timedelta(hours=2),
            finished_at=now - timedelta(hours=2),
        )
    )
    session.add(
        _sync(
            store,
            SyncKind.INVENTORY,
            SyncStatus.FAILED,
            now - timedelta(minutes=5),
            finished_at=now - timedelta(minutes=4),
            error="POS unreachable",
        )
    )
    kiosks = [
        Kiosk(
            organization_id=organization.id,
            store_id=store.id,
            name=f"Kiosk {n}",
            last_seen_at=now - timedelta(minutes=n),
        )
        for n in (1, 2)
    ]
    disabled = Kiosk(
        organization_id=organization.id,
        store_id=store.id,
        name="Old kiosk",
        status=KioskStatus.DISABLED,
        last_seen_at=now,
    )
    session.add_all([*kiosks, disabled])
    await session.flush()
    session.add(_order(store, kiosks[0], OrderStatus.QUEUED, now - timedelta(minutes=10)))
    session.add(_order(store, kiosks[0], OrderStatus.RECEIVED, now - timedelta(minutes=1)))
    session.add(_order(store, kiosks[1], OrderStatus.COMPLETED, now - timedelta(hours=1)))
    session.add(_alert(store, "warning", "firing", now))
    session.add(_alert(store, "critical", "acknowledged", now, acknowledged_at=now))
    session.add(_alert(store, "critical", "pending", now))  # nobody was told yet
    session.add(_alert(store, "critical", "resolved", now, resolved_at=now))
    return store, kiosks


async def join(app: FastAPI, kiosk: Kiosk) -> None:
    """Marks the kiosk connected to /cable, as a live connection's presence does."""
    now = time.time()
    await app_services(app).hub.state.join(
        PresenceEntry(
            connection_id=uuid.uuid4().hex,
            kiosk_id=str(kiosk.id),
            store_id=str(kiosk.store_id),
            node="test",
            connected_at=now,
            refreshed_at=now,
        )
    )


async def admin_of(client: httpx.AsyncClient, database: Database, org: Organization) -> Any:
    return await sign_in(client, await make_operator(database, Role.ORG_ADMIN, org))


async def fleet(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(FLEET, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_busy_store_shows_everything_support_looks_at(
    database: Database, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    now = clock.now()
    org = await make_organization(database)
    async with database.transaction() as session:
        store, kiosks = await busy_store(session, org, "Main St", now)
        fresh = Store(organization_id=org.id, name="New St")
        session.add(fresh)
    await join(app, kiosks[0])
    await join(app, kiosks[0])  # a second connection of the same kiosk counts once
    headers = await admin_of(client, database, org)

    page = await fleet(client, headers)
    assert page["status"] == "success"
    assert [row["name"] for row in page["data"]] == ["Main St", "New St"]
    busy, new = page["data"]
    assert busy == {
        "store_id": str(store.id),
        "name": "Main St",
        "organization_id": str(org.id),
        "pos_provider": "dutchie",
        "state": "error",
        "cause": "breaker_open",
        "since": busy["since"],
        "next_recovery_at": None,
        "breaker": {"state": "open", "open_until": busy["breaker"]["open_until"]},
        "last_sync": {
            "kind": "inventory",
            "status": "failed",
            "started_at": busy["last_sync"]["started_at"],
            "finished_at": busy["last_sync"]["finished_at"],
            "error": "POS unreachable",
        },
        "last_success_at": busy["last_success_at"],
        "kiosks": {
            "online": 1,
            "total": 2,
            "last_heartbeat_at": busy["kiosks"]["last_heartbeat_at"],
        },
        "queued_orders": {
            "count": 2,
            "oldest_placed_at": busy["queued_orders"]["oldest_placed_at"],
        },
        "firing_alerts": {"count": 2, "worst_severity": "critical"},
    }

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    assert at(busy["since"]) == now
    assert at(busy["breaker"]["open_until"]) == now + timedelta(seconds=30)
    assert at(busy["last_sync"]["started_at"]) == now - timedelta(minutes=5)
    assert at(busy["last_success_at"]) == now - timedelta(hours=2)
    # The disabled kiosk (seen just now) counts for nothing.
    assert at(busy["kiosks"]["last_heartbeat_at"]) == now - timedelta(minutes=1)
    assert at(busy["queued_orders"]["oldest_placed_at"]) == now - timedelta(minutes=10)
    # A store the state machine never judged says so, and has nothing else yet.
    assert new == {
        "store_id": str(fresh.id),
        "name": "New St",
        "organization_id": str(org.id),
        "pos_provider": None,
        "state": None,
        "cause": None,
        "since": None,
        "next_recovery_at": None,
        "breaker": {"state": "closed", "open_until": None},
        "last_sync": None,
        "last_success_at": None,
        "kiosks": {"online": 0, "total": 0, "last_heartbeat_at": None},
        "queued_orders": {"count": 0, "oldest_placed_at": None},
        "firing_alerts": {"count": 0, "worst_severity": None},
    }
    assert page["meta"] == {
        "next_cursor": None,
        "count": 2,
        "counts": {
            "connected": 0,
            "degraded": 0,
            "error": 1,
            "offline": 0,
            "unconfigured": 0,
            "paused": 0,
            "unjudged": 1,
        },
    }


async def test_presence_that_cannot_be_read_shows_no_kiosk_online(
    database: Database, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock, monkeypatch: Any
) -> None:
    org = await make_organization(database)
    async with database.transaction() as session:
        _, kiosks = await busy_store(session, org, "Main St", clock.now())
    await join(app, kiosks[0])

    async def redis_down(store_ids: Any) -> Any:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(app_services(app).hub.state, "present_many", redis_down)
    page = await fleet(client, await admin_of(client, database, org))
    assert page["data"][0]["kiosks"]["online"] == 0
    assert page["data"][0]["kiosks"]["total"] == 2


async def test_callers_see_only_their_stores(
    database: Database, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    now = clock.now()
    ours = await make_organization(database)
    theirs = await make_organization(database)
    async with database.transaction() as session:
        first, _ = await busy_store(session, ours, "Alpha", now)
        second = Store(organization_id=ours.id, name="Beta")
        session.add(second)
        await busy_store(session, theirs, "Aardvark", now)
    admin = await admin_of(client, database, ours)
    assert [row["name"] for row in (await fleet(client, admin))["data"]] == ["Alpha", "Beta"]
    viewer = await sign_in(client, await make_operator(database, Role.VIEWER, ours))
    page = await fleet(client, viewer)
    assert [row["name"] for row in page["data"]] == ["Alpha", "Beta"]
    assert page["meta"]["counts"]["error"] == 1  # not the other organization's store
    manager = await sign_in(
        client, await make_operator(database, Role.STORE_MANAGER, ours, stores=[second])
    )
    page = await fleet(client, manager)
    assert [row["name"] for row in page["data"]] == ["Beta"]
    assert page["meta"]["counts"]["unjudged"] == 1
    assert page["meta"]["counts"]["error"] == 0
    # A cursor naming another organization's store (or one out of the manager's reach) leaks
    # nothing: the list simply ends.
    other = await fleet(client, manager, cursor=encode_cursor(first.id))
    assert other["data"] == []
    platform = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    names = [row["name"] for row in (await fleet(client, platform))["data"]]
    assert names == ["Aardvark", "Alpha", "Beta"]
    response = await client.get(FLEET)
    assert response.status_code == 401, response.text


async def test_filters_and_paging(
    database: Database, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    now = clock.now()
    org = await make_organization(database)
    async with database.transaction() as session:
        for name, state in [
            ("Delta", StoreConnectionState.CONNECTED),
            ("alpha", StoreConnectionState.CONNECTED),
            ("Charlie 100%", StoreConnectionState.PAUSED),
            ("Bravo", None),
            ("Echo", StoreConnectionState.OFFLINE),
        ]:
            store = Store(organization_id=org.id, name=name)
            session.add(store)
            await session.flush()
            if state is not None:
                session.add(_health(store, state, "ok", now))
    headers = await admin_of(client, database, org)

    def names(page: Any) -> list[str]:
        return [row["name"] for row in page["data"]]

    # By name as the database collates it (case matters on SQLite, maybe not on PostgreSQL).
    everything = await fleet(client, headers)
    assert names(everything)[0] in ("Bravo", "alpha")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await fleet(client, headers, **params)
        pages += 1
        seen += names(page)
        assert page["meta"]["count"] == len(page["data"]) <= 2
        assert page["meta"]["counts"]["connected"] == 2  # whatever the page
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == names(everything)
    assert len(set(seen)) == 5

    connected = [name for name in names(everything) if name in ("Delta", "alpha")]
    assert names(await fleet(client, headers, state="connected")) == connected
    both = await client.get(
        FLEET, params=[("state", "paused"), ("state", "unjudged")], headers=headers
    )
    assert both.status_code == 200, both.text
    assert sorted(names(both.json())) == ["Bravo", "Charlie 100%"]
    filtered = await fleet(client, headers, state="offline")
    assert names(filtered) == ["Echo"]
    assert filtered["meta"]["counts"]["connected"] == 2  # counts ignore the filters
    assert names(await fleet(client, headers, q="ALPH")) == ["alpha"]
    assert names(await fleet(client, headers, q="100%")) == ["Charlie 100%"]
    assert names(await fleet(client, headers, q="%")) == ["Charlie 100%"]  # literal, no wildcard
    assert names(await fleet(client, headers, q="_")) == []
    assert names(await fleet(client, headers, q="a", state="offline")) == []


async def test_same_names_page_by_id(
    database: Database, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    orgs = [await make_organization(database) for _ in range(3)]
    async with database.transaction() as session:
        stores = [Store(organization_id=org.id, name="Main St") for org in orgs]
        session.add_all(stores)
    platform = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    first = await fleet(client, platform, limit=2)
    rest = await fleet(client, platform, limit=2, cursor=first["meta"]["next_cursor"])
    ids = [row["store_id"] for row in first["data"] + rest["data"]]
    assert ids == sorted(str(store.id) for store in stores)
    assert rest["meta"]["next_cursor"] is None


async def test_bad_input_is_a_validation_error(
    database: Database, client: httpx.AsyncClient
) -> None:
    headers = await admin_of(client, database, await make_organization(database))
    for params in (
        {"cursor": "not a cursor!"},
        {"cursor": "AAAA"},
        {"state": "sideways"},
        {"limit": "0"},
        {"limit": "201"},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "nul\x00byte"},
    ):
        body = assert_error(
            await client.get(FLEET, params=params, headers=headers), 422, "VALIDATION_ERROR"
        )
        assert body["error"]["details"]["fields"], params


async def seed_fleet(database: Database, app: FastAPI, count: int, now: datetime) -> Any:
    org = await make_organization(database)
    async with database.transaction() as session:
        busy = [await busy_store(session, org, f"Store {n:03}", now) for n in range(count)]
    for _, kiosks in busy:
        await join(app, kiosks[0])
    return org


@contextmanager
def counting_statements(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def test_statements_do_not_grow_with_the_number_of_stores(
    database: Database, app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    counted: dict[int, int] = {}
    for size in (5, 50):
        org = await seed_fleet(database, app, size, clock.now())
        headers = await admin_of(client, database, org)
        await fleet(client, headers, limit=200)  # warm: whatever a first request does once
        with counting_statements(database) as statements:
            page = await fleet(client, headers, limit=200)
        assert len(page["data"]) == size
        assert all(
            row["kiosks"] == {**row["kiosks"], "online": 1, "total": 2} for row in page["data"]
        )
        assert all(row["queued_orders"]["count"] == 2 for row in page["data"])
        assert all(row["firing_alerts"]["count"] == 2 for row in page["data"])
        assert all(row["last_sync"]["status"] == "failed" for row in page["data"])
        counted[size] = len(statements)
    assert counted[5] == counted[50], counted
    assert counted[50] <= 12, counted


def test_the_worst_severity() -> None:
    assert worst_severity({}) is None
    assert worst_severity({"info": 3, "warning": 1}) == "warning"
    assert worst_severity({"info": 1, "critical": 1, "warning": 2}) == "critical"
    assert worst_severity({"custom": 1}) == "custom"
    assert worst_severity({"custom": 1, "info": 1}) == "info"
