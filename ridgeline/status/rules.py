"""How each component's status follows from what Ridgeline sees (docs/status-page.md#rules).

Pure functions of an `Observations` snapshot (status/observe.py gathers it): each returns a
`Finding` with the status, a public reason (shares and counts, never a store) and the figures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ridgeline.models.status import ComponentStatus
from ridgeline.status.components import (
    API,
    CATALOG_SYNC,
    COMPONENTS,
    ORDER_SUBMISSION,
    REALTIME,
    ComponentSpec,
    worse,
)

OPERATIONAL = ComponentStatus.OPERATIONAL
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE
PARTIAL = ComponentStatus.PARTIAL_OUTAGE
MAJOR = ComponentStatus.MAJOR_OUTAGE

# Shares of the judged stores at which a fleet condition becomes each status.
SHARE_MAJOR = 0.5
SHARE_PARTIAL = 0.2
SHARE_DEGRADED = 0.05
# API: judged only from this many requests in the monitors' 5-minute windows.
API_MIN_REQUESTS = 50
API_ERROR_MAJOR = 0.25
API_ERROR_PARTIAL = 0.05
API_ERROR_DEGRADED = 0.01
API_P95_DEGRADED_S = 2.5
# Background work: the job due longest ago that no worker has started.
BACKLOG_PARTIAL_S = 600.0
BACKLOG_DEGRADED_S = 120.0
# An order not yet accepted by an answering POS after this long counts as stuck.
ORDER_STUCK_S = 300.0

# Firing platform alerts (alerts/rules.py) and the least status each puts a component in.
PLATFORM_ALERTS: dict[str, tuple[tuple[str, ComponentStatus], ...]] = {
    "api_error_rate": ((API, PARTIAL),),
    "api_latency_p95": ((API, DEGRADED),),
    "event_loop_lag": ((API, DEGRADED), (REALTIME, DEGRADED)),
    "process_cpu": ((API, DEGRADED),),
    "process_memory": ((API, DEGRADED),),
    "job_backlog": ((CATALOG_SYNC, DEGRADED), (ORDER_SUBMISSION, DEGRADED)),
}


@dataclass(frozen=True, slots=True)
class VendorStores:
    """A POS vendor's stores by how their connection stands. `own_fault` are stores down for
    a reason of their own (credentials refused, breaker forced open by an operator): they do
    not count against the vendor."""

    total: int = 0
    connected: int = 0
    degraded: int = 0
    down: int = 0  # error or offline
    own_fault: int = 0


@dataclass(frozen=True, slots=True)
class ProcessView:
    """A live API process's published figures (monitoring/performance.py)."""

    requests: int
    errors: int
    p95_s: float | None
    backplane: str | None  # "memory" | "redis"; None: the report predates the field
    backplane_connected: bool | None


@dataclass(frozen=True, slots=True)
class Observations:
    vendors: dict[str, VendorStores] = field(default_factory=dict)
    # Stores whose POS answers (connected or degraded): the population of catalog and orders.
    answering_stores: int = 0
    sync_failing_stores: int = 0  # answering, but the catalog is stale or its syncs fail
    order_stuck_stores: int = 0  # answering, but an order waits longer than ORDER_STUCK_S
    oldest_due_job_s: float | None = None
    processes: tuple[ProcessView, ...] = ()
    firing_platform_alerts: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Finding:
    status: ComponentStatus
    reason: str
    evidence: dict[str, Any]


def evaluate_all(observed: Observations) -> dict[str, Finding]:
    """Every component's finding."""
    findings: dict[str, Finding] = {}
    for spec in COMPONENTS:
        finding = _RULES[spec.key](observed) if spec.vendor is None else _vendor(observed, spec)
        findings[spec.key] = _with_alerts(spec.key, finding, observed.firing_platform_alerts)
    return findings


def by_share(share: float) -> ComponentStatus:
    if share >= SHARE_MAJOR:
        return MAJOR
    if share >= SHARE_PARTIAL:
        return PARTIAL
    if share >= SHARE_DEGRADED:
        return DEGRADED
    return OPERATIONAL


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _vendor(observed: Observations, spec: ComponentSpec) -> Finding:
    assert spec.vendor is not None
    stores = observed.vendors.get(spec.vendor, VendorStores())
    judged = stores.total - stores.own_fault
    evidence: dict[str, Any] = {
        "stores": stores.total,
        "judged": judged,
        "connected": stores.connected,
        "degraded": stores.degraded,
        "down": stores.down,
        "own_fault": stores.own_fault,
    }
    if judged <= 0:
        return Finding(OPERATIONAL, "No store on this POS to judge.", evidence)
    down_share = stores.down / judged
    troubled_share = (stores.down + stores.degraded) / judged
    status = by_share(down_share)
    if status is OPERATIONAL and troubled_share >= SHARE_PARTIAL:
        status = DEGRADED
    evidence |= {"down_share": round(down_share, 4), "troubled_share": round(troubled_share, 4)}
    if status is OPERATIONAL:
        return Finding(status, "Stores on this POS reach it normally.", evidence)
    return Finding(
        status,
        f"{_percent(down_share)} of stores on this POS cannot reach it; "
        f"{_percent(troubled_share)} see errors or slow answers.",
        evidence,
    )


def _backlog(observed: Observations) -> tuple[ComponentStatus, str | None]:
    waited = observed.oldest_due_job_s
    if waited is None or waited < BACKLOG_DEGRADED_S:
        return OPERATIONAL, None
    status = PARTIAL if waited >= BACKLOG_PARTIAL_S else DEGRADED
    return status, f"background work is {waited / 60:.0f} minutes behind"


def _store_share(
    affected: int, observed: Observations, what: str, fine: str
) -> tuple[ComponentStatus, str, dict[str, Any]]:
    judged = observed.answering_stores
    share = affected / judged if judged else 0.0
    status = by_share(share)
    backlog_status, backlog_reason = _backlog(observed)
    evidence = {
        "answering_stores": judged,
        "affected_stores": affected,
        "share": round(share, 4),
        "oldest_due_job_s": observed.oldest_due_job_s,
    }
    reasons = [f"{_percent(share)} of stores {what}"] if status is not OPERATIONAL else []
    if backlog_reason is not None:
        reasons.append(backlog_reason)
    status = worse(status, backlog_status)
    reason = "; ".join(reasons).capitalize() + "." if reasons else fine
    return status, reason, evidence


def _catalog_sync(observed: Observations) -> Finding:
    status, reason, evidence = _store_share(
        observed.sync_failing_stores,
        observed,
        "whose POS answers have a stale catalog or failing syncs",
        "Catalogs are current.",
    )
    return Finding(status, reason, evidence)


def _order_submission(observed: Observations) -> Finding:
    status, reason, evidence = _store_share(
        observed.order_stuck_stores,
        observed,
        f"whose POS answers have an order waiting over {ORDER_STUCK_S / 60:.0f} minutes",
        "Orders reach the POS normally.",
    )
    return Finding(status, reason, evidence)


def _api(observed: Observations) -> Finding:
    requests = sum(p.requests for p in observed.processes)
    errors = sum(p.errors for p in observed.processes)
    p95s = [p.p95_s for p in observed.processes if p.p95_s is not None and p.requests]
    worst_p95 = max(p95s) if p95s else None
    evidence: dict[str, Any] = {
        "processes": len(observed.processes),
        "requests": requests,
        "errors": errors,
        "worst_p95_s": worst_p95,
    }
    if requests < API_MIN_REQUESTS:
        return Finding(OPERATIONAL, "Too few requests in the last 5 minutes to judge.", evidence)
    rate = errors / requests
    evidence["error_rate"] = round(rate, 4)
    if rate >= API_ERROR_MAJOR:
        status = MAJOR
    elif rate >= API_ERROR_PARTIAL:
        status = PARTIAL
    elif rate >= API_ERROR_DEGRADED:
        status = DEGRADED
    else:
        status = OPERATIONAL
    reasons = [f"{rate * 100:.1f}% of requests fail"] if status is not OPERATIONAL else []
    if worst_p95 is not None and worst_p95 >= API_P95_DEGRADED_S:
        status = worse(status, DEGRADED)
        reasons.append(f"the slowest 5% of requests take over {worst_p95:.1f} s")
    if not reasons:
        return Finding(status, "Requests succeed at their usual speed.", evidence)
    return Finding(status, "; ".join(reasons).capitalize() + ".", evidence)


def _realtime(observed: Observations) -> Finding:
    scaled = [p for p in observed.processes if p.backplane == "redis"]
    cut_off = sum(1 for p in scaled if p.backplane_connected is False)
    evidence = {"processes": len(observed.processes), "backplane_disconnected": cut_off}
    if cut_off == 0:
        return Finding(OPERATIONAL, "Changes reach kiosks as they happen.", evidence)
    status = PARTIAL if cut_off == len(scaled) else DEGRADED
    return Finding(
        status,
        "Changes reach kiosks late: servers have lost their link to each other and catch up by "
        "polling.",
        evidence,
    )


def _with_alerts(key: str, finding: Finding, firing: frozenset[str]) -> Finding:
    raised_by = [
        rule
        for rule in sorted(firing)
        for component, _ in PLATFORM_ALERTS.get(rule, ())
        if component == key
    ]
    if not raised_by:
        return finding
    status = finding.status
    for rule in raised_by:
        for component, least in PLATFORM_ALERTS[rule]:
            if component == key:
                status = worse(status, least)
    evidence = finding.evidence | {"platform_alerts": raised_by}
    if status is finding.status:
        return Finding(status, finding.reason, evidence)
    return Finding(status, "Ridgeline's own monitoring reports a problem.", evidence)


_RULES: dict[str, Callable[[Observations], Finding]] = {
    API: _api,
    REALTIME: _realtime,
    CATALOG_SYNC: _catalog_sync,
    ORDER_SUBMISSION: _order_submission,
}
