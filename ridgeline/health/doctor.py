"""`ridgeline doctor`: the troubleshooting guide's checks for one store, in its order, each with
a verdict and, for what is wrong, the fix (the endpoint or command that performs it).

Verdicts: `pass`; `warn` for what deserves a look but breaks nothing kiosks or orders rely on
(some stock moved since the last inventory sync, quarantined records, no kiosk online, the POS
slow or throttling, rate-limit headroom under 20%); `fail` for what is broken; `skip` when a check
cannot run (it says why, usually an earlier failure). A store is healthy when no check fails.

The doctor acts as the system, like the rest of the CLI, and calls the POS as an operator would:
the connection test (credentials the POS refused included) and the reconciliation go through the
resilient client, so they are recorded in `pos_calls` and counted by the breaker. The real-time
round trip issues the kiosk a key valid for 120 s, connects to the server's `/cable` as that kiosk
(which counts as the kiosk being seen), commits one `kiosk.command` `doctor_ping` to its stream,
times its arrival, and revokes the key.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from pydantic import BaseModel
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from ridgeline.auth import kiosk_keys
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosReadFailed, ValidationFailed
from ridgeline.health import repository
from ridgeline.health.procedures import Step, procedure_for, render
from ridgeline.health.reports import KIOSK_ONLINE_WITHIN, ensure_health
from ridgeline.health.service import catalog_stale
from ridgeline.health.state import HealthCause, HealthThresholds
from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.models.kiosk import Kiosk, KioskStatus
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState, SyncKind, SyncRun, SyncStatus
from ridgeline.orders.queue import STRANDED_AFTER
from ridgeline.pos import service as pos_service
from ridgeline.pos.base import PosConfig
from ridgeline.pos.capabilities import PosAdapter
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnreadable, CredentialsUnusable
from ridgeline.realtime import streams
from ridgeline.realtime.protocol import PROTOCOL_JSON
from ridgeline.stores import repository as stores_repository
from ridgeline.stores.service import get_store
from ridgeline.sync.mapping import parse_field_mapping
from ridgeline.sync.reconcile import reconcile

log = structlog.get_logger(__name__)

SYSTEM = TenantScope.everything()
CHECKS = (
    "credentials",
    "pos_reachable",
    "rate_limit_headroom",
    "breaker",
    "last_syncs",
    "quarantined_records",
    "field_mapping",
    "catalog_staleness",
    "discrepancies",
    "kiosks",
    "realtime_round_trip",
    "orders",
)
EXPIRY_WARNING = timedelta(days=7)
RATE_WINDOW_S = 60.0  # calls counted for the headroom (longer if a vendor's period is)
RATE_WARN_SHARE = 0.8
THROTTLE_WINDOW = timedelta(seconds=300)
DISCREPANCY_SAMPLE = 20
DISCREPANCY_LABELS = {
    "price_differences": "price(s) differ",
    "missing_in_catalog": "product(s) missing from our catalog",
    "missing_in_pos": "product(s) gone from the POS",
    "stock_differences": "stock level(s) differ",
}
ISSUE_SAMPLE = 5
STUCK_AFTER = timedelta(minutes=5)  # waiting longer than this: stuck, whatever the reason
LEASE_OVERDUE = timedelta(seconds=60)  # a submit lease this far past: its attempt died
ORDERS_READ = 200
ORDER_SAMPLE = 10
DOCTOR_KEY_LIFETIME_S = 120
ROUND_TRIP_TIMEOUT_S = 10.0


class Verdict(StrEnum):
    PASS = "pass"  # noqa: S105 - a verdict, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    verdict: Verdict
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    fix: str | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    verdict: Verdict
    summary: str
    detail: dict[str, Any]
    fix: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "summary": self.summary,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class StoreReport:
    store_id: uuid.UUID
    store_name: str
    state: str  # the store's connection state once the checks ran
    cause: str
    checked_at: datetime
    checks: tuple[CheckResult, ...]

    @property
    def healthy(self) -> bool:
        return all(check.verdict is not Verdict.FAIL for check in self.checks)

    def check(self, name: str) -> CheckResult:
        return next(check for check in self.checks if check.name == name)

    def as_json(self) -> dict[str, Any]:
        return {
            "store_id": str(self.store_id),
            "store_name": self.store_name,
            "healthy": self.healthy,
            "state": self.state,
            "cause": self.cause,
            "checked_at": self.checked_at.isoformat(),
            "checks": [check.as_json() for check in self.checks],
        }


@dataclass
class _Exam:
    """What one examination of a store has learned so far."""

    store: Store
    scope: TenantScope
    sync_state: StoreSyncState | None
    thresholds: HealthThresholds
    results: dict[str, CheckResult] = field(default_factory=dict)
    adapter_class: type[PosAdapter[Any]] | None = None
    config: PosConfig | None = None
    last_runs: list[SyncRun] = field(default_factory=list)
    online: list[Kiosk] = field(default_factory=list)

    def passed(self, name: str) -> bool:
        result = self.results.get(name)
        return result is not None and result.verdict in (Verdict.PASS, Verdict.WARN)


class RoundTripFailed(Exception):
    pass


Progress = Callable[[str, int, int], None]  # check name, its index, how many


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _ago(now: datetime, at: datetime) -> str:
    seconds = max(0, round((now - at).total_seconds()))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _steps(cause: HealthCause, store_id: uuid.UUID, *names: str) -> str:
    """The named steps of the cause's recovery procedure (procedures.py) as one fix."""
    steps: list[Step] = [s for s in procedure_for(cause).steps if not names or s.name in names]
    return "; then ".join(f"{step.title}: {render(step, store_id)}" for step in steps)


def _example(entry: BaseModel) -> str:
    """One discrepancy in a few words: which product, ours against the POS's."""
    seen = entry.model_dump()
    what = seen["external_id"] + (
        f"/{seen['variant_external_id']}" if seen.get("variant_external_id") else ""
    )
    if "ours_cents" in seen:
        return f"e.g. {what}: ours {seen['ours_cents']} cents, POS {seen['pos_cents']}"
    if "ours" in seen:
        return f"e.g. {what}: ours {seen['ours']}, POS {seen['pos']}"
    return f"e.g. {what} {seen['name']!r}"


def cable_urls(server_url: str) -> tuple[str, str]:
    """(http base, ws `/cable` URL) of a server, from http(s):// or ws(s)://."""
    parts = urlsplit(server_url if "://" in server_url else f"http://{server_url}")
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    http = urlunsplit((scheme, parts.netloc, "", "", "")).rstrip("/")
    return http, urlunsplit(("wss" if scheme == "https" else "ws", parts.netloc, "/cable", "", ""))


class Doctor:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        connector: PosConnector,
        clock: Clock,
        *,
        server_url: str | None = None,
        round_trip_timeout_s: float = ROUND_TRIP_TIMEOUT_S,
    ) -> None:
        self.database = database
        self.connector = connector
        self.clock = clock
        self.server_url = cable_urls(server_url or settings.public_base_url)[0]
        self.round_trip_timeout_s = round_trip_timeout_s

    async def store_ids(self) -> list[uuid.UUID]:
        """Every store, by name (`--all`)."""
        async with self.database.transaction(write=False) as session:
            stores = await session.scalars(stores_repository.stores(SYSTEM).order_by(Store.name))
            return [store.id for store in stores]

    async def examine(
        self, store_id: uuid.UUID, *, progress: Progress | None = None
    ) -> StoreReport:
        """Every check in order; `NotFound` when there is no such store."""
        async with self.database.transaction(write=False) as session:
            store = await get_store(session, SYSTEM, store_id)
            scope = TenantScope(
                organization_id=store.organization_id, store_ids=frozenset({store.id})
            )
            sync_state = await repository.sync_state(session, store.id)
            row = await repository.health_of(session, scope, store.id)
        thresholds = HealthThresholds.for_store(row.thresholds if row is not None else None)
        exam = _Exam(store, scope, sync_state, thresholds)
        checks: Sequence[tuple[str, Callable[[_Exam], Awaitable[Finding]]]] = [
            (name, getattr(self, f"_{name}")) for name in CHECKS
        ]
        for index, (name, check) in enumerate(checks):
            if progress is not None:
                progress(name, index, len(checks))
            try:
                finding = await check(exam)
            except Exception as exc:  # one check's bug must not hide the others' findings
                log.exception("doctor_check_crashed", check=name, store_id=str(store.id))
                finding = Finding(Verdict.FAIL, f"the check could not run: {exc!r}")
            exam.results[name] = CheckResult(
                name, finding.verdict, finding.summary, finding.detail, finding.fix
            )
        async with self.database.transaction() as session:
            health = await ensure_health(session, store, self.clock.now())
        return StoreReport(
            store_id=store.id,
            store_name=store.name,
            state=health.state.value,
            cause=health.cause,
            checked_at=self.clock.now(),
            checks=tuple(exam.results[name] for name in CHECKS),
        )

    # --- the POS connection ----------------------------------------------------------------

    async def _credentials(self, exam: _Exam) -> Finding:
        store, now = exam.store, self.clock.now()
        save = f"PUT /api/v1/stores/{store.id}/pos"
        if store.pos_provider is None or store.pos_config_encrypted is None:
            return Finding(Verdict.FAIL, "no POS is configured", fix=f"{save} (provider, settings)")
        try:
            adapter_class, config = pos_service.stored_config(store, self.connector.cipher)
        except CredentialsUnreadable as exc:
            fix = f"{pos_service.unreadable_credentials_result().message} ({save})"
            return Finding(Verdict.FAIL, str(exc), {"provider": store.pos_provider}, fix)
        exam.adapter_class, exam.config = adapter_class, config
        expires = next(
            (v for n, v in config if n.endswith("expires_at") and isinstance(v, datetime)), None
        )
        detail = {
            "provider": store.pos_provider,
            "base_url": config.base_url,
            "configured_at": _iso(store.pos_config_updated_at),
            "refused_at": _iso(store.pos_credentials_refused_at),
            "expires_at": _iso(expires),
        }
        if store.pos_credentials_refused_at is not None:
            when = store.pos_credentials_refused_at.isoformat()
            fix = _steps(
                HealthCause.CREDENTIALS_REFUSED, store.id, "regenerate", "update_credentials"
            )
            return Finding(
                Verdict.FAIL, f"the POS refused these credentials at {when}", detail, fix
            )
        if expires is not None and expires <= now + EXPIRY_WARNING:
            verdict = Verdict.FAIL if expires <= now else Verdict.WARN
            fix = f"regenerate them in the POS's back office and save them: {save}"
            return Finding(verdict, f"the credentials expire at {expires.isoformat()}", detail, fix)
        lasts = f"expire at {expires.isoformat()}" if expires else "no expiry is known for them"
        return Finding(
            Verdict.PASS, f"{store.pos_provider} credentials readable, not refused; {lasts}", detail
        )

    async def _pos_reachable(self, exam: _Exam) -> Finding:
        store = exam.store
        if exam.adapter_class is None or exam.config is None:
            return Finding(Verdict.SKIP, "no usable credentials to test (see credentials)")
        adapter = self.connector.adapter_for(store, refused_ok=True)
        result = await pos_service.run_connection_test(adapter)
        detail = {
            "diagnosis": result.diagnosis,
            "message": result.message,
            "latency_ms": result.duration_ms,
            "location": result.location_name,
        }
        if result.ok:
            if result.duration_ms > exam.thresholds.slow_call_ms:
                summary = f"answered slowly, in {result.duration_ms:.0f} ms"
                return Finding(
                    Verdict.WARN, summary, detail, _steps(HealthCause.SLOW_CALLS, store.id)
                )
            summary = f"answered in {result.duration_ms:.0f} ms ({result.location_name})"
            return Finding(Verdict.PASS, summary, detail)
        refused = _steps(
            HealthCause.CREDENTIALS_REFUSED, store.id, "regenerate", "update_credentials"
        )
        fixes = {
            "bad_credentials": "see credentials" if store.pos_credentials_refused_at else refused,
            "unreachable": f"check the network, the vendor's status page and base_url "
            f"{exam.config.base_url}; then POST /api/v1/stores/{store.id}/pos/test",
            "circuit_open": "the breaker holds calls (see breaker); recovery retries by itself, "
            f"or now: POST /api/v1/stores/{store.id}/recovery",
            "rate_limited": _steps(HealthCause.RATE_LIMITED, store.id),
        }
        fix = fixes.get(
            result.diagnosis,
            "the POS answers but fails: check the vendor's status page; the failing calls: "
            f"GET /api/v1/stores/{store.id}/pos (send them to the vendor if it persists)",
        )
        verdict = Verdict.WARN if result.diagnosis == "rate_limited" else Verdict.FAIL
        return Finding(verdict, f"{result.diagnosis}: {result.message}", detail, fix)

    async def _rate_limit_headroom(self, exam: _Exam) -> Finding:
        if exam.adapter_class is None:
            return Finding(Verdict.SKIP, "no POS adapter to take limits from (see credentials)")
        limits, now = exam.adapter_class.rate_limits, self.clock.now()
        window_s = max(RATE_WINDOW_S, *(limit.period_s for limit in limits.buckets.values()))
        async with self.database.transaction(write=False) as session:
            recent = await repository.call_counts_since(
                session, exam.store.id, now - timedelta(seconds=window_s)
            )
            throttled = await repository.call_counts_since(
                session, exam.store.id, now - THROTTLE_WINDOW
            )
        calls = dict.fromkeys(limits.buckets, 0)
        for (endpoint, outcome), count in recent.items():
            if outcome != "CIRCUIT_OPEN":  # refused by the breaker: never sent
                calls[limits.bucket_for(endpoint)[0]] += count
        usage = {
            name: calls[name] * limit.period_s / window_s / limit.limit
            for name, limit in limits.buckets.items()
        }
        answered_429 = sum(
            n for (_, outcome), n in throttled.items() if outcome == "POS_RATE_LIMITED"
        )
        busiest = max(usage, key=lambda name: usage[name])
        limit = limits.buckets[busiest]
        detail = {
            "window_s": window_s,
            "answered_429_in_300_s": answered_429,
            "buckets": {
                name: {
                    "limit": b.limit,
                    "period_s": b.period_s,
                    "calls": calls[name],
                    "usage": round(usage[name], 3),
                }
                for name, b in limits.buckets.items()
            },
        }
        summary = (
            f"busiest limit {busiest!r}: {calls[busiest]} calls in the last {window_s:g} s, "
            f"{usage[busiest]:.0%} of {limit.limit} per {limit.period_s:g} s; "
            f"{answered_429} answers 429 in 5 min"
        )
        if usage[busiest] > RATE_WARN_SHARE or answered_429:
            return Finding(
                Verdict.WARN, summary, detail, _steps(HealthCause.RATE_LIMITED, exam.store.id)
            )
        return Finding(Verdict.PASS, summary, detail)

    async def _breaker(self, exam: _Exam) -> Finding:
        store = exam.store
        if exam.adapter_class is None:
            return Finding(Verdict.SKIP, "no POS configured (see credentials)")
        view = await self.connector.breaker_view(store.id)
        detail = view.model_dump(mode="json")
        state = CircuitState(view.state)
        rate = "too few to rate" if view.failure_rate is None else f"{view.failure_rate:.0%} failed"
        if state is CircuitState.CLOSED:
            summary = f"closed; {view.calls_in_window} calls in its window, {rate}"
            return Finding(Verdict.PASS, summary, detail)
        if state is CircuitState.DISABLED:
            fix = (
                f"when done diagnosing: POST /api/v1/stores/{store.id}/pos/breaker "
                '{"action": "reset"}'
            )
            return Finding(
                Verdict.WARN, "disabled by an operator: calls pass uncounted", detail, fix
            )
        if state is CircuitState.FORCED_OPEN:
            fix = _steps(HealthCause.BREAKER_FORCED_OPEN, store.id, "reset_breaker")
            return Finding(Verdict.FAIL, f"forced open by {view.last_actor}", detail, fix)
        until = f" until {view.open_until.isoformat()}" if view.open_until else ""
        summary = f"{state.value}{until} ({view.last_reason}); {view.calls_in_window} calls, {rate}"
        probe = f"at {view.open_until.isoformat()}" if view.open_until else "soon"
        fix = (
            f"it lets a probe through {probe} and recovery runs by itself; "
            f"to recover now: POST /api/v1/stores/{store.id}/recovery"
        )
        return Finding(Verdict.FAIL, summary, detail, fix)

    # --- syncs and the catalog -------------------------------------------------------------

    async def _last_syncs(self, exam: _Exam) -> Finding:
        store = exam.store
        async with self.database.transaction(write=False) as session:
            runs = await repository.latest_sync_runs(session, exam.scope, store.id, limit=50)
        finished = [run for run in runs if run.status is not SyncStatus.RUNNING]
        latest = {
            "catalog": next((r for r in finished if r.kind is not SyncKind.INVENTORY), None),
            "inventory": next((r for r in finished if r.kind is SyncKind.INVENTORY), None),
        }
        exam.last_runs = [run for run in latest.values() if run is not None]
        detail: dict[str, Any] = {
            label: None
            if run is None
            else {
                "id": str(run.id),
                "kind": run.kind.value,
                "status": run.status.value,
                "finished_at": _iso(run.finished_at),
                "error": run.error,
            }
            for label, run in latest.items()
        }
        detail["running"] = [run.kind.value for run in runs if run.status is SyncStatus.RUNNING]
        failed = [
            (label, run) for label, run in latest.items() if run and run.status is SyncStatus.FAILED
        ]
        if failed:
            label = failed[0][0]
            flag = " --inventory" if label == "inventory" else ""
            fix = (
                f"read the errors: GET /api/v1/stores/{store.id}/sync-runs?status=failed; "
                f"remove their cause, then sync again: ridgeline sync {store.id}{flag}"
            )
            summary = "; ".join(f"the last {lb} sync failed: {r.error}" for lb, r in failed)
            return Finding(Verdict.FAIL, summary, detail, fix)
        never = [label for label, run in latest.items() if run is None]
        if never:
            fix = f"ridgeline sync {store.id} --full, then ridgeline sync {store.id} --inventory"
            return Finding(Verdict.WARN, f"no {' or '.join(never)} sync has run yet", detail, fix)
        now = self.clock.now()
        summary = "; ".join(
            f"{label} {run.status.value} {_ago(now, run.finished_at or run.started_at)} ago"
            for label, run in latest.items()
            if run is not None
        )
        return Finding(Verdict.PASS, summary, detail)

    async def _quarantined_records(self, exam: _Exam) -> Finding:
        store = exam.store
        if not exam.last_runs:
            return Finding(Verdict.SKIP, "no finished sync run to look at")
        async with self.database.transaction(write=False) as session:
            count, sample = await repository.issues_of_runs(
                session,
                exam.scope,
                store.id,
                [run.id for run in exam.last_runs],
                limit=ISSUE_SAMPLE,
            )
        detail = {
            "count": count,
            "sample": [
                {"external_id": issue.external_id, "reason": issue.reason} for issue in sample
            ],
        }
        if count:
            fix = (
                f"each with its raw record and why: GET /api/v1/stores/{store.id}/sync-issues; "
                "correct the record at the POS, or the field mapping "
                f"(PUT /api/v1/stores/{store.id}/sync-state)"
            )
            return Finding(
                Verdict.WARN, f"{count} record(s) quarantined by the last syncs", detail, fix
            )
        return Finding(Verdict.PASS, "none in the last catalog and inventory syncs", detail)

    async def _field_mapping(self, exam: _Exam) -> Finding:
        raw = exam.sync_state.field_mapping if exam.sync_state is not None else {}
        try:
            mapping = parse_field_mapping(raw)
        except ValidationFailed as exc:
            errors = exc.details.get("fields", [])
            fix = (
                f"store a valid one: PUT /api/v1/stores/{exam.store.id}/sync-state "
                '{"field_mapping": ...}; catalog syncs fail until then'
            )
            summary = f"the stored field mapping is not valid ({len(errors)} problem(s))"
            return Finding(Verdict.FAIL, summary, {"errors": errors}, fix)
        detail = {"category": len(mapping.category), "brand": len(mapping.brand)}
        summary = (
            f"valid: {len(mapping.category)} category and {len(mapping.brand)} brand override(s)"
        )
        return Finding(Verdict.PASS, summary, detail)

    async def _catalog_staleness(self, exam: _Exam) -> Finding:
        state, now = exam.sync_state, self.clock.now()
        last = state.last_success_at if state is not None else None
        detail = {
            "last_success_at": _iso(last),
            "stale_after_s": state.stale_after_s if state is not None else None,
            "next_catalog_sync_at": _iso(state.next_catalog_sync_at) if state is not None else None,
        }
        fix = f"sync now: ridgeline sync {exam.store.id} (if it fails, see last_syncs)"
        if state is None or last is None:
            return Finding(Verdict.FAIL, "never synced: kiosks have no catalog", detail, fix)
        stale = catalog_stale(state, now)
        summary = (
            f"{'stale' if stale else 'fresh'}: last successful sync {_ago(now, last)} ago "
            f"(stale after {state.stale_after_s} s)"
        )
        return Finding(
            Verdict.FAIL if stale else Verdict.PASS, summary, detail, fix if stale else None
        )

    async def _discrepancies(self, exam: _Exam) -> Finding:
        store = exam.store
        if not exam.passed("pos_reachable"):
            return Finding(Verdict.SKIP, "the POS did not pass the connection test")
        if store.pos_credentials_refused_at is not None:
            return Finding(
                Verdict.SKIP, "the POS refused the credentials: nothing reads it with them"
            )
        try:
            found = await reconcile(
                self.database, self.connector, exam.scope, store.id, clock=self.clock
            )
        except CredentialsUnusable as exc:
            return Finding(Verdict.SKIP, f"the credentials cannot be used: {exc}")
        except PosReadFailed as exc:
            fix = f"see the latest calls: GET /api/v1/stores/{store.id}/pos"
            return Finding(
                Verdict.FAIL, f"the POS could not be read: {exc.details.get('reason')}", fix=fix
            )
        lists: dict[str, Sequence[BaseModel]] = {
            "price_differences": found.price_differences,
            "missing_in_catalog": found.missing_in_catalog,
            "missing_in_pos": found.missing_in_pos,
            "stock_differences": found.stock_differences,
        }
        counts = {name: len(entries) for name, entries in lists.items()}
        sample: list[dict[str, Any]] = []
        for name, entries in lists.items():
            for entry in entries[: DISCREPANCY_SAMPLE - len(sample)]:
                sample.append({"kind": name, **entry.model_dump(mode="json")})
        detail = {
            "pos_products": found.pos_products,
            "catalog_products": found.catalog_products,
            **counts,
            "sample": sample,
        }
        of = f"{found.catalog_products} products in our catalog, {found.pos_products} at the POS"
        described = "; ".join(
            f"{n} {DISCREPANCY_LABELS[name]}" + (" (" + _example(entries[0]) + ")")
            for name, entries in lists.items()
            if (n := len(entries))
        )
        if counts["price_differences"] or counts["missing_in_catalog"] or counts["missing_in_pos"]:
            fix = (
                f"sync now: ridgeline sync {store.id} --full; a difference that outlives a sync "
                f"points at the field mapping or quarantined records "
                f"(GET /api/v1/stores/{store.id}/sync-issues)"
            )
            return Finding(Verdict.FAIL, f"{described}; {of}", detail, fix)
        if counts["stock_differences"]:
            fix = (
                "stock moves with each sale until the next inventory sync; now: "
                f"ridgeline sync {store.id} --inventory"
            )
            return Finding(Verdict.WARN, f"{described}; {of}", detail, fix)
        return Finding(Verdict.PASS, f"none: prices, products and stock match ({of})", detail)

    # --- kiosks and real time --------------------------------------------------------------

    async def _kiosks(self, exam: _Exam) -> Finding:
        now = self.clock.now()
        async with self.database.transaction(write=False) as session:
            kiosks = await repository.kiosks_of(session, exam.scope, exam.store.id)
        if not kiosks:
            return Finding(Verdict.SKIP, "the store has no kiosks")

        def online(kiosk: Kiosk) -> bool:
            seen = kiosk.last_seen_at
            return (
                kiosk.status is KioskStatus.ACTIVE
                and seen is not None
                and now - seen <= KIOSK_ONLINE_WITHIN
            )

        exam.online = sorted(
            (k for k in kiosks if online(k)), key=lambda k: k.last_seen_at or now, reverse=True
        )
        detail = {
            "kiosks": [
                {
                    "id": str(k.id),
                    "name": k.name,
                    "status": k.status.value,
                    "online": online(k),
                    "last_seen_at": _iso(k.last_seen_at),
                    "app_version": k.app_version,
                }
                for k in kiosks
            ]
        }
        heartbeats = [k.last_seen_at for k in kiosks if k.last_seen_at is not None]
        last = f"last heartbeat {_ago(now, max(heartbeats))} ago" if heartbeats else "never seen"
        offline = [k.name for k in kiosks if not online(k)]
        summary = f"{len(exam.online)} of {len(kiosks)} online (heartbeat within 90 s); {last}"
        if offline:
            summary += f"; offline: {', '.join(offline)}"
        if not exam.online:
            fix = (
                "check the kiosks' power, network and app; then a kiosk's /cable path: "
                f"ridgeline cable-check {self.server_url} --key <its key>"
            )
            return Finding(Verdict.WARN, summary, detail, fix)
        return Finding(Verdict.PASS, summary, detail)

    async def _realtime_round_trip(self, exam: _Exam) -> Finding:
        if not exam.online:
            return Finding(Verdict.SKIP, "no kiosk connected in the last 90 s to deliver to")
        kiosk = exam.online[0]
        _, ws_url = cable_urls(self.server_url)
        detail: dict[str, Any] = {"kiosk_id": str(kiosk.id), "kiosk": kiosk.name, "url": ws_url}
        async with self.database.transaction() as session:
            key = await kiosk_keys.issue_key(
                session,
                exam.scope,
                kiosk.id,
                KioskKeyCreate(expires_in_s=DOCTOR_KEY_LIFETIME_S),
                now=self.clock.now(),
            )
        try:
            latency_ms = await self._deliver(ws_url, key.key, kiosk.id)
        except RoundTripFailed as exc:
            fix = (
                f"check the /cable path: ridgeline cable-check {self.server_url} --key <a kiosk's "
                'key> (docs/operations.md, "Kiosks get no real-time updates")'
            )
            return Finding(Verdict.FAIL, str(exc), detail, fix)
        finally:
            async with self.database.transaction() as session:
                await kiosk_keys.revoke_key(
                    session, exam.scope, kiosk.id, key.id, now=self.clock.now()
                )
        detail["latency_ms"] = round(latency_ms, 1)
        summary = f"doctor_ping reached {kiosk.name}'s channel in {latency_ms:.0f} ms"
        return Finding(Verdict.PASS, summary, detail)

    async def _deliver(self, ws_url: str, key: str, kiosk_id: uuid.UUID) -> float:
        """Connects as the kiosk, commits a `doctor_ping` to its stream and returns the
        milliseconds from the commit to its arrival; `RoundTripFailed` says where it stopped."""
        timeout = self.round_trip_timeout_s
        try:
            socket = await connect(
                f"{ws_url}?token={key}",
                subprotocols=[Subprotocol(PROTOCOL_JSON)],
                open_timeout=timeout,
            )
        except InvalidStatus as exc:
            raise RoundTripFailed(
                f"{ws_url} refused the handshake: HTTP {exc.response.status_code}"
            ) from None
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise RoundTripFailed(
                f"cannot connect to {ws_url}: {type(exc).__name__}: {exc}"
            ) from None
        step = "welcome"
        try:
            async with asyncio.timeout(timeout):
                await _expect(socket, "welcome")
                step = "KioskChannel subscription"
                identifier = json.dumps({"channel": "KioskChannel"})
                await socket.send(json.dumps({"command": "subscribe", "identifier": identifier}))
                await _expect(socket, "confirm_subscription")
            nonce = uuid.uuid4().hex
            ping = {"command_id": str(uuid.uuid4()), "command": "doctor_ping", "nonce": nonce}
            async with self.database.transaction() as session:
                stream = streams.kiosk_stream(kiosk_id)
                await streams.append(session, stream, "kiosk.command", ping, at=self.clock.now())
            committed = time.perf_counter()
            step = "doctor_ping delivery"
            async with asyncio.timeout(timeout):
                while True:
                    frame = await _frame(socket)
                    message = frame.get("message")
                    got = message.get("data") if isinstance(message, dict) else None
                    if isinstance(got, dict) and got.get("nonce") == nonce:
                        return (time.perf_counter() - committed) * 1000
        except TimeoutError:
            raise RoundTripFailed(f"no {step} within {timeout:g} s from {ws_url}") from None
        except WebSocketException as exc:
            raise RoundTripFailed(f"{ws_url} closed during the {step}: {exc}") from None
        finally:
            await socket.close()

    # --- orders ----------------------------------------------------------------------------

    async def _orders(self, exam: _Exam) -> Finding:
        store, now = exam.store, self.clock.now()
        async with self.database.transaction(write=False) as session:
            waiting, oldest = await repository.waiting_orders(session, exam.scope, store.id)
            orders = await repository.waiting_orders_oldest_first(
                session, exam.scope, store.id, limit=ORDERS_READ
            )
        stuck = [(order, why) for order in orders if (why := is_stuck(order, now)) is not None]
        detail = {
            "waiting": waiting,
            "oldest_placed_at": _iso(oldest),
            "stuck": len(stuck),
            "sample": [
                {
                    "reference": order.reference,
                    "status": order.status.value,
                    "placed_at": order.created_at.isoformat(),
                    "attempts": order.submit_attempts,
                    "deadline": _iso(order.submit_deadline_at),
                    "last_error": order.failure_reason,
                    "why": why,
                }
                for order, why in stuck[:ORDER_SAMPLE]
            ],
        }
        if stuck:
            fix = (
                "orders leave the queue once the POS takes them: clear the failures above; "
                f"to send them now: POST /api/v1/stores/{store.id}/recovery (its drain_orders "
                f"step); the orders: GET /api/v1/stores/{store.id}/orders?status=queued"
            )
            first, why = stuck[0]
            summary = f"{len(stuck)} of {waiting} waiting order(s) stuck; {first.reference}: {why}"
            return Finding(Verdict.FAIL, summary, detail, fix)
        if waiting and oldest is not None:
            summary = f"{waiting} waiting for the POS, oldest placed {_ago(now, oldest)} ago"
            return Finding(Verdict.PASS, summary, detail)
        return Finding(Verdict.PASS, "no order waits for the POS", detail)


async def _frame(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await socket.recv())
    if frame.get("type") == "disconnect":
        raise RoundTripFailed(f"the server disconnected the doctor: {frame.get('reason')}")
    return frame


async def _expect(socket: ClientConnection, kind: str) -> None:
    while True:
        frame = await _frame(socket)
        if frame.get("type") == kind:
            return
        if frame.get("type") == "reject_subscription":
            raise RoundTripFailed("the server rejected the KioskChannel subscription")


def is_stuck(order: Order, now: datetime) -> str | None:
    """Why a waiting order is stuck, or None when it is waiting as it should."""
    if order.submit_lease_until is not None and now - order.submit_lease_until > LEASE_OVERDUE:
        return f"its submit attempt died: lease ran out at {order.submit_lease_until.isoformat()}"
    if order.status is OrderStatus.RECEIVED and now - order.created_at > STRANDED_AFTER:
        return f"received {_ago(now, order.created_at)} ago and never sent"
    if now - order.created_at > STUCK_AFTER:
        return f"waiting for {_ago(now, order.created_at)}"
    return None
