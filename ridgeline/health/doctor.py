"""`ridgeline doctor`: the troubleshooting guide's checks for one store, in its order, each with
a verdict and, for what is wrong, the fix (the endpoint or command that performs it).

Verdicts: `pass`; `warn` for what deserves a look but breaks nothing kiosks or orders rely on
(some stock moved since the last inventory sync, quarantined records, no kiosk online, the POS
slow or throttling, rate-limit headroom under 20%); `fail` for what is broken; `skip` when a check
cannot run (it says why, usually an earlier failure). A store is healthy when no check fails.

The doctor acts as the system, like the rest of the CLI, and calls the POS as an operator would.
The checks live by what they examine: the POS connection (`pos_checks`), syncs and the catalog
(`catalog_checks`), kiosks, real time and orders (`kiosk_checks`); this module runs them in order
and makes the store's report.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.health import repository
from ridgeline.health.catalog_checks import CatalogChecks
from ridgeline.health.findings import CheckResult, Examination, Finding, Verdict
from ridgeline.health.kiosk_checks import KioskChecks
from ridgeline.health.pos_checks import PosChecks
from ridgeline.health.reports import ensure_health
from ridgeline.health.state import HealthThresholds
from ridgeline.models.store import Store
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.round_trip import RoundTrip, cable_urls
from ridgeline.stores import repository as stores_repository
from ridgeline.stores.service import get_store

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
ROUND_TRIP_TIMEOUT_S = 10.0

Check = Callable[[Examination], Awaitable[Finding]]
Progress = Callable[[str, int, int], None]  # check name, its index, how many


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
        self.clock = clock
        self.server_url = cable_urls(server_url or settings.public_base_url)[0]
        pos = PosChecks(database, connector, clock)
        catalog = CatalogChecks(database, connector, clock)
        round_trip = RoundTrip(database, clock, timeout_s=round_trip_timeout_s)
        kiosks = KioskChecks(database, clock, round_trip, server_url=self.server_url)
        self.checks: Mapping[str, Check] = {
            "credentials": pos.credentials,
            "pos_reachable": pos.pos_reachable,
            "rate_limit_headroom": pos.rate_limit_headroom,
            "breaker": pos.breaker,
            "last_syncs": catalog.last_syncs,
            "quarantined_records": catalog.quarantined_records,
            "field_mapping": catalog.field_mapping,
            "catalog_staleness": catalog.catalog_staleness,
            "discrepancies": catalog.discrepancies,
            "kiosks": kiosks.kiosks,
            "realtime_round_trip": kiosks.realtime_round_trip,
            "orders": kiosks.orders,
        }
        assert tuple(self.checks) == CHECKS, "every check, in the guide's order"

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
        exam = Examination(store, scope, sync_state, thresholds)
        for index, name in enumerate(CHECKS):
            if progress is not None:
                progress(name, index, len(CHECKS))
            try:
                finding = await self.checks[name](exam)
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
