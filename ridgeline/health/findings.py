"""What `ridgeline doctor`'s checks work with and find: verdicts, one check's finding, what an
examination of a store has learned so far, and the wording the findings share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ridgeline.db.tenancy import TenantScope
from ridgeline.health.procedures import Step, procedure_for, render
from ridgeline.health.state import HealthCause, HealthThresholds
from ridgeline.models.kiosk import Kiosk
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState, SyncRun
from ridgeline.pos.base import PosConfig
from ridgeline.pos.capabilities import PosAdapter


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


@dataclass
class Examination:
    """What one examination of a store has learned so far: a check reads what earlier checks
    found (the adapter the credentials gave, the last sync runs, the kiosks online)."""

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


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def ago(now: datetime, at: datetime) -> str:
    seconds = max(0, round((now - at).total_seconds()))
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def recovery_steps(cause: HealthCause, store_id: uuid.UUID, *names: str) -> str:
    """The named steps of the cause's recovery procedure (procedures.py) as one fix."""
    steps: list[Step] = [s for s in procedure_for(cause).steps if not names or s.name in names]
    return "; then ".join(f"{step.title}: {render(step, store_id)}" for step in steps)
