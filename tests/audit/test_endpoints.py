"""Reading the audit trail: who sees which events, the filters, newest-first cursor pages; no
route changes an event; an action that fails leaves none."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import AuditEvent, Role
from tests.assertions import assert_error, data_of
from tests.factories import bearer, make_operator, make_store, make_tenant, sign_in

EVENTS = "/api/v1/audit-events"


async def _rename_store(
    client: httpx.AsyncClient, headers: dict[str, str], store_id: uuid.UUID, name: str
) -> None:
    data_of(await client.patch(f"/api/v1/stores/{store_id}", json={"name": name}, headers=headers))


async def _actions(client: httpx.AsyncClient, headers: dict[str, str], **query: Any) -> list[str]:
    return [
        event["action"]
        for event in data_of(await client.get(EVENTS, params=query, headers=headers))
    ]


async def test_org_admins_see_their_organization_and_managers_their_stores(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    other = await make_tenant(database)
    second = await make_store(database, tenant.organization, "Second St")
    admin = await sign_in(client, tenant.admin)
    await _rename_store(client, admin, tenant.store.id, "Renamed")
    await _rename_store(client, admin, second.id, "Renamed 2")
    await _rename_store(client, await sign_in(client, other.admin), other.store.id, "Theirs")
    data_of(
        await client.patch(
            f"/api/v1/organizations/{tenant.organization.id}", json={"name": "Org 2"}, headers=admin
        )
    )

    events = data_of(await client.get(EVENTS, headers=admin))
    assert sorted(event["action"] for event in events) == [
        "organization.update",
        "store.update",
        "store.update",
    ]
    assert {event["organization_id"] for event in events} == {str(tenant.organization.id)}

    manager = await make_operator(
        database, Role.STORE_MANAGER, tenant.organization, stores=[tenant.store]
    )
    seen = data_of(await client.get(EVENTS, headers=await sign_in(client, manager)))
    assert [(event["action"], event["store_id"]) for event in seen] == [
        ("store.update", str(tenant.store.id))
    ]
    assert seen[0]["changes"] == {"before": {"name": "Main St"}, "after": {"name": "Renamed"}}

    support = await make_operator(database, Role.PLATFORM_ADMIN)
    everything = data_of(await client.get(EVENTS, headers=await sign_in(client, support)))
    assert len(everything) == 4


async def test_viewers_kiosks_and_anonymous_callers_are_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    assert_error(await client.get(EVENTS), 401, "AUTHENTICATION_REQUIRED")
    assert_error(await client.get(EVENTS, headers=bearer(tenant.kiosk_key)), 403, "FORBIDDEN")
    assert_error(await client.get(EVENTS, headers=await sign_in(client, viewer)), 403, "FORBIDDEN")


async def test_no_route_changes_or_deletes_an_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    admin = await sign_in(client, tenant.admin)
    await _rename_store(client, admin, tenant.store.id, "Renamed")
    [event] = data_of(await client.get(EVENTS, headers=admin))
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (EVENTS, f"{EVENTS}/{event['id']}"):
            response = await client.request(method, path, json={}, headers=admin)
            assert response.status_code in (404, 405), (method, path)
    assert data_of(await client.get(EVENTS, headers=admin)) == [event]


async def test_filters_and_newest_first_pages(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    second = await make_store(database, tenant.organization, "Second St")
    admin = await sign_in(client, tenant.admin)
    start = clock.now()
    for number in range(3):
        clock.advance(60)
        await _rename_store(client, admin, tenant.store.id, f"Name {number}")
    clock.advance(60)
    await _rename_store(client, admin, second.id, "Other")
    clock.advance(60)
    data_of(
        await client.post(f"/api/v1/kiosks/{tenant.kiosk.id}/keys", json={}, headers=admin), 201
    )

    assert await _actions(client, admin) == [
        "kiosk_key.issue",
        "store.update",
        *["store.update"] * 3,
    ]
    assert len(await _actions(client, admin, store_id=str(second.id))) == 1
    assert await _actions(client, admin, action="kiosk_key.issue") == ["kiosk_key.issue"]
    assert await _actions(client, admin, action="store.") == ["store.update"] * 4
    assert await _actions(client, admin, action="store") == []  # exact unless it ends in "."
    assert await _actions(client, admin, actor_id=str(uuid.uuid4())) == []
    assert len(await _actions(client, admin, actor_id=str(tenant.admin.id))) == 5
    window = {
        "since": (start + timedelta(seconds=120)).isoformat(),
        "until": (start + timedelta(seconds=240)).isoformat(),
    }
    assert len(await _actions(client, admin, **window)) == 2

    names: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2, "action": "store."}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(EVENTS, params=params, headers=admin)
        body = response.json()
        names += [event["changes"]["after"]["name"] for event in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert names == ["Other", "Name 2", "Name 1", "Name 0"]


async def test_an_action_that_fails_leaves_no_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The event is written in the action's transaction: a store with kiosks cannot be deleted
    (409), and the rolled-back request leaves no `store.delete`."""
    tenant = await make_tenant(database)
    admin = await sign_in(client, tenant.admin)
    response = await client.delete(f"/api/v1/stores/{tenant.store.id}", headers=admin)
    assert response.status_code == 409, response.text
    async with database.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def test_an_event_outlives_what_it_names(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    spare = await make_store(database, tenant.organization, "Closing St")
    admin = await sign_in(client, tenant.admin)
    response = await client.delete(f"/api/v1/stores/{spare.id}", headers=admin)
    assert response.status_code == 204, response.text
    [event] = data_of(await client.get(EVENTS, headers=admin))
    assert (event["action"], event["store_id"]) == ("store.delete", str(spare.id))
    assert event["changes"]["before"]["name"] == "Closing St"
    assert event["changes"]["after"] == {}
    assert datetime.fromisoformat(event["created_at"]).tzinfo == UTC


async def test_each_event_names_its_actor_by_email_while_the_operator_exists(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    colleague = await make_operator(database, Role.ORG_ADMIN, tenant.organization)
    admin = await sign_in(client, tenant.admin)
    await _rename_store(client, admin, tenant.store.id, "By the admin")
    clock.advance(60)
    await _rename_store(client, await sign_in(client, colleague), tenant.store.id, "By a colleague")

    events = data_of(await client.get(EVENTS, headers=admin))
    assert [(event["actor_email"], event["actor_id"]) for event in events] == [
        (colleague.email, str(colleague.id)),
        (tenant.admin.email, str(tenant.admin.id)),
    ]
    # Deleted, the operator keeps their events; only their email is no longer on file.
    deleted = await client.delete(f"/api/v1/operators/{colleague.id}", headers=admin)
    assert deleted.status_code == 204, deleted.text
    events = data_of(await client.get(EVENTS, headers=admin, params={"action": "store.update"}))
    assert [(event["actor_email"], event["actor_id"]) for event in events] == [
        (None, str(colleague.id)),
        (tenant.admin.email, str(tenant.admin.id)),
    ]
