"""Configuring alerting: each organization's and store's overrides of the built-in rules,
silences, and escalation policies. The endpoints in `config_endpoints.py` call these; the
request boundary commits.

A silence is created and ended in the caller's transaction together with an
`alert.silence_changed` message on the organization's ops stream, so a dashboard hears of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.alerts.config_schemas import (
    EscalationLevelOut,
    PolicyBody,
    PolicyCreate,
    PolicyOut,
    RuleOut,
    RuleSettingsOut,
    SilenceCreate,
    SilenceOut,
    SilenceState,
)
from ridgeline.alerts.rules import (
    RULES,
    STORE_FIELDS,
    Rule,
    RuleOverride,
    RuleSettings,
    Severity,
    resolve,
    rule_named,
)
from ridgeline.alerts.silences import Matcher
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from ridgeline.models.notification import AlertEscalationPolicy, AlertRuleOverride, AlertSilence
from ridgeline.models.store import Store
from ridgeline.realtime import streams
from ridgeline.stores.service import get_organization, get_store

MAX_SILENCE = timedelta(days=90)
SILENCE_CHANGED = "alert.silence_changed"


def _field_error(loc: Sequence[str | int], message: str, kind: str) -> dict[str, Any]:
    return {"loc": [str(part) for part in loc], "message": message, "type": kind}


async def _organization_id(
    session: AsyncSession,
    caller: OperatorPrincipal,
    organization_id: uuid.UUID | None,
    *,
    where: str,
) -> uuid.UUID:
    """The organization the caller acts on: the one named (platform admins must name one),
    else their own; NotFound when the caller may not see it."""
    chosen = organization_id or caller.organization_id
    if chosen is None:
        raise ValidationFailed.for_fields(
            [_field_error([where, "organization_id"], "Field required", "missing")]
        )
    return (await get_organization(session, caller.scope, chosen)).id


async def _store(
    session: AsyncSession,
    caller: OperatorPrincipal,
    store_id: uuid.UUID,
    organization_id: uuid.UUID | None,
) -> Store:
    """The store, when the caller may see it (and it is of `organization_id`, when given)."""
    store = await get_store(session, caller.scope, store_id)
    if organization_id is not None and organization_id != store.organization_id:
        raise NotFound("store", store_id)
    return store


# Rules.


def _settings_out(settings: RuleSettings) -> RuleSettingsOut:
    return RuleSettingsOut.model_validate(asdict(settings))


def _rule_view(
    rule: Rule, organization: Mapping[str, Any] | None, store: Mapping[str, Any] | None
) -> RuleOut:
    store_settings = (
        None if store is None else {k: v for k, v in store.items() if k in STORE_FIELDS}
    )
    layers = [layer for layer in (organization, store_settings) if layer is not None]
    return RuleOut(
        name=rule.name,
        summary=rule.summary,
        source=rule.source,
        scope=rule.scope,
        threshold_unit=rule.threshold_unit,
        runbook=rule.runbook,
        defaults=_settings_out(rule.defaults),
        organization_override=None if organization is None else dict(organization),
        store_override=store_settings,
        effective=_settings_out(resolve(rule, *(dict(layer) for layer in layers))),
    )


async def _rule_views(
    session: AsyncSession,
    organization_id: uuid.UUID,
    store_id: uuid.UUID | None,
    rules: Sequence[Rule],
) -> list[RuleOut]:
    rows = await repository.overrides_of(session, organization_id, store_id)
    organization = {row.rule: row.settings for row in rows if row.store_id is None}
    store = {row.rule: row.settings for row in rows if row.store_id is not None}
    return [_rule_view(rule, organization.get(rule.name), store.get(rule.name)) for rule in rules]


async def list_rules(
    session: AsyncSession,
    caller: OperatorPrincipal,
    *,
    organization_id: uuid.UUID | None,
    store_id: uuid.UUID | None,
) -> list[RuleOut]:
    """Every built-in rule with its defaults, the organization's (and the store's) overrides
    and the settings that result."""
    if store_id is not None:
        store = await _store(session, caller, store_id, organization_id)
        return await _rule_views(session, store.organization_id, store.id, list(RULES.values()))
    organization = await _organization_id(session, caller, organization_id, where="query")
    return await _rule_views(session, organization, None, list(RULES.values()))


async def _set_override(
    session: AsyncSession,
    scope: TenantScope,
    organization_id: uuid.UUID,
    store_id: uuid.UUID | None,
    rule: Rule,
    settings: dict[str, Any],
    now: datetime,
) -> None:
    while True:
        row = await repository.override(session, scope, organization_id, rule.name, store_id)
        if row is not None:
            break
        row = AlertRuleOverride(
            id=uuid.uuid4(),
            organization_id=organization_id,
            store_id=store_id,
            rule=rule.name,
            settings=settings,
            created_at=now,
            updated_at=now,
        )
        if await repository.add_if_absent(session, row):
            return
        # Another request created it first: update that one instead.
    row.settings = settings
    row.updated_at = now
    await session.flush()


async def _remove_override(
    session: AsyncSession,
    scope: TenantScope,
    organization_id: uuid.UUID,
    store_id: uuid.UUID | None,
    rule: Rule,
) -> None:
    row = await repository.override(session, scope, organization_id, rule.name, store_id)
    if row is not None:
        await repository.remove(session, row)


async def get_rule(
    session: AsyncSession,
    caller: OperatorPrincipal,
    name: str,
    *,
    organization_id: uuid.UUID | None,
    store_id: uuid.UUID | None = None,
    where: str = "query",
) -> RuleOut:
    """One rule as `list_rules` shows it: what an override is about to replace (`where` the
    organization was named, for the error when it must be and is not)."""
    rule = rule_named(name)
    if store_id is not None:
        store = await _store(session, caller, store_id, organization_id)
        return (await _rule_views(session, store.organization_id, store.id, [rule]))[0]
    organization = await _organization_id(session, caller, organization_id, where=where)
    return (await _rule_views(session, organization, None, [rule]))[0]


async def set_organization_override(
    session: AsyncSession, caller: OperatorPrincipal, name: str, body: RuleOverride, now: datetime
) -> RuleOut:
    """Replaces the organization's settings of the rule with those in `body`."""
    rule = rule_named(name)
    organization_id = await _organization_id(session, caller, body.organization_id, where="body")
    await _set_override(session, caller.scope, organization_id, None, rule, body.values(), now)
    return (await _rule_views(session, organization_id, None, [rule]))[0]


async def remove_organization_override(
    session: AsyncSession, caller: OperatorPrincipal, name: str, organization_id: uuid.UUID | None
) -> None:
    """The rule goes back to its defaults for the organization (stores keep their overrides)."""
    rule = rule_named(name)
    chosen = await _organization_id(session, caller, organization_id, where="query")
    await _remove_override(session, caller.scope, chosen, None, rule)


async def set_store_override(
    session: AsyncSession,
    caller: OperatorPrincipal,
    store_id: uuid.UUID,
    name: str,
    body: RuleOverride,
    now: datetime,
) -> RuleOut:
    """Replaces the store's settings of the rule; grouping settings are the organization's
    only (a group spans stores)."""
    rule = rule_named(name)
    store = await _store(session, caller, store_id, body.organization_id)
    settings = body.values()
    refused = sorted(set(settings) - STORE_FIELDS)
    if refused:
        raise ValidationFailed.for_fields(
            [
                _field_error(
                    ["body", field],
                    "Only an organization may set this (a group of alerts spans stores).",
                    "organization_only",
                )
                for field in refused
            ]
        )
    await _set_override(session, caller.scope, store.organization_id, store.id, rule, settings, now)
    return (await _rule_views(session, store.organization_id, store.id, [rule]))[0]


async def remove_store_override(
    session: AsyncSession, caller: OperatorPrincipal, store_id: uuid.UUID, name: str
) -> None:
    rule = rule_named(name)
    store = await _store(session, caller, store_id, None)
    await _remove_override(session, caller.scope, store.organization_id, store.id, rule)


# Silences.


def silence_state(row: AlertSilence, now: datetime) -> SilenceState:
    if row.ended_at is not None or now >= row.ends_at:
        return SilenceState.EXPIRED
    if now < row.starts_at:
        return SilenceState.PENDING
    return SilenceState.ACTIVE


def silence_view(row: AlertSilence, now: datetime) -> SilenceOut:
    return SilenceOut(
        id=row.id,
        organization_id=row.organization_id,
        matchers=[Matcher.model_validate(matcher) for matcher in row.matchers],
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        comment=row.comment,
        created_by=row.created_by,
        ended_at=row.ended_at,
        state=silence_state(row, now),
        created_at=row.created_at,
    )


def _matcher_errors(matchers: Sequence[Matcher]) -> list[dict[str, Any]]:
    """A matcher whose value no alert can have would silence nothing (or, with `!=`,
    everything): refused."""
    errors = []
    for index, matcher in enumerate(matchers):
        loc: list[str | int] = ["body", "matchers", index, "value"]
        if matcher.label == "rule" and matcher.value not in RULES:
            errors.append(_field_error(loc, "Not a rule's name.", "unknown_rule"))
        elif matcher.label == "severity" and matcher.value not in set(Severity):
            errors.append(_field_error(loc, "Not a severity.", "unknown_severity"))
        elif matcher.label == "store_id" and matcher.value:
            try:
                uuid.UUID(matcher.value)
            except ValueError:
                errors.append(_field_error(loc, "Not a store id.", "uuid_parsing"))
    return errors


def _names_own_store(caller: OperatorPrincipal, matchers: Sequence[Matcher]) -> bool:
    """Whether a store manager's silence is held to their stores (an `store_id =` matcher)."""
    stores = caller.scope.store_ids
    if stores is None:
        return True
    own = {str(store_id) for store_id in stores}
    return any(m.label == "store_id" and m.op == "=" and m.value in own for m in matchers)


def _not_own_store() -> Forbidden:
    return Forbidden(
        "A store manager's silence must be held to one of their stores: add the matcher "
        '{"label": "store_id", "op": "=", "value": "<your store id>"}.'
    )


async def _announce_silence(session: AsyncSession, row: AlertSilence, now: datetime) -> SilenceOut:
    view = silence_view(row, now)
    await streams.append(
        session,
        streams.ops_stream(row.organization_id),
        SILENCE_CHANGED,
        view.model_dump(mode="json"),
        at=now,
    )
    return view


async def create_silence(
    session: AsyncSession, caller: OperatorPrincipal, body: SilenceCreate, now: datetime
) -> SilenceOut:
    errors = _matcher_errors(body.matchers)
    starts_at = body.starts_at or now
    if body.ends_at <= starts_at:
        errors.append(_field_error(["body", "ends_at"], "Must be after starts_at.", "too_early"))
    elif body.ends_at <= now:
        errors.append(_field_error(["body", "ends_at"], "Must be in the future.", "too_early"))
    elif body.ends_at - starts_at > MAX_SILENCE:
        errors.append(
            _field_error(["body", "ends_at"], "At most 90 days after starts_at.", "too_long")
        )
    if errors:
        raise ValidationFailed.for_fields(errors)
    if not _names_own_store(caller, body.matchers):
        raise _not_own_store()
    organization_id = await _organization_id(session, caller, body.organization_id, where="body")
    row = AlertSilence(
        id=uuid.uuid4(),
        organization_id=organization_id,
        matchers=[matcher.model_dump(mode="json") for matcher in body.matchers],
        starts_at=starts_at,
        ends_at=body.ends_at,
        comment=body.comment,
        created_by=f"operator:{caller.operator_id}",
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, row)
    return await _announce_silence(session, row, now)


async def _silence(
    session: AsyncSession, scope: TenantScope, silence_id: uuid.UUID, *, lock: bool = False
) -> AlertSilence:
    row = await repository.silence(session, scope, silence_id, lock=lock)
    if row is None:
        raise NotFound("alert_silence", silence_id)
    return row


async def get_silence(
    session: AsyncSession, scope: TenantScope, silence_id: uuid.UUID, now: datetime
) -> SilenceOut:
    return silence_view(await _silence(session, scope, silence_id), now)


async def list_silences(
    session: AsyncSession,
    scope: TenantScope,
    page: PageRequest,
    state: SilenceState | None,
    now: datetime,
) -> tuple[list[SilenceOut], str | None]:
    statement = repository.silences_in_state(scope, None if state is None else state.value, now)
    result = await paginate(session, statement, AlertSilence, page, newest_first=True)
    return [silence_view(row, now) for row in result.items], result.next_cursor


async def end_silence(
    session: AsyncSession, caller: OperatorPrincipal, silence_id: uuid.UUID, now: datetime
) -> SilenceOut:
    """Ends the silence now; one already expired is left as it is."""
    row = await _silence(session, caller.scope, silence_id, lock=True)
    matchers = [Matcher.model_validate(matcher) for matcher in row.matchers]
    if not _names_own_store(caller, matchers):
        raise _not_own_store()
    if silence_state(row, now) is SilenceState.EXPIRED:
        return silence_view(row, now)
    row.ended_at = now
    row.updated_at = now
    await session.flush()
    return await _announce_silence(session, row, now)


# Escalation policies.


def policy_view(row: AlertEscalationPolicy) -> PolicyOut:
    return PolicyOut(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        levels=[EscalationLevelOut.model_validate(level) for level in row.levels],
        rules=list(row.rules),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _check_policy(
    session: AsyncSession,
    organization_id: uuid.UUID,
    body: PolicyBody,
    policy_id: uuid.UUID | None,
) -> None:
    """Every channel is the organization's; the organization has one default policy at most,
    and each rule is named by one policy at most."""
    scope = TenantScope(organization_id=organization_id)
    errors = [
        _field_error(
            ["body", "levels", level_index, "channel_ids", channel_index],
            "Not an alert channel of the policy's organization.",
            "unknown_channel",
        )
        for level_index, level in enumerate(body.levels)
        for channel_index, channel_id in enumerate(level.channel_ids)
        if await repository.channel(session, scope, channel_id) is None
    ]
    if errors:
        raise ValidationFailed.for_fields(errors)
    others = [
        p for p in await repository.policies_of(session, organization_id) if p.id != policy_id
    ]
    if not body.rules:
        default = next((p for p in others if not p.rules), None)
        if default is not None:
            raise AlreadyExists(
                "The organization already has a default policy (one naming no rules).",
                details={"field": "rules", "policy_id": str(default.id)},
            )
    for rule in body.rules:
        holder = next((p for p in others if rule in p.rules), None)
        if holder is not None:
            raise AlreadyExists(
                f"Another policy already covers the rule {rule}.",
                details={"field": "rules", "rule": rule, "policy_id": str(holder.id)},
            )


def _levels(body: PolicyBody) -> list[dict[str, Any]]:
    return [level.model_dump(mode="json") for level in body.levels]


async def _policy(
    session: AsyncSession, scope: TenantScope, policy_id: uuid.UUID, *, lock: bool = False
) -> AlertEscalationPolicy:
    row = await repository.policy(session, scope, policy_id, lock=lock)
    if row is None:
        raise NotFound("escalation_policy", policy_id)
    return row


async def create_policy(
    session: AsyncSession, caller: OperatorPrincipal, body: PolicyCreate, now: datetime
) -> PolicyOut:
    organization_id = await _organization_id(session, caller, body.organization_id, where="body")
    await repository.lock_policies(session, organization_id)
    await _check_policy(session, organization_id, body, None)
    row = AlertEscalationPolicy(
        id=uuid.uuid4(),
        organization_id=organization_id,
        name=body.name,
        levels=_levels(body),
        rules=list(body.rules),
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, row)
    return policy_view(row)


async def get_policy(session: AsyncSession, scope: TenantScope, policy_id: uuid.UUID) -> PolicyOut:
    return policy_view(await _policy(session, scope, policy_id))


async def list_policies(
    session: AsyncSession, scope: TenantScope, page: PageRequest
) -> tuple[list[PolicyOut], str | None]:
    result = await paginate(session, repository.policies(scope), AlertEscalationPolicy, page)
    return [policy_view(row) for row in result.items], result.next_cursor


async def update_policy(
    session: AsyncSession,
    scope: TenantScope,
    policy_id: uuid.UUID,
    body: PolicyBody,
    now: datetime,
) -> PolicyOut:
    row = await _policy(session, scope, policy_id)
    await repository.lock_policies(session, row.organization_id)
    await _check_policy(session, row.organization_id, body, row.id)
    row.name = body.name
    row.levels = _levels(body)
    row.rules = list(body.rules)
    row.updated_at = now
    await session.flush()
    return policy_view(row)


async def delete_policy(session: AsyncSession, scope: TenantScope, policy_id: uuid.UUID) -> None:
    await repository.remove(session, await _policy(session, scope, policy_id))
