"""Notification groups: what people are told about alerts, when, and who is told.

Alerts of one organization and one rule share a group (a regional POS outage taking 50 stores
down is one group: one notification, then one per change, not 50). Raising an alert only puts
it in its group (`attach`); the flush (`flush_groups`, the `alerts.notify` job every
`NOTIFY_EVERY_S`) decides, per open group, whether to notify:

- a change (an alert fired, was acknowledged or resolved) is told `group_wait_s` after the
  group opened for its first notification, then at most once per `group_interval_s`;
- a group still firing and unchanged is told again every `repeat_interval_s`;
- silenced alerts, and alerts of a rule inhibited by their store's POS being down (or back
  for less than `RECOVERY_GRACE`), are left out (`suppressed_by` on the alert says why);
- the escalation policy's level 0 hears first; each next level `delay_s` after the previous
  one while anything in the group fires unacknowledged; every channel that heard of the group
  hears of its resolution. Without a policy, every enabled channel of the organization hears.

Only the flush writes an existing group row (and it takes the group with SKIP LOCKED), so a
transaction raising an alert never waits on a flush: raising takes the alert's row, then at
most inserts a group; the flush takes the group, then writes alert rows nobody waits for it on.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from ridgeline.alerts import repository
from ridgeline.alerts.channels import Notification, NotificationState
from ridgeline.alerts.delivery import enqueue_notification
from ridgeline.alerts.lifecycle import ACKNOWLEDGED, FIRING, RESOLVED
from ridgeline.alerts.metrics import ALERT_ESCALATIONS, ALERT_NOTIFICATIONS
from ridgeline.alerts.rules import RULES, Rule, RuleSettings, Severity, settings_for
from ridgeline.alerts.silences import silencing
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.models.notification import AdminNotification, AlertEscalationPolicy, AlertGroup

log = structlog.get_logger(__name__)

NOTIFY_EVERY_S = 5.0
FLUSH_BATCH = 500  # groups looked at per flush
LISTED = 20  # alerts named in a notification's message; the rest are counted
# A store whose POS alert fires inhibits these rules' alerts of the same store.
STORE_DOWN_RULES = ("store_pos_offline", "store_pos_error", "store_credentials_refused")
# ... and keeps inhibiting them this long after the store's alert resolved: a store just back
# still has sync and order alerts from its outage, which its next runs resolve.
RECOVERY_GRACE = timedelta(minutes=5)
_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def group_key(alert: AdminNotification) -> str:
    """Alerts are grouped by organization (the group's own column) and rule."""
    return f"rule={alert.kind}"


async def attach(session: AsyncSession, alert: AdminNotification, *, at: datetime) -> None:
    """Puts a firing alert in its organization's open group of its rule, opening one if none
    is open (another transaction opening it first is found, not duplicated)."""
    key = group_key(alert)
    while alert.group_id is None:
        found = await repository.open_group(session, alert.organization_id, key)
        if found is None:
            row = AlertGroup(
                id=uuid.uuid4(),
                organization_id=alert.organization_id,
                group_key=key,
                rule=alert.kind,
                notified_channel_ids=[],
                escalation_policy_id=await _policy_for(session, alert),
                created_at=at,
                updated_at=at,
            )
            if await repository.add_if_absent(session, row):
                found = row
        if found is not None:
            alert.group_id = found.id


async def _policy_for(session: AsyncSession, alert: AdminNotification) -> uuid.UUID | None:
    """The policy naming the alert's rule, else the organization's default (no rules)."""
    policies = await repository.policies_of(session, alert.organization_id)
    named = [p.id for p in policies if alert.kind in p.rules]
    default = [p.id for p in policies if not p.rules]
    return next(iter(named or default), None)


@dataclass(frozen=True, slots=True)
class FlushResult:
    groups_notified: int
    escalations: int
    groups_closed: int


async def flush_groups(database: Database, *, clock: Clock) -> FlushResult:
    """One pass over every open group (the `alerts.notify` job)."""
    notified = escalated = closed = 0
    async with database.transaction(write=False) as session:
        group_ids = await repository.open_group_ids(session, FLUSH_BATCH)
    for group_id in group_ids:
        async with database.transaction() as session:
            row = await repository.group_to_flush(session, group_id)
            if row is None:
                continue
            outcome = await _flush(session, row, clock=clock)
        notified += outcome.notified
        escalated += outcome.escalated
        closed += outcome.closed
    return FlushResult(notified, escalated, closed)


@dataclass(frozen=True, slots=True)
class _Outcome:
    notified: int = 0
    escalated: int = 0
    closed: int = 0


@dataclass(frozen=True, slots=True)
class _View:
    """What a notification about the group would say now."""

    told: list[AdminNotification]  # active alerts, and resolved ones people heard of
    active: list[AdminNotification]  # firing or acknowledged, not suppressed
    state: NotificationState | None  # None: nothing to tell
    digest: str


async def _flush(session: AsyncSession, group: AlertGroup, *, clock: Clock) -> _Outcome:
    now = clock.now()
    rule = RULES[group.rule]
    settings = await settings_for(session, group.organization_id, None, rule)
    alerts = list(await repository.alerts_to_announce(session, group))
    await _suppress(session, group, alerts, rule, now)
    view = _view(alerts)
    policy = (
        None
        if group.escalation_policy_id is None
        else await repository.policy(
            session, TenantScope(organization_id=group.organization_id), group.escalation_policy_id
        )
    )
    outcome = _Outcome()
    if view.state is not None and _due(group, view, settings, now):
        # Without a policy every enabled channel hears; with one, level 0 and whoever heard.
        targets = (
            None
            if policy is None
            else set(group.notified_channel_ids) | set(_level_channels(policy, 0))
        )
        sent = await _notify(session, group, rule, view, targets, clock=clock)
        outcome = _Outcome(notified=1 if sent else 0)
        if view.state is NotificationState.FIRING and group.next_escalation_at is None:
            group.next_escalation_at = _next_escalation(policy, group.escalation_level, now)
    elif view.state is None and view.digest != group.last_digest:
        group.last_digest = view.digest  # only suppressed alerts left: nothing to tell
    if view.state is not NotificationState.FIRING:
        group.next_escalation_at = None  # acknowledged (or resolved): escalation stops
    elif group.next_escalation_at is not None and group.next_escalation_at <= now:
        outcome = _Outcome(outcome.notified, escalated=1)
        await _escalate(session, group, rule, view, policy, clock=clock)
    settled = view.state is None or view.digest == group.last_digest
    if settled and not any(alert.resolved_at is None for alert in alerts):
        # Everything resolved and whoever heard of it was told: a new alert opens a new group.
        group.closed_at = now
        group.updated_at = now
        outcome = _Outcome(outcome.notified, outcome.escalated, closed=1)
    return outcome


async def _suppress(
    session: AsyncSession,
    group: AlertGroup,
    alerts: list[AdminNotification],
    rule: Rule,
    now: datetime,
) -> None:
    """Marks each open alert silenced, inhibited or neither, as of now."""
    silences = await repository.active_silences(session, group.organization_id, now)
    down: dict[uuid.UUID, uuid.UUID] = {}
    if rule.inhibited_by_store_down:
        for alert in await repository.store_down_alerts(
            session, group.organization_id, STORE_DOWN_RULES, now - RECOVERY_GRACE
        ):
            if alert.store_id is not None:
                down.setdefault(alert.store_id, alert.id)
    changes: dict[str | None, list[uuid.UUID]] = {}
    for alert in alerts:
        reason: str | None = None
        if alert.resolved_at is None:
            silence = silencing(silences, alert)
            if silence is not None:
                reason = f"silence:{silence.id}"
            elif alert.store_id is not None and alert.store_id in down:
                reason = f"inhibited_by:{down[alert.store_id]}"
        if reason != alert.suppressed_by:
            set_committed_value(alert, "suppressed_by", reason)
            changes.setdefault(reason, []).append(alert.id)
    for reason, ids in changes.items():
        await repository.mark_alerts(session, ids, suppressed_by=reason)


def _view(alerts: list[AdminNotification]) -> _View:
    active = [
        a
        for a in alerts
        if a.state in (FIRING.value, ACKNOWLEDGED.value) and a.suppressed_by is None
    ]
    resolved = [a for a in alerts if a.state == RESOLVED.value and a.notified_at is not None]
    told = active + resolved
    state: NotificationState | None
    if any(a.state == FIRING.value for a in active):
        state = NotificationState.FIRING
    elif active:
        state = NotificationState.ACKNOWLEDGED
    elif resolved:
        state = NotificationState.RESOLVED
    else:
        state = None
    text = "|".join(sorted(f"{a.id}:{a.state}" for a in told))
    return _View(told, active, state, hashlib.sha256(text.encode()).hexdigest())


def _due(group: AlertGroup, view: _View, settings: RuleSettings, now: datetime) -> bool:
    """A change, once the group's wait or interval allows; or the repeat of a firing group."""
    if group.last_notified_at is None:
        return now >= group.created_at + timedelta(seconds=settings.group_wait_s)
    if view.digest != group.last_digest:
        return now >= group.last_notified_at + timedelta(seconds=settings.group_interval_s)
    return view.state is NotificationState.FIRING and now >= group.last_notified_at + timedelta(
        seconds=settings.repeat_interval_s
    )


async def _notify(
    session: AsyncSession,
    group: AlertGroup,
    rule: Rule,
    view: _View,
    targets: set[str] | None,
    *,
    clock: Clock,
) -> bool:
    """Queues the group's notification to `targets` (None: every enabled channel) and records
    what was told. Resolved is told only to channels that heard of the group."""
    now = clock.now()
    assert view.state is not None
    if view.state is NotificationState.RESOLVED:
        targets = set(group.notified_channel_ids)
    channel_ids = None if targets is None else [uuid.UUID(c) for c in sorted(targets)]
    deliveries = []
    if channel_ids is None or channel_ids:
        deliveries = await enqueue_notification(
            session,
            organization_id=group.organization_id,
            notification=render(group, rule, view, now),
            clock=clock,
            channel_ids=channel_ids,
            group_id=group.id,
        )
    group.notified_channel_ids = sorted(
        set(group.notified_channel_ids) | {str(d.channel_id) for d in deliveries}
    )
    group.last_notified_at = now
    group.last_digest = view.digest
    group.last_state = view.state.value
    group.notifications += 1
    group.updated_at = now
    fresh = [a.id for a in view.told if a.notified_at is None]
    for alert in view.told:
        if alert.notified_at is None:
            set_committed_value(alert, "notified_at", now)
    await repository.mark_alerts(session, fresh, notified_at=now)
    ALERT_NOTIFICATIONS.labels(rule=rule.name, state=view.state.value).inc()
    log.info(
        "alert_group_notified",
        group_id=str(group.id),
        rule=rule.name,
        state=view.state.value,
        alerts=len(view.active),
        channels=len(deliveries),
    )
    return bool(deliveries)


async def _escalate(
    session: AsyncSession,
    group: AlertGroup,
    rule: Rule,
    view: _View,
    policy: AlertEscalationPolicy | None,
    *,
    clock: Clock,
) -> None:
    """Tells the policy's next level, and schedules the one after it."""
    now = clock.now()
    level = group.escalation_level + 1
    channels = _level_channels(policy, level)
    group.escalation_level = level
    group.next_escalation_at = _next_escalation(policy, level, now)
    group.updated_at = now
    if not channels:
        return
    ALERT_ESCALATIONS.labels(rule=rule.name).inc()
    deliveries = await enqueue_notification(
        session,
        organization_id=group.organization_id,
        notification=render(group, rule, view, now, escalation_level=level),
        clock=clock,
        channel_ids=[uuid.UUID(c) for c in channels],
        group_id=group.id,
    )
    group.notified_channel_ids = sorted(
        set(group.notified_channel_ids) | {str(d.channel_id) for d in deliveries}
    )
    log.info("alert_group_escalated", group_id=str(group.id), rule=rule.name, level=level)


def _level_channels(policy: AlertEscalationPolicy | None, level: int) -> list[str]:
    if policy is None or level >= len(policy.levels):
        return []
    return [str(c) for c in policy.levels[level].get("channel_ids", [])]


def _next_escalation(
    policy: AlertEscalationPolicy | None, level: int, now: datetime
) -> datetime | None:
    if policy is None or level + 1 >= len(policy.levels):
        return None
    return now + timedelta(seconds=int(policy.levels[level + 1].get("delay_s", 0)))


def render(
    group: AlertGroup,
    rule: Rule,
    view: _View,
    now: datetime,
    *,
    escalation_level: int = 0,
) -> Notification:
    """The group as one notification: a headline with the count, then one line per alert."""
    assert view.state is not None
    firing = [a for a in view.active if a.state == FIRING.value]
    acknowledged = [a for a in view.active if a.state == ACKNOWLEDGED.value]
    resolved = [a for a in view.told if a.state == RESOLVED.value]
    if len(view.told) == 1:
        title = view.told[0].title
    else:
        stores = {a.store_id for a in view.told if a.store_id is not None}
        where = f" at {len(stores)} stores" if len(stores) > 1 else ""
        title = f"{rule.title}{where}: {len(view.told)} alerts"
    counts = [
        f"{len(items)} {name}"
        for name, items in (
            ("firing", firing),
            ("acknowledged", acknowledged),
            ("resolved", resolved),
        )
        if items
    ]
    lines = [", ".join(counts) + "."]
    if escalation_level:
        lines.append(f"Escalated to level {escalation_level}: nobody has acknowledged it.")
    for alert in (firing + acknowledged + resolved)[:LISTED]:
        lines.append(f"- [{alert.state}] {alert.title}: {alert.message[:200]}")
    if len(view.told) > LISTED:
        lines.append(f"... and {len(view.told) - LISTED} more.")
    severity = max(
        (Severity(a.severity) for a in view.told), key=_SEVERITY_RANK.__getitem__, default=None
    )
    return Notification(
        title=title[:300],
        message="\n".join(lines)[:4000],
        severity=(severity or rule.defaults.severity).value,
        state=view.state,
        dedup_key=f"group:{group.id}",
        alert_ids=[a.id for a in view.told][:100],
        store_ids=sorted({a.store_id for a in view.told if a.store_id is not None}, key=str)[:100],
        at=now,
    )
