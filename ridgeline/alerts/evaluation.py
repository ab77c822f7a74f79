"""Judging the evaluated alert rules (`alerts.evaluate`, every `EVALUATE_EVERY_S`).

Each pass reads, in one read transaction, one aggregate per rule over every organization, the
rules' overrides and the open alerts of these rules. A condition that holds raises its alert
(`raise_alert`, which counts one more occurrence on an open one); an open alert whose condition
no longer holds is resolved, saying why. The writes are one short transaction per organization,
and only for organizations with something to raise or resolve: a quiet fleet costs the single
writer nothing. `raise_alert` stays the judge of the settings; they are read here beforehand
only to leave out what it would refuse.

What each rule measures (the figure compared with its threshold):

- `orders_waiting`, one per store (`orders_waiting:{store}:`): the age in seconds of the store's
  oldest order the kiosk took that the POS has not yet accepted, i.e. `received`, `queued` or
  `submitted` (the POS has it but has not acknowledged it), measured from its creation.
- `catalog_stale`, one per store with a POS and a sync state (`catalog_stale:{store}:`): stale
  as the kiosk catalog judges it, its last successful sync older than `stale_after_s`. A store
  that never synced is stale once its POS configuration (its creation, if none is recorded) is
  older than `stale_after_s`: the first sync gets the same time as any other. No figure (the
  rule has no threshold: `stale_after_s` is it); `for` applies.
- `kiosks_disconnected`, one per store (`kiosks_disconnected:{store}:`): seconds since the most
  recent contact of any of its active kiosks, judged only for stores where one was in contact
  within the last day. A store whose kiosks have been silent longer keeps an open alert (nothing
  fixed it) but gets no new one.
- `kiosk_keys_expiring`, one per active kiosk (`kiosk_keys_expiring:{store}:{kiosk}`): among
  the kiosk's unrevoked `kiosk` keys (diagnostic keys never count), when none is without expiry,
  the days (fractional) until the latest one expires; 0 when all have expired. A kiosk with a
  key that never expires, or with no unrevoked kiosk key at all, is not judged.

The process rules, one alert per live process (`{rule}:{process_key}`), read the figures each
process publishes every 15 s (monitoring/performance.py); a process whose report is older than
60 s is not judged, and its open alerts resolve ("process gone"):

- `api_latency_p95`: the 95th percentile of its request durations over its 5-minute window, in
  seconds; `api_error_rate`: the fraction of those requests answered 5xx. Both are judged only
  from `JUDGED_FROM_REQUESTS` requests in the window (an open alert resolves below that).
- `process_cpu`: its CPU percent at the last sample (100 = one core); `process_memory`: its
  resident memory in bytes; `event_loop_lag`: the most its event loop woke late in the window.

`orders_waiting` and `catalog_stale` leave out stores an operator paused or that have no POS
configured (their health state): an open alert of such a store is resolved.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.alerts.platform import platform_organization_id
from ridgeline.alerts.rules import (
    RULES,
    Rule,
    RuleSettings,
    condition_met,
    overridden,
)
from ridgeline.alerts.service import raise_alert, resolve_alerts
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.jobs import repository as jobs_repository
from ridgeline.models.health import StoreConnectionState
from ridgeline.models.notification import AlertRuleOverride
from ridgeline.models.order import OrderStatus
from ridgeline.monitoring import repository as monitoring_repository
from ridgeline.monitoring.performance import LIVE_WITHIN, ProcessFigures

log = structlog.get_logger(__name__)

ORDERS_WAITING = "orders_waiting"
CATALOG_STALE = "catalog_stale"
KIOSKS_DISCONNECTED = "kiosks_disconnected"
KIOSK_KEYS_EXPIRING = "kiosk_keys_expiring"
JOBS_DEAD = "jobs_dead"
JOB_BACKLOG = "job_backlog"
API_LATENCY_P95 = "api_latency_p95"
API_ERROR_RATE = "api_error_rate"
PROCESS_CPU = "process_cpu"
PROCESS_MEMORY = "process_memory"
EVENT_LOOP_LAG = "event_loop_lag"
PROCESS_RULES = (API_LATENCY_P95, API_ERROR_RATE, PROCESS_CPU, PROCESS_MEMORY, EVENT_LOOP_LAG)
EVALUATED = (
    ORDERS_WAITING,
    CATALOG_STALE,
    KIOSKS_DISCONNECTED,
    KIOSK_KEYS_EXPIRING,
    JOBS_DEAD,
    JOB_BACKLOG,
    *PROCESS_RULES,
)
# Jobs counted by `jobs_dead`: those that went dead this recently.
DEAD_WINDOW = timedelta(hours=24)
# Stands for the platform organization before it exists (no override can name it yet).
NO_PLATFORM = uuid.UUID(int=0)

# Taken by the kiosk, not yet accepted by the POS.
WAITING_FOR_POS = (OrderStatus.RECEIVED, OrderStatus.QUEUED, OrderStatus.SUBMITTED)
# Stores whose POS side is not judged (`orders_waiting`, `catalog_stale`).
NOT_JUDGED = (StoreConnectionState.PAUSED, StoreConnectionState.UNCONFIGURED)
# A store's kiosks are watched while one of them was in contact this recently.
CONTACT_WINDOW = timedelta(days=1)
# The request rules judge a process's window from this many requests (fewer say nothing).
JUDGED_FROM_REQUESTS = 50

# The resolution of an open alert whose store (or kiosk) the rule's aggregate no longer lists.
GONE = {
    ORDERS_WAITING: "orders flowing again: none waits for the POS",
    CATALOG_STALE: "the store has no POS catalog to sync any more",
    KIOSKS_DISCONNECTED: "the store has no active kiosk that was ever in contact",
    KIOSK_KEYS_EXPIRING: "the kiosk has a key that never expires, or is no longer active",
    JOBS_DEAD: "no job went dead in the last 24 hours",
    JOB_BACKLOG: "workers keep up with the jobs due",
    **dict.fromkeys(PROCESS_RULES, "process gone: it has not reported for 60 s"),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One store's (or kiosk's) figure for one rule, as judged this pass."""

    rule: str
    organization_id: uuid.UUID
    store_id: uuid.UUID | None  # None: a platform rule's
    dedup_key: str
    figure: float | None
    met: bool  # the condition holds under the store's settings
    title: str
    message: str
    details: dict[str, Any]
    cleared: str  # the resolution of its open alert when the condition does not hold
    judged: bool = True  # False: the store is left out (paused, unconfigured)
    watched: bool = True  # False: an open alert stays, no new one is raised


@dataclass(slots=True)
class RuleTally:
    raised: int = 0  # alerts opened (or fired again after a flap)
    kept: int = 0  # open alerts whose condition still holds
    resolved: int = 0


@dataclass(slots=True)
class EvaluationResult:
    rules: dict[str, RuleTally] = field(default_factory=lambda: {n: RuleTally() for n in EVALUATED})
    failed_organizations: int = 0


class _Settings:
    """Every organization's and store's settings of the evaluated rules, resolved as
    `rules.settings_for` resolves them (store over organization over default)."""

    def __init__(self, overrides: Sequence[AlertRuleOverride]) -> None:
        self._rows: dict[tuple[uuid.UUID, str], list[AlertRuleOverride]] = defaultdict(list)
        for row in overrides:
            self._rows[(row.organization_id, row.rule)].append(row)

    def of(
        self, rule: Rule, organization_id: uuid.UUID, store_id: uuid.UUID | None
    ) -> RuleSettings:
        return overridden(rule, self._rows.get((organization_id, rule.name), []), store_id)

    def meets(
        self,
        name: str,
        organization_id: uuid.UUID,
        store_id: uuid.UUID | None,
        figure: float | None,
    ) -> bool:
        rule = RULES[name]
        settings = self.of(rule, organization_id, store_id)
        return settings.enabled and condition_met(rule, settings, figure)


async def evaluate_rules(database: Database, *, clock: Clock) -> EvaluationResult:
    """One pass over the evaluated rules for every organization (the `alerts.evaluate` job)."""
    now = clock.now()
    async with database.transaction(write=False) as session:
        settings = _Settings(await repository.evaluated_rule_overrides(session, EVALUATED))
        open_keys: dict[uuid.UUID, dict[str, str]] = defaultdict(dict)
        for organization_id, kind, key in await repository.open_alert_keys(session, EVALUATED):
            if key is not None and key.startswith(f"{kind}:"):
                open_keys[organization_id][key] = kind
        findings = [
            *await _orders_waiting(session, settings, now),
            *await _catalog_stale(session, settings, now),
            *await _kiosks_disconnected(session, settings, now),
            *await _kiosk_keys_expiring(session, settings, now),
        ]
        platform_id = await platform_organization_id(session, create=False)
        platform = [
            *await _job_findings(session, settings, now, platform_id or NO_PLATFORM),
            *await _process_findings(session, settings, now, platform_id or NO_PLATFORM),
        ]
    if platform_id is None and any(finding.met for finding in platform):
        async with database.transaction() as session:
            platform_id = await platform_organization_id(session, create=True)
        assert platform_id is not None
        platform = [replace(finding, organization_id=platform_id) for finding in platform]
    findings += [finding for finding in platform if finding.organization_id != NO_PLATFORM]
    by_organization: dict[uuid.UUID, list[Finding]] = defaultdict(list)
    for finding in findings:
        by_organization[finding.organization_id].append(finding)
    result = EvaluationResult()
    for organization_id in by_organization.keys() | open_keys.keys():
        work = _plan(by_organization.get(organization_id, []), open_keys.get(organization_id, {}))
        if not work.to_raise and not work.to_resolve:
            _count(result, work.kept)
            continue
        tallies = {name: RuleTally() for name in EVALUATED}
        try:
            async with database.transaction() as session:
                await _apply(session, organization_id, work, tallies, now)
        except Exception:
            log.exception("alert_rules_evaluation_failed", organization_id=str(organization_id))
            result.failed_organizations += 1
            continue
        _count(result, work.kept)
        for name, tally in tallies.items():
            total = result.rules[name]
            total.raised += tally.raised
            total.kept += tally.kept
            total.resolved += tally.resolved
    return result


@dataclass(slots=True)
class _Work:
    """What one organization's transaction does."""

    open_keys: dict[str, str]  # dedup key -> rule, before this pass
    to_raise: list[Finding] = field(default_factory=list)
    to_resolve: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (rule, why)
    kept: list[str] = field(default_factory=list)  # rules of open alerts left as they are


def _plan(findings: list[Finding], open_keys: dict[str, str]) -> _Work:
    work = _Work(open_keys)
    listed: set[str] = set()
    for finding in findings:
        listed.add(finding.dedup_key)
        if finding.judged and finding.met:
            if finding.watched:
                work.to_raise.append(finding)
            elif finding.dedup_key in open_keys:
                work.kept.append(finding.rule)
        elif finding.dedup_key in open_keys:
            work.to_resolve[finding.dedup_key] = (finding.rule, finding.cleared)
    for key, rule in open_keys.items():
        if key not in listed:
            work.to_resolve[key] = (rule, GONE[rule])
    return work


def _count(result: EvaluationResult, kept: list[str]) -> None:
    for rule in kept:
        result.rules[rule].kept += 1


async def _apply(
    session: AsyncSession,
    organization_id: uuid.UUID,
    work: _Work,
    tallies: dict[str, RuleTally],
    now: datetime,
) -> None:
    for finding in work.to_raise:
        row = await raise_alert(
            session,
            organization_id=organization_id,
            store_id=finding.store_id,
            kind=finding.rule,
            title=finding.title,
            message=finding.message,
            details=finding.details,
            at=now,
            dedup_key=finding.dedup_key,
            figure=finding.figure,
        )
        if row is None:  # its settings changed since they were read
            if finding.dedup_key in work.open_keys:
                work.to_resolve[finding.dedup_key] = (finding.rule, finding.cleared)
        elif finding.dedup_key in work.open_keys:
            tallies[finding.rule].kept += 1
        else:
            tallies[finding.rule].raised += 1
    for key, (rule, why) in work.to_resolve.items():
        resolved = await resolve_alerts(session, organization_id, key, at=now, resolution=why)
        tallies[rule].resolved += len(resolved)


# The rules' figures.


def _not_judged(state: StoreConnectionState | None) -> str | None:
    if state is not None and state in NOT_JUDGED:
        return f"not judged while the store's POS is {state.value}"
    return None


async def _orders_waiting(
    session: AsyncSession, settings: _Settings, now: datetime
) -> list[Finding]:
    rule = RULES[ORDERS_WAITING]
    findings = []
    for org, store, name, state, count, oldest in await repository.waiting_orders_by_store(
        session, WAITING_FOR_POS
    ):
        if oldest is None:
            continue
        figure = max(0.0, (now - oldest).total_seconds())
        skipped = _not_judged(state)
        met = skipped is None and settings.meets(rule.name, org, store, figure)
        reference = (
            await repository.oldest_order_reference(session, org, store, WAITING_FOR_POS)
            if met
            else None
        )
        findings.append(
            Finding(
                rule=rule.name,
                organization_id=org,
                store_id=store,
                dedup_key=f"{rule.name}:{store}:",
                figure=figure,
                met=met,
                title=f"{rule.title}: {name}",
                message=(
                    f"{_orders(count)} waiting for the POS; the oldest, {reference}, "
                    f"for {_duration(figure)}."
                ),
                details={
                    "waiting": count,
                    "oldest_reference": reference,
                    "oldest_placed_at": oldest.isoformat(),
                    "oldest_waiting_s": round(figure),
                },
                cleared=skipped or "orders flowing again",
                judged=skipped is None,
            )
        )
    return findings


async def _catalog_stale(
    session: AsyncSession, settings: _Settings, now: datetime
) -> list[Finding]:
    rule = RULES[CATALOG_STALE]
    findings = []
    for row in await repository.sync_freshness_by_store(session):
        org, store, name, state, last, stale_after_s, configured_at, created_at = row
        since = last or configured_at or created_at
        age = (now - since).total_seconds()
        stale = age > stale_after_s
        skipped = _not_judged(state)
        met = skipped is None and stale and settings.meets(rule.name, org, store, None)
        message = (
            f"The catalog was last synced {_duration(age)} ago (stale after "
            f"{_duration(stale_after_s)})."
            if last is not None
            else f"The catalog has never synced; the POS was configured {_duration(age)} ago."
        )
        findings.append(
            Finding(
                rule=rule.name,
                organization_id=org,
                store_id=store,
                dedup_key=f"{rule.name}:{store}:",
                figure=None,
                met=met,
                title=f"{rule.title}: {name}",
                message=message,
                details={
                    "last_success_at": last.isoformat() if last is not None else None,
                    "stale_after_s": stale_after_s,
                    "age_s": round(age),
                },
                cleared=skipped or "catalog synced again",
                judged=skipped is None,
            )
        )
    return findings


async def _kiosks_disconnected(
    session: AsyncSession, settings: _Settings, now: datetime
) -> list[Finding]:
    rule = RULES[KIOSKS_DISCONNECTED]
    findings = []
    for org, store, name, kiosks, last in await repository.kiosk_contact_by_store(session):
        if last is None:
            continue  # none ever in contact: nothing was lost
        figure = max(0.0, (now - last).total_seconds())
        findings.append(
            Finding(
                rule=rule.name,
                organization_id=org,
                store_id=store,
                dedup_key=f"{rule.name}:{store}:",
                figure=figure,
                met=settings.meets(rule.name, org, store, figure),
                title=f"{rule.title}: {name}",
                message=(
                    f"None of the store's {kiosks} active kiosk(s) has been in contact for "
                    f"{_duration(figure)}."
                ),
                details={
                    "active_kiosks": kiosks,
                    "last_contact_at": last.isoformat(),
                    "silent_s": round(figure),
                },
                cleared="a kiosk is in contact again",
                watched=now - last <= CONTACT_WINDOW,
            )
        )
    return findings


async def _kiosk_keys_expiring(
    session: AsyncSession, settings: _Settings, now: datetime
) -> list[Finding]:
    rule = RULES[KIOSK_KEYS_EXPIRING]
    findings = []
    for org, store, store_name, kiosk, name, latest in await repository.kiosks_with_expiring_keys(
        session
    ):
        if latest is None:
            continue
        days = max(0.0, (latest - now).total_seconds() / 86400)
        message = (
            f"The kiosk's last usable key expires in {days:.1f} days ({latest.isoformat()})."
            if days > 0
            else f"Every key of the kiosk has expired (the last at {latest.isoformat()}): "
            "it cannot call Ridgeline until it gets a new one."
        )
        findings.append(
            Finding(
                rule=rule.name,
                organization_id=org,
                store_id=store,
                dedup_key=f"{rule.name}:{store}:{kiosk}",
                figure=days,
                met=settings.meets(rule.name, org, store, days),
                title=f"{rule.title}: {name} ({store_name})",
                message=message,
                details={
                    "kiosk_id": str(kiosk),
                    "latest_expiry_at": latest.isoformat(),
                    "days_left": round(days, 2),
                },
                cleared="the kiosk has a key valid beyond the threshold",
            )
        )
    return findings


async def _job_findings(
    session: AsyncSession, settings: _Settings, now: datetime, platform_id: uuid.UUID
) -> list[Finding]:
    """The platform rules over the job table (`jobs_dead`, `job_backlog`)."""
    dead, kinds = await jobs_repository.dead_since(session, now - DEAD_WINDOW)
    waiting, oldest = await jobs_repository.due_backlog(session, now)
    waited = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    dead_rule, backlog_rule = RULES[JOBS_DEAD], RULES[JOB_BACKLOG]
    return [
        Finding(
            rule=JOBS_DEAD,
            organization_id=platform_id,
            store_id=None,
            dedup_key=f"{JOBS_DEAD}:",
            figure=float(dead),
            met=dead > 0 and settings.meets(JOBS_DEAD, platform_id, None, float(dead)),
            title=dead_rule.title,
            message=(
                f"{dead} job(s) ran out of attempts in the last 24 hours ({', '.join(kinds[:5])})."
                " GET /api/v1/jobs?status=dead lists them with their last error."
            ),
            details={"dead_24h": dead, "kinds": kinds[:20]},
            cleared=GONE[JOBS_DEAD],
        ),
        Finding(
            rule=JOB_BACKLOG,
            organization_id=platform_id,
            store_id=None,
            dedup_key=f"{JOB_BACKLOG}:",
            figure=waited,
            met=waiting > 0 and settings.meets(JOB_BACKLOG, platform_id, None, waited),
            title=backlog_rule.title,
            message=(
                f"{waiting} job(s) are due and not started; the oldest has waited "
                f"{_duration(waited)}."
            ),
            details={"due_not_started": waiting, "oldest_waiting_s": round(waited)},
            cleared=GONE[JOB_BACKLOG],
        ),
    ]


async def _process_findings(
    session: AsyncSession, settings: _Settings, now: datetime, platform_id: uuid.UUID
) -> list[Finding]:
    """The platform rules over each live process's latest report, one alert per process."""
    findings = []
    for row in await monitoring_repository.reports_updated_since(session, now - LIVE_WITHIN):
        figures = ProcessFigures.of(row.report)
        enough = figures.requests >= JUDGED_FROM_REQUESTS
        requests = f"over {figures.requests} request(s) in the last 5 min"
        judged: list[tuple[str, float | None, bool, str]] = [
            (API_LATENCY_P95, figures.p95_s, enough, f"95th percentile {{:.2f}} s {requests}"),
            (API_ERROR_RATE, figures.error_rate, enough, f"{{:.1%}} answered 5xx {requests}"),
            (PROCESS_CPU, figures.cpu_percent, True, "CPU at {:.0f} % (100 = one core)"),
            (PROCESS_MEMORY, figures.rss_bytes, True, "resident memory {:,.0f} bytes"),
            (EVENT_LOOP_LAG, figures.lag_max_s, True, "event loop woke up to {:.2f} s late"),
        ]
        for name, figure, enough_data, text in judged:
            gauged = enough_data and figure is not None
            findings.append(
                Finding(
                    rule=name,
                    organization_id=platform_id,
                    store_id=None,
                    dedup_key=f"{name}:{row.process_key}",
                    figure=figure,
                    met=gauged and settings.meets(name, platform_id, None, figure),
                    title=f"{RULES[name].title}: {row.role} {row.process_key}",
                    message=(
                        f"The {row.role} process {row.process_key}: "
                        f"{text.format(figure) if figure is not None else 'no figure'}. "
                        "GET /api/v1/system/performance shows every process's figures."
                    ),
                    details={
                        "process_key": row.process_key,
                        "role": row.role,
                        "figure": figure,
                        "requests_in_window": figures.requests,
                        "reported_at": row.updated_at.isoformat(),
                    },
                    cleared=(
                        "back under the threshold"
                        if enough_data
                        else f"fewer than {JUDGED_FROM_REQUESTS} requests in the window to judge"
                    ),
                    judged=enough_data,
                )
            )
    return findings


def _orders(count: int) -> str:
    return "1 order" if count == 1 else f"{count} orders"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days {hours % 24} h"
