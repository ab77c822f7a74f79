"""The built-in alert rules, their documented defaults, and each organization's and store's
overrides of them.

A rule is named by the alert kind it raises (`store_pos_offline`, `sync_failed`, ...). Some are
raised by the code that sees the condition, in the same transaction (a store's health changing,
a sync run failing, an order ending without reaching the POS); the others are judged every
`EVALUATE_EVERY_S` by `alerts/evaluation.py` from figures that already exist (sync state, order
ages, kiosks' last contact, key expiry). docs/operations.md lists every rule with its runbook.

Settings resolve store over organization over default, one field at a time: a store may lower
`sync_failed`'s threshold while keeping the organization's `for`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.errors import NotFound
from ridgeline.models.notification import AlertRuleOverride


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool
    severity: Severity
    # What the condition is measured against (unit in `Rule.threshold_unit`); None: no figure.
    threshold: float | None
    # How long the condition must hold before the alert fires (it is `pending` until then).
    for_s: int
    # Grouping (organization level only): the first notification waits `group_wait_s` for
    # more alerts of the group, a change is told at most every `group_interval_s`, and a
    # group still firing unchanged is told again every `repeat_interval_s`.
    group_wait_s: int = 30
    group_interval_s: int = 300
    repeat_interval_s: int = 4 * 3600


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    title: str  # what a grouped notification is headed with
    summary: str
    source: Literal["event", "evaluated"]
    defaults: RuleSettings
    threshold_unit: str | None = None
    # How the figure meets the threshold: `at_least` (failures, seconds waiting) or `at_most`
    # (days left before a key expires).
    fires_when: Literal["at_least", "at_most"] = "at_least"
    # `store`: about one store (or kiosk) of an organization; `platform`: about Ridgeline
    # itself, raised in the platform organization (alerts/platform.py).
    scope: Literal["store", "platform"] = "store"
    # Held back from notifications while the store's own POS alert fires (inhibition).
    inhibited_by_store_down: bool = False
    runbook: str = ""  # the anchor of its section in docs/operations.md


def _settings(
    severity: Severity, *, threshold: float | None = None, for_s: int = 0
) -> RuleSettings:
    return RuleSettings(enabled=True, severity=severity, threshold=threshold, for_s=for_s)


CRITICAL, WARNING, INFO = Severity.CRITICAL, Severity.WARNING, Severity.INFO

RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "store_pos_offline",
            "Store POS offline",
            "No call has reached the store's POS for longer than its offline threshold.",
            "event",
            _settings(CRITICAL),
            runbook="store-health-and-recovery",
        ),
        Rule(
            "store_pos_error",
            "Store POS failing",
            "Calls to the store's POS fail (failure rate over its threshold, or its breaker is "
            "open) for `for_s`.",
            "event",
            _settings(CRITICAL, for_s=120),
            runbook="pos-connection-failures",
        ),
        Rule(
            "store_credentials_refused",
            "POS credentials refused",
            "The store's POS refused its credentials (401/403).",
            "event",
            _settings(CRITICAL),
            runbook="refused-credentials-manual-recovery",
        ),
        Rule(
            "sync_failed",
            "Sync failing",
            "The store's catalog or inventory sync failed `threshold` times in a row.",
            "event",
            # 5: a store polls every 30 s and both kinds count, so with the backoff (60 s,
            # 120 s, ...) five failures take about 5 minutes, longer than a store takes to be
            # judged offline (whose alert then inhibits these).
            _settings(WARNING, threshold=5),
            threshold_unit="consecutive failed runs",
            inhibited_by_store_down=True,
            runbook="failed-product-sync",
        ),
        Rule(
            "order_failed",
            "Orders failed",
            "An order reached its deadline without the POS accepting it.",
            "event",
            _settings(CRITICAL),
            inhibited_by_store_down=True,
            runbook="order-submission-failures",
        ),
        Rule(
            "order_rejected",
            "Orders rejected by the POS",
            "The POS rejected an order (a product or price it does not accept).",
            "event",
            _settings(CRITICAL),
            inhibited_by_store_down=True,
            runbook="order-submission-failures",
        ),
        Rule(
            "orders_waiting",
            "Orders waiting for the POS",
            "The store's oldest order not yet accepted by the POS has waited longer than "
            "`threshold`.",
            "evaluated",
            _settings(WARNING, threshold=600),
            threshold_unit="seconds",
            inhibited_by_store_down=True,
            runbook="orders-waiting",
        ),
        Rule(
            "catalog_stale",
            "Catalog stale",
            "The store's last successful sync is older than its stale-after setting, for `for_s`.",
            "evaluated",
            _settings(WARNING, for_s=300),
            inhibited_by_store_down=True,
            runbook="catalog-stale",
        ),
        Rule(
            "kiosks_disconnected",
            "Kiosks disconnected",
            "No kiosk of the store has been in contact for `threshold` (the store has kiosks "
            "and at least one was in contact in the last day).",
            "evaluated",
            _settings(WARNING, threshold=300),
            threshold_unit="seconds",
            runbook="kiosks-disconnected",
        ),
        Rule(
            "kiosk_keys_expiring",
            "Kiosk keys expiring",
            "A kiosk's last usable key expires within `threshold`.",
            "evaluated",
            _settings(WARNING, threshold=14),
            threshold_unit="days",
            fires_when="at_most",
            runbook="kiosk-keys-expiring",
        ),
        Rule(
            "jobs_dead",
            "Background jobs dead",
            "At least `threshold` background jobs ran out of attempts in the last 24 hours "
            "(a job retried with POST /api/v1/jobs/{id}/retry no longer counts).",
            "evaluated",
            _settings(WARNING, threshold=1),
            threshold_unit="dead jobs in 24 h",
            scope="platform",
            runbook="background-jobs",
        ),
        Rule(
            "job_backlog",
            "Background jobs waiting",
            "The job due longest ago that no worker has started has waited `threshold`, for "
            "`for_s` (workers down, or too few for the load).",
            "evaluated",
            _settings(WARNING, threshold=120, for_s=60),
            threshold_unit="seconds",
            scope="platform",
            runbook="background-jobs",
        ),
        Rule(
            "api_latency_p95",
            "API latency high",
            "A process's 95th percentile request duration over the last 5 minutes is at least "
            "`threshold`, for `for_s` (judged from 50 requests in the window).",
            "evaluated",
            _settings(WARNING, threshold=1.0, for_s=300),
            threshold_unit="seconds",
            scope="platform",
            runbook="performance",
        ),
        Rule(
            "api_error_rate",
            "API errors high",
            "At least `threshold` of a process's requests in the last 5 minutes were answered "
            "with a 5xx, for `for_s` (judged from 50 requests in the window).",
            "evaluated",
            _settings(WARNING, threshold=0.05, for_s=300),
            threshold_unit="fraction of requests (0.05 = 5 %)",
            scope="platform",
            runbook="performance",
        ),
        Rule(
            "process_cpu",
            "Process CPU high",
            "A process uses at least `threshold` CPU, for `for_s`.",
            "evaluated",
            _settings(WARNING, threshold=90, for_s=300),
            threshold_unit="percent (100 = one core)",
            scope="platform",
            runbook="performance",
        ),
        Rule(
            "process_memory",
            "Process memory high",
            "A process's resident memory is at least `threshold`, for `for_s`.",
            "evaluated",
            _settings(WARNING, threshold=1_500_000_000, for_s=300),
            threshold_unit="bytes",
            scope="platform",
            runbook="performance",
        ),
        Rule(
            "event_loop_lag",
            "Event loop lagging",
            "A process's event loop woke a task at least `threshold` late in the last 5 "
            "minutes, for `for_s` (something blocks the loop).",
            "evaluated",
            _settings(WARNING, threshold=0.25, for_s=120),
            threshold_unit="seconds",
            scope="platform",
            runbook="performance",
        ),
    )
}

EVALUATE_EVERY_S = 30.0
# Settings an override may hold, and those only an organization may set (grouping is per
# organization: a group spans stores).
STORE_FIELDS = frozenset({"enabled", "severity", "threshold", "for_s"})
ORGANIZATION_FIELDS = STORE_FIELDS | {"group_wait_s", "group_interval_s", "repeat_interval_s"}


def rule_named(name: str) -> Rule:
    try:
        return RULES[name]
    except KeyError:
        raise NotFound("alert rule", name) from None


class RuleOverride(BaseModel):
    """Settings to set for a rule; a field left out (or null) is inherited."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    severity: Severity | None = None
    threshold: float | None = Field(default=None, ge=0, le=1e13)  # bytes of memory, too
    for_s: int | None = Field(default=None, ge=0, le=7 * 86400)
    group_wait_s: int | None = Field(default=None, ge=0, le=3600)
    group_interval_s: int | None = Field(default=None, ge=1, le=86400)
    repeat_interval_s: int | None = Field(default=None, ge=60, le=7 * 86400)
    organization_id: uuid.UUID | None = Field(
        default=None, description="Platform admins: the organization whose rule this is."
    )

    @model_validator(mode="after")
    def _something(self) -> RuleOverride:
        if not self.values():
            raise ValueError("give at least one setting to override")
        return self

    def values(self) -> dict[str, Any]:
        return {
            name: value
            for name, value in self.model_dump(mode="json", exclude={"organization_id"}).items()
            if value is not None
        }


def resolve(rule: Rule, *layers: dict[str, Any]) -> RuleSettings:
    """The rule's defaults with each layer's settings applied in turn (organization, then
    store)."""
    settings = rule.defaults
    for layer in layers:
        known = {name: value for name, value in layer.items() if name in ORGANIZATION_FIELDS}
        if "severity" in known:
            known["severity"] = Severity(known["severity"])
        settings = replace(settings, **known)
    return settings


async def settings_for(
    session: AsyncSession, organization_id: uuid.UUID, store_id: uuid.UUID | None, rule: Rule
) -> RuleSettings:
    """The rule's settings for this organization and store."""
    rows = await repository.rule_overrides(session, organization_id, rule.name, store_id)
    return overridden(rule, rows, store_id)


def overridden(
    rule: Rule, rows: Iterable[AlertRuleOverride], store_id: uuid.UUID | None
) -> RuleSettings:
    """The rule's settings under one organization's override rows of it: the organization's
    row, then the store's (only the fields a store may set); other stores' rows are ignored."""
    rows = list(rows)
    organization = [row.settings for row in rows if row.store_id is None]
    store = [
        {k: v for k, v in row.settings.items() if k in STORE_FIELDS}
        for row in rows
        if row.store_id is not None and row.store_id == store_id
    ]
    return resolve(rule, *organization, *store)


def condition_met(rule: Rule, settings: RuleSettings, figure: float | None) -> bool:
    """Whether `figure` meets the rule's threshold (no threshold or no figure: it does)."""
    if settings.threshold is None or figure is None:
        return True
    if rule.fires_when == "at_most":
        return figure <= settings.threshold
    return figure >= settings.threshold
