"""`ridgeline doctor`'s checks of syncs and the catalog: the last catalog and inventory runs,
the records they quarantined, the stored field mapping, staleness, and the discrepancies a fresh
read of the POS finds against our catalog (the reconciliation, through the resilient client)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import PosReadFailed, ValidationFailed
from ridgeline.health import repository
from ridgeline.health.findings import Examination, Finding, Verdict, ago, iso
from ridgeline.health.service import catalog_stale
from ridgeline.models.sync import SyncKind, SyncStatus
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnusable
from ridgeline.sync.mapping import parse_field_mapping
from ridgeline.sync.reconcile import reconcile

DISCREPANCY_SAMPLE = 20
DISCREPANCY_LABELS = {
    "price_differences": "price(s) differ",
    "missing_in_catalog": "product(s) missing from our catalog",
    "missing_in_pos": "product(s) gone from the POS",
    "stock_differences": "stock level(s) differ",
}
ISSUE_SAMPLE = 5


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


class CatalogChecks:
    def __init__(self, database: Database, connector: PosConnector, clock: Clock) -> None:
        self.database = database
        self.connector = connector
        self.clock = clock

    async def last_syncs(self, exam: Examination) -> Finding:
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
                "finished_at": iso(run.finished_at),
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
            f"{label} {run.status.value} {ago(now, run.finished_at or run.started_at)} ago"
            for label, run in latest.items()
            if run is not None
        )
        return Finding(Verdict.PASS, summary, detail)

    async def quarantined_records(self, exam: Examination) -> Finding:
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

    async def field_mapping(self, exam: Examination) -> Finding:
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

    async def catalog_staleness(self, exam: Examination) -> Finding:
        state, now = exam.sync_state, self.clock.now()
        last = state.last_success_at if state is not None else None
        detail = {
            "last_success_at": iso(last),
            "stale_after_s": state.stale_after_s if state is not None else None,
            "next_catalog_sync_at": iso(state.next_catalog_sync_at) if state is not None else None,
        }
        fix = f"sync now: ridgeline sync {exam.store.id} (if it fails, see last_syncs)"
        if state is None or last is None:
            return Finding(Verdict.FAIL, "never synced: kiosks have no catalog", detail, fix)
        stale = catalog_stale(state, now)
        summary = (
            f"{'stale' if stale else 'fresh'}: last successful sync {ago(now, last)} ago "
            f"(stale after {state.stale_after_s} s)"
        )
        return Finding(
            Verdict.FAIL if stale else Verdict.PASS, summary, detail, fix if stale else None
        )

    async def discrepancies(self, exam: Examination) -> Finding:
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
