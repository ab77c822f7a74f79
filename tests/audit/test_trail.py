"""Every operator action that changes something leaves one audit event, written with it: one
table of every mutating operator route, each called for real (the POS over HTTP at the
simulator), and a walk of the app proving no such route is missing from the table."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from ridgeline.db.engine import Database
from ridgeline.models import AuditEvent, Job, JobStatus, Order, OrderStatus, Role
from tests.api.test_route_security import is_kiosk_route, is_public, walk
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import (
    Tenant,
    make_kiosk,
    make_operator,
    make_organization,
    make_store,
    make_tenant,
    sign_in,
)
from tests.pos.simulator import create_store

# Secrets sent in the table's bodies: none may reach an event.
PASSWORD = "audit-password-never-stored"
NEW_PASSWORD = "audit-password-changed-too"
SLACK_URL = "https://hooks.slack.example/services/T0/B0/audit-slack-token"
WEBHOOK_SECRET = "audit-webhook-hmac-secret"
NEW_WEBHOOK_SECRET = "audit-webhook-hmac-secret-2"

LATER = (datetime.now(UTC) + timedelta(days=3)).isoformat()
MUCH_LATER = (datetime.now(UTC) + timedelta(days=4)).isoformat()


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # with {names} filled from the objects made for the test
    action: str
    body: dict[str, Any] | None = None
    platform: bool = False  # called by a platform admin (else the organization's admin)
    # The object the event names as its store and organization: a name of the test's objects,
    # ANSWER for the object the action made, None for no store (no organization).
    store: str | None = "store_id"
    organization: str | None = "organization_id"
    save_as: str | None = None  # keeps the answer's `id` under this name for later cases
    changed: set[str] = field(default_factory=set)  # fields the event must show as changed


STORE = "/api/v1/stores/{store_id}"
ANSWER = "answer"
PLATFORM: dict[str, Any] = {"platform": True, "store": None, "organization": None}
ORG: dict[str, Any] = {"store": None}

# In order: a later case may act on what an earlier one made.
CASES: list[Case] = [
    # Organizations, stores, kiosks.
    Case(
        "POST",
        "/api/v1/organizations",
        "organization.create",
        {"name": "Audited", "slug": "audited"},
        platform=True,
        store=None,
        organization=ANSWER,
        changed={"name", "slug"},
    ),
    Case(
        "PATCH",
        "/api/v1/organizations/{organization_id}",
        "organization.update",
        {"name": "Renamed"},
        **ORG,
        changed={"name"},
    ),
    Case(
        "DELETE",
        "/api/v1/organizations/{spare_organization_id}",
        "organization.delete",
        platform=True,
        store=None,
        organization="spare_organization_id",
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/stores",
        "store.create",
        {"name": "Second St"},
        store=ANSWER,
        changed={"name"},
    ),
    Case("PATCH", STORE, "store.update", {"name": "Renamed St"}, changed={"name"}),
    Case(
        "DELETE",
        "/api/v1/stores/{spare_store_id}",
        "store.delete",
        store="spare_store_id",
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/kiosks",
        "kiosk.create",
        {"store_id": "{store_id}", "name": "Kiosk 9"},
        changed={"name"},
    ),
    Case(
        "PATCH",
        "/api/v1/kiosks/{kiosk_id}",
        "kiosk.update",
        {"status": "disabled"},
        changed={"status"},
    ),
    Case(
        "PATCH",
        "/api/v1/kiosks/{kiosk_id}",
        "kiosk.update",
        {"status": "active"},
        changed={"status"},
    ),
    Case("DELETE", "/api/v1/kiosks/{spare_kiosk_id}", "kiosk.delete", changed={"name"}),
    Case(
        "POST",
        "/api/v1/kiosks/{kiosk_id}/keys",
        "kiosk_key.issue",
        {"expires_in_s": 3600},
        changed={"key_prefix"},
    ),
    Case(
        "DELETE",
        "/api/v1/kiosks/{kiosk_id}/keys/{key_id}",
        "kiosk_key.revoke",
        changed={"revoked_at"},
    ),
    Case(
        "POST",
        "/api/v1/kiosks/{kiosk_id}/commands",
        "kiosk.command",
        {"type": "show_message", "message": "Back soon"},
        changed={"type", "message"},
    ),
    Case(
        "POST",
        "/api/v1/kiosks/{kiosk_id}/disconnect",
        "kiosk.disconnect",
        {"reconnect": False},
        changed={"reconnect"},
    ),
    # Operators and roles.
    Case(
        "POST",
        "/api/v1/operators",
        "operator.create",
        {"email": "new@example.com", "password": PASSWORD, "role": "viewer"},
        **ORG,
        changed={"email", "role", "password"},
    ),
    Case(
        "PATCH",
        "/api/v1/operators/{spare_operator_id}",
        "operator.update",
        {"role": "store_manager", "password": NEW_PASSWORD},
        **ORG,
        changed={"role", "password"},
    ),
    Case(
        "DELETE",
        "/api/v1/operators/{spare_operator_id}",
        "operator.delete",
        **ORG,
        changed={"email"},
    ),
    # Catalog: enrichment and RFID tags.
    Case(
        "PATCH",
        STORE + "/products/{product_id}/enrichment",
        "product.enrichment.update",
        {"featured": True},
        changed={"featured"},
    ),
    Case(
        "PUT",
        STORE + "/rfid-tags/E200AUDIT0001",
        "rfid_tag.put",
        {"product_id": "{product_id}"},
        changed={"tag", "product_id"},
    ),
    Case("DELETE", STORE + "/rfid-tags/{tag}", "rfid_tag.delete", changed={"tag"}),
    # Health: thresholds, pause, recovery runs.
    Case(
        "PUT",
        STORE + "/health/thresholds",
        "store.health_thresholds.update",
        {"thresholds": {"window_calls": 40}},
        changed={"window_calls"},
    ),
    Case(
        "POST",
        STORE + "/pause",
        "store.pause",
        {"reason": "stocktaking"},
        changed={"ordering", "reason"},
    ),
    Case("POST", STORE + "/resume", "store.resume", changed={"ordering"}),
    Case("POST", STORE + "/recovery", "recovery.run", changed={"trigger"}),
    # POS credentials and config, tests, resets, breaker commands, webhooks.
    Case(
        "PUT",
        STORE + "/pos",
        "pos.configure",
        {"provider": "flowhub", "config": "{pos_config}"},
        changed={"provider", "config", "credentials_saved"},
    ),
    Case("POST", STORE + "/pos/test", "pos.test", changed={"ok"}),
    Case("POST", STORE + "/pos/reset", "pos.reset", changed={"reset_at"}),
    Case(
        "POST",
        STORE + "/pos/breaker",
        "pos.breaker.force_open",
        {"action": "force_open"},
        changed={"state"},
    ),
    Case(
        "POST",
        STORE + "/pos/breaker",
        "pos.breaker.disable",
        {"action": "disable"},
        changed={"state"},
    ),
    Case(
        "POST", STORE + "/pos/breaker", "pos.breaker.reset", {"action": "reset"}, changed={"state"}
    ),
    Case("POST", STORE + "/pos/webhooks", "pos.webhooks.register", changed={"provider"}),
    Case(
        "PUT",
        STORE + "/compliance",
        "store.compliance.update",
        {"profile": "colorado", "overrides": {}},
        changed={"profile"},
    ),
    Case(
        "PUT",
        STORE + "/taxes",
        "store.taxes.update",
        {"schedules": [{"effective_from": "2026-01-01", "taxes": []}]},
        changed={"schedules"},
    ),
    Case(
        "POST",
        STORE + "/pos/webhook-token/rotate",
        "pos.webhook_token.rotate",
        changed={"previous_token_valid_until"},
    ),
    # Sync triggers, settings and field mapping.
    Case("POST", STORE + "/sync", "sync.request", {"kind": "inventory"}, changed={"kind"}),
    Case(
        "PUT",
        STORE + "/sync-state",
        "sync.settings.update",
        {"field_mapping": {"category": {"Flower": "flower"}}},
        changed={"field_mapping"},
    ),
    # Orders and jobs.
    Case("POST", STORE + "/orders/{order_id}/retry", "order.retry", changed={"status"}),
    Case("POST", "/api/v1/jobs/{job_id}/retry", "job.retry", **PLATFORM, changed={"status"}),
    # Alerts.
    Case("POST", "/api/v1/alerts/{alert_id}/acknowledge", "alert.acknowledge", changed={"state"}),
    Case("POST", "/api/v1/alerts/{alert_id}/resolve", "alert.resolve", changed={"state"}),
    Case("POST", "/api/v1/alert-groups/{group_id}/acknowledge", "alert_group.acknowledge", **ORG),
    # Channels.
    Case(
        "POST",
        "/api/v1/alert-channels",
        "alert_channel.create",
        {"name": "Slack", "kind": "slack", "config": {"url": SLACK_URL}},
        **ORG,
        save_as="slack_id",
        changed={"name", "config"},
    ),
    Case(
        "POST",
        "/api/v1/alert-channels",
        "alert_channel.create",
        {
            "name": "Hook",
            "kind": "webhook",
            "config": {"url": "https://hooks.example/in", "secret": WEBHOOK_SECRET},
        },
        **ORG,
        save_as="hook_id",
        changed={"name", "config"},
    ),
    Case(
        "PUT",
        "/api/v1/alert-channels/{hook_id}",
        "alert_channel.update",
        {
            "name": "Hook 2",
            "config": {"url": "https://hooks.example/in", "secret": NEW_WEBHOOK_SECRET},
        },
        **ORG,
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/alert-channels/{hook_id}/test",
        "alert_channel.test",
        **ORG,
        changed={"delivery_id"},
    ),
    Case(
        "DELETE",
        "/api/v1/alert-channels/{slack_id}",
        "alert_channel.delete",
        **ORG,
        changed={"name"},
    ),
    # Rules, silences, escalation policies.
    Case(
        "PUT",
        "/api/v1/alert-rules/sync_failed",
        "alert_rule.set",
        {"severity": "critical"},
        **ORG,
        changed={"organization_override"},
    ),
    Case(
        "DELETE",
        "/api/v1/alert-rules/sync_failed",
        "alert_rule.remove",
        **ORG,
        changed={"organization_override"},
    ),
    Case(
        "PUT",
        STORE + "/alert-rules/sync_failed",
        "alert_rule.store.set",
        {"enabled": False},
        changed={"store_override"},
    ),
    Case(
        "DELETE",
        STORE + "/alert-rules/sync_failed",
        "alert_rule.store.remove",
        changed={"store_override"},
    ),
    Case(
        "POST",
        "/api/v1/alert-silences",
        "alert_silence.create",
        {
            "matchers": [{"label": "rule", "op": "=", "value": "sync_failed"}],
            "ends_at": LATER,
            "comment": "upgrade",
        },
        **ORG,
        save_as="new_silence_id",
        changed={"matchers"},
    ),
    Case(
        "DELETE",
        "/api/v1/alert-silences/{new_silence_id}",
        "alert_silence.end",
        **ORG,
        changed={"ended_at", "state"},
    ),
    Case(
        "POST",
        "/api/v1/escalation-policies",
        "escalation_policy.create",
        {
            "name": "Syncs",
            "levels": [{"delay_s": 0, "channel_ids": ["{channel_id}"]}],
            "rules": ["sync_failed"],
        },
        **ORG,
        save_as="new_policy_id",
        changed={"name"},
    ),
    Case(
        "PUT",
        "/api/v1/escalation-policies/{new_policy_id}",
        "escalation_policy.update",
        {
            "name": "Syncs 2",
            "levels": [{"delay_s": 0, "channel_ids": ["{channel_id}"]}],
            "rules": ["sync_failed"],
        },
        **ORG,
        changed={"name"},
    ),
    Case(
        "DELETE",
        "/api/v1/escalation-policies/{new_policy_id}",
        "escalation_policy.delete",
        **ORG,
        changed={"name"},
    ),
    # The status page (Ridgeline's own: no organization).
    Case("POST", "/api/v1/status/evaluate", "status.evaluate", **PLATFORM),
    Case(
        "PUT",
        "/api/v1/status/components/api/override",
        "status.component.override",
        {"status": "partial_outage", "reason": "audit"},
        **PLATFORM,
        changed={"status"},
    ),
    Case(
        "DELETE",
        "/api/v1/status/components/api/override",
        "status.component.clear_override",
        **PLATFORM,
        changed={"status"},
    ),
    Case(
        "POST",
        "/api/v1/status/incidents",
        "status.incident.create",
        {"name": "Slow", "body": "Looking", "publish": False},
        **PLATFORM,
        save_as="incident_id",
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/status/incidents/{incident_id}/updates",
        "status.incident.update",
        {"status": "identified", "body": "Found it"},
        **PLATFORM,
        changed={"status"},
    ),
    Case(
        "PATCH",
        "/api/v1/status/incidents/{incident_id}",
        "status.incident.edit",
        {"name": "Slower"},
        **PLATFORM,
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/status/incidents/{incident_id}/publish",
        "status.incident.publish",
        **PLATFORM,
        changed={"published_at"},
    ),
    Case(
        "POST",
        "/api/v1/status/maintenances",
        "status.maintenance.create",
        {
            "name": "Upgrade",
            "body": "DB",
            "components": ["api"],
            "scheduled_for": LATER,
            "scheduled_until": MUCH_LATER,
        },
        **PLATFORM,
        changed={"name"},
    ),
    Case(
        "POST",
        "/api/v1/status/incidents",
        "status.incident.create",
        {"name": "Draft", "body": "Draft", "publish": False},
        **PLATFORM,
        save_as="draft_id",
    ),
    Case(
        "DELETE",
        "/api/v1/status/incidents/{draft_id}",
        "status.incident.discard",
        **PLATFORM,
        changed={"name"},
    ),
    # Last: it ends every session of its caller.
    Case(
        "POST",
        "/api/v1/auth/password",
        "operator.password.change",
        {"current_password": FACTORY_PASSWORD, "new_password": PASSWORD},
        **PLATFORM,
        changed={"password"},
    ),
]

# Mutating routes that are not an operator's action, and why.
NOT_OPERATOR_ACTIONS = {
    ("POST", "/api/v1/auth/token"): "signing in: no operator yet (the sign-in throttle counts it)",
    ("POST", "/api/v1/auth/refresh"): "a session renewing itself, not a change to anything",
    ("POST", "/api/v1/auth/revoke"): "signing out: ends the caller's own session only",
    ("POST", "/api/v1/pos-webhooks/{store_id}"): "a POS delivering an event, stored as such",
    ("POST", "/api/v1/orders"): "a kiosk's order: the order and its history are its record",
    ("POST", "/api/v1/orders/{order_id}/cancel"): "a kiosk's cancel: in the order's history",
}


def _route_of(case: Case) -> tuple[str, str]:
    """The route a case calls: its literal segments and the test's own names put back as the
    route's parameters."""
    path = case.path
    for literal, param in (
        ("E200AUDIT0001", "{tag}"),
        ("sync_failed", "{rule}"),
        ("/components/api/", "/components/{component}/"),
        ("{spare_organization_id}", "{organization_id}"),
        ("{spare_store_id}", "{store_id}"),
        ("{spare_kiosk_id}", "{kiosk_id}"),
        ("{spare_operator_id}", "{operator_id}"),
        ("{slack_id}", "{channel_id}"),
        ("{hook_id}", "{channel_id}"),
        ("{new_silence_id}", "{silence_id}"),
        ("{new_policy_id}", "{policy_id}"),
        ("{draft_id}", "{incident_id}"),
    ):
        path = path.replace(literal, param)
    return case.method, path


def test_every_mutating_operator_route_is_in_the_table(app: FastAPI) -> None:
    mutating = {
        (method, path)
        for method, path, route in walk(app)
        if method not in ("GET", "HEAD")
        and not (is_public(route) or is_kiosk_route(route.dependant))
    }
    excluded = set(NOT_OPERATOR_ACTIONS)
    # The exclusions are real routes, and public or kiosk ones: never an operator's.
    assert excluded <= {(method, path) for method, path, _ in walk(app)}
    assert not (mutating & excluded)
    assert mutating - {_route_of(case) for case in CASES} == set()


async def _objects(database: Database, tenant: Tenant, control: httpx.Client) -> dict[str, Any]:
    """The ids the table's paths name, and the state its actions need: a dead job to retry, a
    failed order, spare objects to delete, a store at the simulator to configure."""
    spare_store = await make_store(database, tenant.organization, "Spare St")
    spare_kiosk, _, _ = await make_kiosk(database, tenant.store, "Spare kiosk")
    spare_operator = await make_operator(database, Role.VIEWER, tenant.organization)
    spare_organization = await make_organization(database, "spare-org")
    async with database.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == tenant.job_id).values(status=JobStatus.DEAD)
        )
        await session.execute(
            update(Order)
            .where(Order.id == tenant.order_id)
            .values(status=OrderStatus.FAILED, failure_reason="pos_unreachable")
        )
    sim = create_store(control, "flowhub", 3)
    return {
        "organization_id": tenant.organization.id,
        "store_id": tenant.store.id,
        "kiosk_id": tenant.kiosk.id,
        "key_id": tenant.kiosk_key_id,
        "product_id": tenant.product_id,
        "tag": tenant.rfid_tag,
        "order_id": tenant.order_id,
        "job_id": tenant.job_id,
        "alert_id": tenant.alert_id,
        "group_id": tenant.alert_group_id,
        "channel_id": tenant.alert_channel_id,
        "spare_store_id": spare_store.id,
        "spare_kiosk_id": spare_kiosk.id,
        "spare_operator_id": spare_operator.id,
        "spare_organization_id": spare_organization.id,
        "pos_config": {**sim.config, "timeout_s": 2, "connect_timeout_s": 1},
    }


def _filled(value: Any, ids: dict[str, Any]) -> Any:
    """`value` with each "{name}" string replaced by the object it names."""
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_filled(item, ids) for item in value]
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        found = ids[value[1:-1]]
        return found if isinstance(found, dict) else str(found)
    return value


async def _events(database: Database) -> list[AuditEvent]:
    async with database.transaction(write=False) as session:
        return list((await session.scalars(select(AuditEvent))).all())


async def test_every_operator_action_records_one_event(
    client: httpx.AsyncClient, database: Database, control: httpx.Client
) -> None:
    tenant = await make_tenant(database)
    platform_admin = await make_operator(database, Role.PLATFORM_ADMIN)
    headers = {
        False: await sign_in(client, tenant.admin),
        True: await sign_in(client, platform_admin),
    }
    ids = await _objects(database, tenant, control)
    secrets = [PASSWORD, NEW_PASSWORD, SLACK_URL, WEBHOOK_SECRET, NEW_WEBHOOK_SECRET]
    secrets += [ids["pos_config"]["api_key"], ids["pos_config"]["oauth_client_secret"]]
    seen = {event.id for event in await _events(database)}
    for number, case in enumerate(CASES):
        request_id = f"audit-case-{number}"
        response = await client.request(
            case.method,
            case.path.format(**ids),
            json=_filled(case.body, ids),
            headers={**headers[case.platform], "X-Request-ID": request_id},
        )
        assert response.status_code < 300, (case, response.text)
        # Every event of the test has the same time (the clock is the test's): new ones by id.
        new = [event for event in await _events(database) if event.id not in seen]
        seen |= {event.id for event in new}
        assert [event.action for event in new] == [case.action], case
        event = new[0]
        actor = platform_admin if case.platform else tenant.admin
        assert (event.actor_id, event.actor_role) == (actor.id, actor.role.value), case
        assert event.request_id == request_id
        assert event.client_address == "127.0.0.1"
        made = case.save_as is not None or ANSWER in (case.store, case.organization)
        answer = response.json()["data"]["id"] if made else None
        assert event.store_id == _expected(case.store, ids, answer), case
        assert event.organization_id == _expected(case.organization, ids, answer), case
        changed = set(event.changes["before"]) | set(event.changes["after"])
        assert case.changed <= changed, (case, event.changes)
        text = json.dumps(event.changes)
        assert not any(secret in text for secret in secrets), (case, text)
        if case.save_as is not None:
            ids[case.save_as] = answer


def _expected(name: str | None, ids: dict[str, Any], answer: str | None) -> uuid.UUID | None:
    if name is None:
        return None
    return uuid.UUID(str(answer if name == ANSWER else ids[name]))
