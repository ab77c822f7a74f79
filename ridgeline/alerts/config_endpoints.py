"""HTTP surface of alert configuration: the built-in rules with each organization's and store's
overrides, silences, and escalation policies (docs/alerting.md)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from ridgeline.alerts import config_service as service
from ridgeline.alerts.config_schemas import (
    PolicyBody,
    PolicyCreate,
    PolicyOut,
    RuleOut,
    SilenceCreate,
    SilenceOut,
    SilenceState,
)
from ridgeline.alerts.rules import RuleOverride
from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.audit.service import AuditTrail
from ridgeline.auth.dependencies import OrgAdminDep, StoreManagerDep, ViewerDep
from ridgeline.auth.principal import OperatorPrincipal

router = APIRouter(prefix="/api/v1", tags=["alert configuration"])

OrganizationQuery = Annotated[
    uuid.UUID | None,
    Query(description="Platform admins: the organization (others act on their own)."),
]
RulePath = Annotated[str, Path(max_length=64, description="The rule's name (`sync_failed`, ...).")]


# Rules.


@router.get("/alert-rules")
async def list_alert_rules(
    caller: ViewerDep,
    session: SessionDep,
    organization_id: OrganizationQuery = None,
    store_id: Annotated[
        uuid.UUID | None, Query(description="Also show this store's overrides.")
    ] = None,
) -> Envelope[list[RuleOut]]:
    """Every built-in rule: its defaults, the organization's override, the store's (with
    `store_id`), and the `effective` settings (store over organization over default, field by
    field). Not paged: the list is short and fixed."""
    return envelope(
        await service.list_rules(
            session, caller, organization_id=organization_id, store_id=store_id
        )
    )


@router.put("/alert-rules/{rule}")
async def set_alert_rule_override(
    rule: RulePath,
    body: RuleOverride,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[RuleOut]:
    """Set the organization's settings of the rule: the whole override is replaced by the
    settings given; those left out are inherited from the defaults."""
    before = await service.get_rule(
        session, caller, rule, organization_id=body.organization_id, where="body"
    )
    after = await service.set_organization_override(session, caller, rule, body, clock.now())
    await audit.record(
        caller,
        "alert_rule.set",
        organization_id=body.organization_id,
        target=rule,
        before=_rule_state(before),
        after=_rule_state(after),
    )
    return envelope(after)


@router.delete("/alert-rules/{rule}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert_rule_override(
    rule: RulePath,
    caller: OrgAdminDep,
    session: SessionDep,
    audit: AuditDep,
    organization_id: OrganizationQuery = None,
) -> Response:
    """Remove the organization's override: the rule's defaults apply again (stores keep
    theirs)."""
    before = await service.get_rule(session, caller, rule, organization_id=organization_id)
    await service.remove_organization_override(session, caller, rule, organization_id)
    await audit.record(
        caller,
        "alert_rule.remove",
        organization_id=organization_id,
        target=rule,
        before=_rule_state(before),
        after={"organization_override": None},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/stores/{store_id}/alert-rules/{rule}")
async def set_store_alert_rule_override(
    store_id: uuid.UUID,
    rule: RulePath,
    body: RuleOverride,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[RuleOut]:
    """Set the store's settings of the rule (`enabled`, `severity`, `threshold`, `for_s`;
    grouping settings are the organization's only), replacing the store's whole override."""
    before = await service.get_rule(
        session, caller, rule, organization_id=body.organization_id, store_id=store_id
    )
    after = await service.set_store_override(session, caller, store_id, rule, body, clock.now())
    await audit.record(
        caller,
        "alert_rule.store.set",
        store_id=store_id,
        target=rule,
        before=_rule_state(before),
        after=_rule_state(after),
    )
    return envelope(after)


@router.delete("/stores/{store_id}/alert-rules/{rule}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_store_alert_rule_override(
    store_id: uuid.UUID,
    rule: RulePath,
    caller: StoreManagerDep,
    session: SessionDep,
    audit: AuditDep,
) -> Response:
    """Remove the store's override: the organization's settings apply to it again."""
    before = await service.get_rule(session, caller, rule, organization_id=None, store_id=store_id)
    await service.remove_store_override(session, caller, store_id, rule)
    await audit.record(
        caller,
        "alert_rule.store.remove",
        store_id=store_id,
        target=rule,
        before=_rule_state(before),
        after={"store_override": None},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Silences.


@router.post("/alert-silences", status_code=status.HTTP_201_CREATED)
async def create_alert_silence(
    body: SilenceCreate,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[SilenceOut]:
    """Mute the alerts all its matchers select, from `starts_at` (default now) to `ends_at`:
    they still move through their states, but no notification mentions them. A store manager's
    silence must carry a `store_id =` matcher naming one of their stores."""
    after = await service.create_silence(session, caller, body, clock.now())
    await audit.record(
        caller,
        "alert_silence.create",
        organization_id=after.organization_id,
        target=after.id,
        after=after,
    )
    return envelope(after)


@router.get("/alert-silences")
async def list_alert_silences(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    clock: ClockDep,
    state: Annotated[
        SilenceState | None, Query(description="`pending`, `active` or `expired`.")
    ] = None,
) -> Page[SilenceOut]:
    """The organization's silences, newest first, cursor paged."""
    items, next_cursor = await service.list_silences(
        session, caller.scope, page, state, clock.now()
    )
    return Page[SilenceOut](data=items, meta=PageMeta(next_cursor=next_cursor, count=len(items)))


@router.get("/alert-silences/{silence_id}")
async def get_alert_silence(
    silence_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep
) -> Envelope[SilenceOut]:
    """One silence, with its `state` now."""
    return envelope(await service.get_silence(session, caller.scope, silence_id, clock.now()))


@router.delete("/alert-silences/{silence_id}")
async def end_alert_silence(
    silence_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[SilenceOut]:
    """End the silence now (it stays listed, `expired`); ending an expired one changes
    nothing."""
    before = await service.get_silence(session, caller.scope, silence_id, clock.now())
    after = await service.end_silence(session, caller, silence_id, clock.now())
    await audit.record(
        caller,
        "alert_silence.end",
        organization_id=after.organization_id,
        target=after.id,
        before=before,
        after=after,
    )
    return envelope(after)


# Escalation policies.


@router.post("/escalation-policies", status_code=status.HTTP_201_CREATED)
async def create_escalation_policy(
    body: PolicyCreate,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[PolicyOut]:
    """Add a policy: level 0's channels hear of a group's alerts first, each next level
    `delay_s` after the one before, until someone acknowledges. With no `rules` it is the
    organization's default policy."""
    after = await service.create_policy(session, caller, body, clock.now())
    await _record_policy(audit, caller, "escalation_policy.create", after, after=after)
    return envelope(after)


@router.get("/escalation-policies")
async def list_escalation_policies(
    caller: ViewerDep, session: SessionDep, page: PageDep
) -> Page[PolicyOut]:
    """The organization's escalation policies, oldest first, cursor paged."""
    items, next_cursor = await service.list_policies(session, caller.scope, page)
    return Page[PolicyOut](data=items, meta=PageMeta(next_cursor=next_cursor, count=len(items)))


@router.get("/escalation-policies/{policy_id}")
async def get_escalation_policy(
    policy_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[PolicyOut]:
    """One escalation policy."""
    return envelope(await service.get_policy(session, caller.scope, policy_id))


@router.put("/escalation-policies/{policy_id}")
async def update_escalation_policy(
    policy_id: uuid.UUID,
    body: PolicyBody,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[PolicyOut]:
    """Replace the policy's name, levels and rules (validated as on creation)."""
    before = await service.get_policy(session, caller.scope, policy_id)
    after = await service.update_policy(session, caller.scope, policy_id, body, clock.now())
    await _record_policy(
        audit, caller, "escalation_policy.update", after, before=before, after=after
    )
    return envelope(after)


@router.delete("/escalation-policies/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_escalation_policy(
    policy_id: uuid.UUID, caller: OrgAdminDep, session: SessionDep, audit: AuditDep
) -> Response:
    """Delete the policy; the alert groups it was escalating are detached from it."""
    before = await service.get_policy(session, caller.scope, policy_id)
    await service.delete_policy(session, caller.scope, policy_id)
    await _record_policy(audit, caller, "escalation_policy.delete", before, before=before)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _rule_state(rule: RuleOut) -> dict[str, object]:
    """What an override changes: the overrides and the settings that result."""
    return rule.model_dump(include={"organization_override", "store_override", "effective"})


async def _record_policy(
    audit: AuditTrail,
    caller: OperatorPrincipal,
    action: str,
    policy: PolicyOut,
    *,
    before: PolicyOut | None = None,
    after: PolicyOut | None = None,
) -> None:
    await audit.record(
        caller,
        action,
        organization_id=policy.organization_id,
        target=policy.id,
        before=before,
        after=after,
    )
