"""Alert configuration over HTTP: rule overrides resolving field by field, silences moving
through their states on the clock, escalation policies and their uniqueness rules, and who may
read or change each."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ridgeline.alerts.rules import RULES, settings_for
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import Role, StreamMessage
from ridgeline.realtime.streams import ops_stream
from tests.factories import Tenant, make_operator, make_store, make_tenant, sign_in

RULES_PATH = "/api/v1/alert-rules"
SILENCES = "/api/v1/alert-silences"
POLICIES = "/api/v1/escalation-policies"


class Org:
    def __init__(self, tenant: Tenant, headers: dict[str, str]) -> None:
        self.tenant = tenant
        self.headers = headers

    async def advance(self, client: httpx.AsyncClient, clock: FakeClock, seconds: float) -> None:
        """Moves the clock, signing in again (access tokens live 15 minutes)."""
        clock.advance(seconds)
        self.headers = await sign_in(client, self.tenant.admin)

    @property
    def store_rules(self) -> str:
        return f"/api/v1/stores/{self.tenant.store.id}/alert-rules"


@pytest.fixture
async def org(database: Database, client: httpx.AsyncClient) -> Org:
    tenant = await make_tenant(database)
    return Org(tenant, await sign_in(client, tenant.admin))


def stamp(at: datetime) -> str:
    return at.isoformat()


def data(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


def field_locs(body: dict[str, Any]) -> list[list[str]]:
    return [field["loc"] for field in body["details"]["fields"]]


def by_name(rules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rule["name"]: rule for rule in rules}


# Rules.


async def test_the_rule_list_shows_every_rule_with_its_defaults(
    client: httpx.AsyncClient, org: Org
) -> None:
    rules = by_name(data(await client.get(RULES_PATH, headers=org.headers)))
    assert set(rules) == set(RULES)
    sync_failed = rules["sync_failed"]
    assert sync_failed["source"] == "event"
    assert sync_failed["threshold_unit"] == "consecutive failed runs"
    assert sync_failed["runbook"] == "failed-product-sync"
    assert sync_failed["defaults"] == asdict(RULES["sync_failed"].defaults)
    assert sync_failed["effective"] == sync_failed["defaults"]
    assert sync_failed["organization_override"] is None
    assert sync_failed["store_override"] is None


async def test_overrides_resolve_store_over_organization_field_by_field(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    organization = data(
        await client.put(
            f"{RULES_PATH}/sync_failed",
            json={"threshold": 5, "for_s": 60, "group_wait_s": 10},
            headers=org.headers,
        )
    )
    assert organization["organization_override"] == {
        "threshold": 5,
        "for_s": 60,
        "group_wait_s": 10,
    }
    assert organization["effective"]["threshold"] == 5
    assert organization["effective"]["severity"] == "warning"  # the default

    store = data(
        await client.put(
            f"{org.store_rules}/sync_failed",
            json={"threshold": 2, "severity": "critical"},
            headers=org.headers,
        )
    )
    assert store["store_override"] == {"threshold": 2, "severity": "critical"}
    effective = store["effective"]
    assert effective["threshold"] == 2  # the store's
    assert effective["severity"] == "critical"  # the store's
    assert effective["for_s"] == 60  # the organization's
    assert effective["group_wait_s"] == 10  # the organization's
    assert effective["repeat_interval_s"] == 4 * 3600  # the default

    listed = by_name(
        data(
            await client.get(
                RULES_PATH, params={"store_id": str(org.tenant.store.id)}, headers=org.headers
            )
        )
    )
    assert listed["sync_failed"]["effective"] == effective
    assert listed["order_failed"]["effective"] == listed["order_failed"]["defaults"]
    # What the alerting code itself resolves is what the API answers.
    async with database.transaction() as session:
        resolved = await settings_for(
            session, org.tenant.organization.id, org.tenant.store.id, RULES["sync_failed"]
        )
    assert {**asdict(resolved), "severity": resolved.severity.value} == effective

    # Without the store: the organization's settings.
    organization_only = by_name(data(await client.get(RULES_PATH, headers=org.headers)))
    assert organization_only["sync_failed"]["effective"]["threshold"] == 5
    assert organization_only["sync_failed"]["store_override"] is None

    # A PUT replaces the whole override: what it leaves out is inherited again.
    replaced = data(
        await client.put(f"{RULES_PATH}/sync_failed", json={"enabled": False}, headers=org.headers)
    )
    assert replaced["organization_override"] == {"enabled": False}
    assert replaced["effective"]["for_s"] == 0
    assert replaced["effective"]["enabled"] is False


async def test_a_store_cannot_override_grouping(client: httpx.AsyncClient, org: Org) -> None:
    body = error(
        await client.put(
            f"{org.store_rules}/sync_failed",
            json={"threshold": 2, "group_wait_s": 5, "repeat_interval_s": 600},
            headers=org.headers,
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert field_locs(body) == [["body", "group_wait_s"], ["body", "repeat_interval_s"]]


async def test_an_override_must_set_something_known(client: httpx.AsyncClient, org: Org) -> None:
    for body in ({}, {"threshold": -1}, {"colour": "red"}, {"severity": "fatal"}):
        error(
            await client.put(f"{RULES_PATH}/sync_failed", json=body, headers=org.headers),
            422,
            "VALIDATION_ERROR",
        )


async def test_an_unknown_rule_is_not_found(client: httpx.AsyncClient, org: Org) -> None:
    for response in (
        await client.put(f"{RULES_PATH}/no_such_rule", json={"threshold": 1}, headers=org.headers),
        await client.delete(f"{RULES_PATH}/no_such_rule", headers=org.headers),
        await client.put(
            f"{org.store_rules}/no_such_rule", json={"threshold": 1}, headers=org.headers
        ),
        await client.delete(f"{org.store_rules}/no_such_rule", headers=org.headers),
    ):
        body = error(response, 404, "NOT_FOUND")
        assert body["details"]["resource"] == "alert rule"


async def test_deleting_overrides_restores_the_defaults(
    client: httpx.AsyncClient, org: Org
) -> None:
    await client.put(f"{RULES_PATH}/orders_waiting", json={"threshold": 60}, headers=org.headers)
    await client.put(
        f"{org.store_rules}/orders_waiting", json={"enabled": False}, headers=org.headers
    )
    params = {"store_id": str(org.tenant.store.id)}

    deleted = await client.delete(f"{RULES_PATH}/orders_waiting", headers=org.headers)
    assert deleted.status_code == 204, deleted.text
    rule = by_name(data(await client.get(RULES_PATH, params=params, headers=org.headers)))[
        "orders_waiting"
    ]
    assert rule["organization_override"] is None
    assert rule["effective"] == {**rule["defaults"], "enabled": False}  # the store's stays

    deleted = await client.delete(f"{org.store_rules}/orders_waiting", headers=org.headers)
    assert deleted.status_code == 204, deleted.text
    rule = by_name(data(await client.get(RULES_PATH, params=params, headers=org.headers)))[
        "orders_waiting"
    ]
    assert rule["store_override"] is None
    assert rule["effective"] == rule["defaults"]
    # Deleting what is not there changes nothing.
    again = await client.delete(f"{org.store_rules}/orders_waiting", headers=org.headers)
    assert again.status_code == 204


async def test_a_store_manager_overrides_only_their_stores(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    other = await make_store(database, org.tenant.organization, "Other St")
    manager = await make_operator(
        database, Role.STORE_MANAGER, org.tenant.organization, stores=[org.tenant.store]
    )
    headers = await sign_in(client, manager)
    ok = await client.put(f"{org.store_rules}/sync_failed", json={"threshold": 1}, headers=headers)
    assert ok.status_code == 200, ok.text
    error(
        await client.put(
            f"/api/v1/stores/{other.id}/alert-rules/sync_failed",
            json={"threshold": 1},
            headers=headers,
        ),
        404,
        "NOT_FOUND",
    )
    # The organization's settings are the organization admin's.
    error(
        await client.put(f"{RULES_PATH}/sync_failed", json={"threshold": 1}, headers=headers),
        403,
        "FORBIDDEN",
    )


# Silences.


def silence_body(clock: FakeClock, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matchers": [{"label": "rule", "op": "=", "value": "sync_failed"}],
        "ends_at": stamp(clock.now() + timedelta(hours=2)),
        "comment": "POS vendor maintenance",
    }
    return {**body, **changes}


async def silence_messages(database: Database, org: Org) -> list[dict[str, Any]]:
    async with database.transaction() as session:
        rows = (
            await session.scalars(
                select(StreamMessage)
                .where(StreamMessage.stream_id == ops_stream(org.tenant.organization.id))
                .order_by(StreamMessage.offset)
            )
        ).all()
    return [row.payload for row in rows if row.payload["type"] == "alert.silence_changed"]


async def test_a_silence_goes_from_pending_to_active_to_ended(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    clock.advance(1)  # after the factory's silence
    start = clock.now() + timedelta(hours=1)
    created = data(
        await client.post(
            SILENCES,
            json=silence_body(
                clock,
                starts_at=stamp(start),
                ends_at=stamp(start + timedelta(hours=2)),
            ),
            headers=org.headers,
        ),
        201,
    )
    assert created["state"] == "pending"
    assert created["created_by"] == f"operator:{org.tenant.admin.id}"
    assert created["ended_at"] is None
    assert created["matchers"] == [{"label": "rule", "op": "=", "value": "sync_failed"}]
    path = f"{SILENCES}/{created['id']}"

    async def listed(state: str) -> list[str]:
        page = await client.get(SILENCES, params={"state": state}, headers=org.headers)
        return [item["id"] for item in data(page)]

    assert await listed("pending") == [created["id"]]
    assert await listed("active") == []
    assert org.tenant.silence_id != uuid.UUID(created["id"])
    assert await listed("expired") == [str(org.tenant.silence_id)]  # the factory's old one

    await org.advance(client, clock, 3600)
    assert data(await client.get(path, headers=org.headers))["state"] == "active"
    assert await listed("active") == [created["id"]]
    assert await listed("pending") == []

    await org.advance(client, clock, 600)
    ended = data(await client.delete(path, headers=org.headers))
    assert ended["state"] == "expired"
    assert ended["ended_at"] is not None
    assert await listed("active") == []
    assert set(await listed("expired")) == {created["id"], str(org.tenant.silence_id)}

    # Ending it again changes nothing, and is not announced again.
    await org.advance(client, clock, 60)
    again = data(await client.delete(path, headers=org.headers))
    assert again["ended_at"] == ended["ended_at"]

    messages = await silence_messages(database, org)
    assert [m["data"]["state"] for m in messages] == ["pending", "expired"]
    assert all(m["data"]["id"] == created["id"] for m in messages)

    everything = data(await client.get(SILENCES, headers=org.headers))
    assert [item["id"] for item in everything] == [created["id"], str(org.tenant.silence_id)]


async def test_a_silence_expires_at_its_end(
    client: httpx.AsyncClient, clock: FakeClock, org: Org
) -> None:
    created = data(await client.post(SILENCES, json=silence_body(clock), headers=org.headers), 201)
    assert created["state"] == "active"  # starts now by default
    await org.advance(client, clock, 2 * 3600)
    path = f"{SILENCES}/{created['id']}"
    assert data(await client.get(path, headers=org.headers))["state"] == "expired"
    assert data(await client.delete(path, headers=org.headers))["ended_at"] is None


async def test_silences_are_paged_newest_first(
    client: httpx.AsyncClient, clock: FakeClock, org: Org
) -> None:
    ids = []
    for _ in range(3):
        clock.advance(1)
        created = await client.post(SILENCES, json=silence_body(clock), headers=org.headers)
        ids.append(data(created, 201)["id"])
    first = await client.get(SILENCES, params={"limit": 2}, headers=org.headers)
    assert [item["id"] for item in data(first)] == ids[::-1][:2]
    cursor = first.json()["meta"]["next_cursor"]
    second = await client.get(SILENCES, params={"limit": 2, "cursor": cursor}, headers=org.headers)
    assert [item["id"] for item in data(second)] == [ids[0], str(org.tenant.silence_id)]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"matchers": [{"label": "kiosk", "value": "k-1"}]}, ["body", "matchers", "0", "label"]),
        (
            {"matchers": [{"label": "rule", "op": "~", "value": "x"}]},
            ["body", "matchers", "0", "op"],
        ),
        ({"matchers": []}, ["body", "matchers"]),
        (
            {"matchers": [{"label": "rule", "value": "no_such_rule"}]},
            ["body", "matchers", "0", "value"],
        ),
        (
            {"matchers": [{"label": "severity", "value": "fatal"}]},
            ["body", "matchers", "0", "value"],
        ),
        (
            {"matchers": [{"label": "store_id", "value": "main-st"}]},
            ["body", "matchers", "0", "value"],
        ),
        ({"ends_at": "2001-01-01T00:00:00Z"}, ["body", "ends_at"]),
        ({"ends_at": "2031-01-01T00:00:00"}, ["body", "ends_at"]),  # no time zone
        ({"comment": "x" * 1001}, ["body", "comment"]),
        ({"muted": True}, ["body", "muted"]),
    ],
)
async def test_an_invalid_silence_is_refused(
    client: httpx.AsyncClient, clock: FakeClock, org: Org, change: dict[str, Any], loc: list[str]
) -> None:
    response = await client.post(SILENCES, json=silence_body(clock, **change), headers=org.headers)
    assert loc in field_locs(error(response, 422, "VALIDATION_ERROR"))


async def test_a_silence_is_bounded_in_time(
    client: httpx.AsyncClient, clock: FakeClock, org: Org
) -> None:
    now = clock.now()
    for starts_at, ends_at in (
        (now + timedelta(hours=2), now + timedelta(hours=1)),  # ends before it starts
        (now - timedelta(hours=2), now - timedelta(hours=1)),  # over already
        (now, now + timedelta(days=90, seconds=1)),  # too long
    ):
        body = silence_body(clock, starts_at=stamp(starts_at), ends_at=stamp(ends_at))
        response = await client.post(SILENCES, json=body, headers=org.headers)
        assert field_locs(error(response, 422, "VALIDATION_ERROR")) == [["body", "ends_at"]]
    ninety_days = silence_body(clock, ends_at=stamp(now + timedelta(days=90)))
    assert (await client.post(SILENCES, json=ninety_days, headers=org.headers)).status_code == 201


async def test_a_store_manager_silences_only_their_stores(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    other = await make_store(database, org.tenant.organization, "Other St")
    manager = await make_operator(
        database, Role.STORE_MANAGER, org.tenant.organization, stores=[org.tenant.store]
    )
    headers = await sign_in(client, manager)
    own = {"label": "store_id", "op": "=", "value": str(org.tenant.store.id)}
    for matchers in (
        [{"label": "rule", "value": "sync_failed"}],  # every store
        [{"label": "store_id", "op": "=", "value": str(other.id)}],
        [{**own, "op": "!="}],  # every store but theirs
    ):
        response = await client.post(
            SILENCES, json=silence_body(clock, matchers=matchers), headers=headers
        )
        error(response, 403, "FORBIDDEN")
    created = data(
        await client.post(
            SILENCES,
            json=silence_body(clock, matchers=[own, {"label": "rule", "value": "sync_failed"}]),
            headers=headers,
        ),
        201,
    )
    assert created["created_by"] == f"operator:{manager.id}"
    ended = await client.delete(f"{SILENCES}/{created['id']}", headers=headers)
    assert data(ended)["state"] == "expired"
    # The organization admin's silence of every store is not theirs to end.
    everywhere = data(
        await client.post(SILENCES, json=silence_body(clock), headers=org.headers), 201
    )
    error(await client.delete(f"{SILENCES}/{everywhere['id']}", headers=headers), 403, "FORBIDDEN")


# Escalation policies.


def policy_body(org: Org, **changes: Any) -> dict[str, Any]:
    channel = str(org.tenant.alert_channel_id)
    body: dict[str, Any] = {
        "name": "On call",
        "levels": [
            {"delay_s": 0, "channel_ids": [channel]},
            {"delay_s": 900, "channel_ids": [channel]},
        ],
        "rules": ["sync_failed", "order_failed"],
    }
    return {**body, **changes}


async def test_escalation_policy_crud(
    client: httpx.AsyncClient, clock: FakeClock, org: Org
) -> None:
    clock.advance(1)  # after the factory's policy
    created = data(await client.post(POLICIES, json=policy_body(org), headers=org.headers), 201)
    assert created["name"] == "On call"
    assert created["organization_id"] == str(org.tenant.organization.id)
    assert created["levels"][1] == {
        "delay_s": 900,
        "channel_ids": [str(org.tenant.alert_channel_id)],
    }
    assert created["rules"] == ["sync_failed", "order_failed"]
    path = f"{POLICIES}/{created['id']}"
    assert data(await client.get(path, headers=org.headers)) == created

    listed = data(await client.get(POLICIES, headers=org.headers))
    # Oldest first: the factory's policy, then this one.
    assert [item["id"] for item in listed] == [str(org.tenant.escalation_policy_id), created["id"]]

    replaced = data(
        await client.put(
            path,
            json=policy_body(org, name="Everything else", rules=[], levels=created["levels"][:1]),
            headers=org.headers,
        )
    )
    assert replaced["name"] == "Everything else"
    assert replaced["rules"] == []
    assert len(replaced["levels"]) == 1
    assert data(await client.get(path, headers=org.headers)) == replaced

    deleted = await client.delete(path, headers=org.headers)
    assert deleted.status_code == 204, deleted.text
    error(await client.get(path, headers=org.headers), 404, "NOT_FOUND")
    error(await client.delete(path, headers=org.headers), 404, "NOT_FOUND")


async def test_a_policy_names_only_its_organizations_channels(
    client: httpx.AsyncClient, database: Database, org: Org
) -> None:
    other = await make_tenant(database)
    levels = [
        {"delay_s": 0, "channel_ids": [str(org.tenant.alert_channel_id)]},
        {"delay_s": 60, "channel_ids": [str(uuid.uuid4()), str(other.alert_channel_id)]},
    ]
    response = await client.post(
        POLICIES, json=policy_body(org, levels=levels), headers=org.headers
    )
    assert field_locs(error(response, 422, "VALIDATION_ERROR")) == [
        ["body", "levels", "1", "channel_ids", "0"],
        ["body", "levels", "1", "channel_ids", "1"],
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"levels": [{"delay_s": 60, "channel_ids": ["00000000-0000-4000-8000-000000000000"]}]},
        {"levels": []},
        {"levels": [{"delay_s": 0, "channel_ids": []}]},
        {"levels": [{"delay_s": 0, "channel_ids": ["x"]}]},
        {"rules": ["no_such_rule"]},
        {"rules": ["sync_failed", "sync_failed"]},
        {"name": " "},
    ],
)
async def test_an_invalid_policy_is_refused(
    client: httpx.AsyncClient, org: Org, change: dict[str, Any]
) -> None:
    response = await client.post(POLICIES, json=policy_body(org, **change), headers=org.headers)
    error(response, 422, "VALIDATION_ERROR")


async def test_one_default_policy_and_one_policy_per_rule(
    client: httpx.AsyncClient, org: Org
) -> None:
    default = data(
        await client.post(POLICIES, json=policy_body(org, rules=[]), headers=org.headers), 201
    )
    second = await client.post(POLICIES, json=policy_body(org, rules=[]), headers=org.headers)
    assert error(second, 409, "ALREADY_EXISTS")["details"]["policy_id"] == default["id"]

    # The factory's policy covers kiosk_keys_expiring.
    taken = await client.post(
        POLICIES,
        json=policy_body(org, rules=["sync_failed", "kiosk_keys_expiring"]),
        headers=org.headers,
    )
    details = error(taken, 409, "ALREADY_EXISTS")["details"]
    assert details["rule"] == "kiosk_keys_expiring"
    assert details["policy_id"] == str(org.tenant.escalation_policy_id)

    # A policy may keep its own rules, and the default may stay the default.
    own = f"{POLICIES}/{org.tenant.escalation_policy_id}"
    kept = await client.put(
        own, json=policy_body(org, rules=["kiosk_keys_expiring"]), headers=org.headers
    )
    assert kept.status_code == 200, kept.text
    assert (
        await client.put(
            f"{POLICIES}/{default['id']}", json=policy_body(org, rules=[]), headers=org.headers
        )
    ).status_code == 200
    # But not become a second default.
    error(
        await client.put(own, json=policy_body(org, rules=[]), headers=org.headers),
        409,
        "ALREADY_EXISTS",
    )


# Who may do what.


async def test_viewers_read_but_cannot_write(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    viewer = await make_operator(database, Role.VIEWER, org.tenant.organization)
    headers = await sign_in(client, viewer)
    silence = f"{SILENCES}/{org.tenant.silence_id}"
    policy = f"{POLICIES}/{org.tenant.escalation_policy_id}"
    for path in (RULES_PATH, SILENCES, POLICIES, silence, policy):
        assert (await client.get(path, headers=headers)).status_code == 200, path
    for method, path, body in (
        ("PUT", f"{RULES_PATH}/sync_failed", {"threshold": 1}),
        ("DELETE", f"{RULES_PATH}/sync_failed", None),
        ("PUT", f"{org.store_rules}/sync_failed", {"threshold": 1}),
        ("DELETE", f"{org.store_rules}/sync_failed", None),
        ("POST", SILENCES, silence_body(clock)),
        ("DELETE", silence, None),
        ("POST", POLICIES, policy_body(org, rules=[])),
        ("PUT", policy, policy_body(org, rules=["kiosk_keys_expiring"])),
        ("DELETE", policy, None),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        error(response, 403, "FORBIDDEN")


async def test_other_organizations_see_nothing(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    await client.put(f"{RULES_PATH}/sync_failed", json={"threshold": 9}, headers=org.headers)
    silence = data(await client.post(SILENCES, json=silence_body(clock), headers=org.headers), 201)
    intruder = await make_tenant(database)
    headers = await sign_in(client, intruder.admin)

    rules = by_name(data(await client.get(RULES_PATH, headers=headers)))
    assert rules["sync_failed"]["organization_override"] is None
    own_silences = [item["id"] for item in data(await client.get(SILENCES, headers=headers))]
    assert own_silences == [str(intruder.silence_id)]
    own_policies = [item["id"] for item in data(await client.get(POLICIES, headers=headers))]
    assert own_policies == [str(intruder.escalation_policy_id)]

    store_rules = f"/api/v1/stores/{org.tenant.store.id}/alert-rules/sync_failed"
    victim = org.tenant.organization.id
    for method, path, params, body in (
        ("GET", RULES_PATH, {"store_id": str(org.tenant.store.id)}, None),
        ("GET", RULES_PATH, {"organization_id": str(victim)}, None),
        ("DELETE", f"{RULES_PATH}/sync_failed", {"organization_id": str(victim)}, None),
        (
            "PUT",
            f"{RULES_PATH}/sync_failed",
            None,
            {"threshold": 1, "organization_id": str(victim)},
        ),
        ("PUT", store_rules, None, {"threshold": 1}),
        ("DELETE", store_rules, None, None),
        ("GET", f"{SILENCES}/{silence['id']}", None, None),
        ("DELETE", f"{SILENCES}/{silence['id']}", None, None),
        ("POST", SILENCES, None, silence_body(clock, organization_id=str(victim))),
        ("GET", f"{POLICIES}/{org.tenant.escalation_policy_id}", None, None),
        ("DELETE", f"{POLICIES}/{org.tenant.escalation_policy_id}", None, None),
        ("POST", POLICIES, None, policy_body(org, rules=[], organization_id=str(victim))),
    ):
        response = await client.request(method, path, params=params, json=body, headers=headers)
        error(response, 404, "NOT_FOUND")
    # Nothing of the victim's changed.
    assert data(await client.get(f"{SILENCES}/{silence['id']}", headers=org.headers))["state"] == (
        "active"
    )
    rules = by_name(data(await client.get(RULES_PATH, headers=org.headers)))
    assert rules["sync_failed"]["organization_override"] == {"threshold": 9}


async def test_a_platform_admin_names_the_organization(
    client: httpx.AsyncClient, database: Database, clock: FakeClock, org: Org
) -> None:
    support = await make_operator(database, Role.PLATFORM_ADMIN)
    headers = await sign_in(client, support)
    missing = error(await client.get(RULES_PATH, headers=headers), 422, "VALIDATION_ERROR")
    assert field_locs(missing) == [["query", "organization_id"]]
    organization = str(org.tenant.organization.id)
    changed = await client.put(
        f"{RULES_PATH}/sync_failed",
        json={"threshold": 4, "organization_id": organization},
        headers=headers,
    )
    assert data(changed)["effective"]["threshold"] == 4
    rules = by_name(data(await client.get(RULES_PATH, headers=org.headers)))
    assert rules["sync_failed"]["effective"]["threshold"] == 4
    created = await client.post(
        SILENCES, json=silence_body(clock, organization_id=organization), headers=headers
    )
    assert data(created, 201)["organization_id"] == organization
    assert data(created, 201)["created_by"] == f"operator:{support.id}"
    no_organization = await client.post(POLICIES, json=policy_body(org), headers=headers)
    assert field_locs(error(no_organization, 422, "VALIDATION_ERROR")) == [
        ["body", "organization_id"]
    ]
