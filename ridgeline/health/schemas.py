"""What the API answers about a store's health and recovery, and what it accepts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from ridgeline.api.schemas import RequestBody
from ridgeline.health.state import HealthThresholds
from ridgeline.models.health import RecoveryStatus, RecoveryTrigger, StoreConnectionState


class CatalogFreshness(BaseModel):
    stale: bool = Field(description="No successful sync within the store's stale_after_s, or ever.")
    last_synced_at: datetime | None


class StoreStatus(BaseModel):
    """What a kiosk needs to know about its store (the `store.status` event's data)."""

    store_id: uuid.UUID
    store_name: str = Field(description="The store's name, as shoppers know it.")
    currency: str = Field(description="ISO 4217 code of the store's prices.")
    state: StoreConnectionState
    cause: str
    since: datetime
    ordering: Literal["live", "queued", "paused"] = Field(
        description="`live`: orders go to the POS at once; `queued`: they are accepted and "
        "wait for the POS; `paused`: the store takes no orders (409 STORE_PAUSED)."
    )
    catalog: CatalogFreshness


class TransitionOut(BaseModel):
    at: datetime
    from_state: StoreConnectionState
    to_state: StoreConnectionState
    cause: str
    trigger: str
    evidence: dict[str, Any]


class KiosksOnline(BaseModel):
    online: int
    total: int
    last_heartbeat_at: datetime | None


class QueuedOrders(BaseModel):
    count: int
    oldest_placed_at: datetime | None


class SyncRunBrief(BaseModel):
    id: uuid.UUID
    kind: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class AlertBrief(BaseModel):
    id: uuid.UUID
    kind: str
    severity: str
    title: str
    created_at: datetime
    occurrences: int


class HealthEvidence(BaseModel):
    breaker: dict[str, Any]
    window: dict[str, Any]
    last_reached_at: datetime | None
    unreachable_since: datetime | None
    credentials_refused_at: datetime | None
    recent_calls: list[dict[str, Any]]
    last_syncs: list[SyncRunBrief]
    consecutive_sync_failures: int
    kiosks: KiosksOnline
    queued_orders: QueuedOrders
    open_alerts: list[AlertBrief]


class StoreHealthOut(BaseModel):
    store_id: uuid.UUID
    store_name: str
    state: StoreConnectionState
    cause: str
    since: datetime
    ordering: Literal["live", "queued", "paused"]
    catalog: CatalogFreshness
    paused: dict[str, Any] | None = Field(description="Who paused the store, when and why.")
    next_recovery_at: datetime | None
    recovery_failures: int
    thresholds: HealthThresholds
    evidence: HealthEvidence
    transitions: list[TransitionOut] = Field(description="The latest, newest first.")


class FleetEntry(BaseModel):
    store_id: uuid.UUID
    state: StoreConnectionState
    cause: str
    since: datetime
    next_recovery_at: datetime | None


class FleetCounts(BaseModel):
    connected: int = 0
    degraded: int = 0
    error: int = 0
    offline: int = 0
    unconfigured: int = 0
    paused: int = 0


class FleetPage(BaseModel):
    status: Literal["success"] = "success"
    data: list[FleetEntry]
    meta: dict[str, Any]


class PauseBody(RequestBody):
    reason: str = Field(min_length=1, max_length=500)


class ThresholdsUpdate(RequestBody):
    """Overrides of the store's health thresholds; `null` for one restores its default."""

    thresholds: dict[str, Any]


class RecoveryStep(BaseModel):
    name: str
    title: str
    how: str = Field(description="The endpoint or command that performs the step.")
    automatic: bool = Field(description="Whether a recovery run performs it.")


class RecoveryProcedure(BaseModel):
    store_id: uuid.UUID
    state: StoreConnectionState
    cause: str
    diagnosis: str
    steps: list[RecoveryStep]


class RecoveryRunStep(BaseModel):
    name: str
    started_at: datetime
    finished_at: datetime | None
    outcome: Literal["running", "passed", "failed", "skipped"]
    detail: str


class RecoveryRunOut(BaseModel):
    id: uuid.UUID
    store_id: uuid.UUID
    trigger: RecoveryTrigger
    status: RecoveryStatus
    state_before: StoreConnectionState
    cause: str
    actor: str | None
    started_at: datetime
    finished_at: datetime | None
    steps: list[RecoveryRunStep]
    error: str | None


# The operator console's fleet (`GET /api/v1/fleet`)


class FleetState(StrEnum):
    """A store's connection state as the fleet filters on it: the health states, and
    `unjudged` for a store the state machine has not judged yet (no health row)."""

    CONNECTED = "connected"
    DEGRADED = "degraded"
    ERROR = "error"
    OFFLINE = "offline"
    UNCONFIGURED = "unconfigured"
    PAUSED = "paused"
    UNJUDGED = "unjudged"


class FleetBreaker(BaseModel):
    state: str = Field(
        description="`closed`, `open`, `half_open`, or an operator's `forced_open` / "
        "`disabled`; `closed` for a store whose breaker never moved."
    )
    open_until: datetime | None


class FleetSync(BaseModel):
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class FleetAlerts(BaseModel):
    count: int = Field(description="Unresolved alerts that fired (`firing` or `acknowledged`).")
    worst_severity: str | None = Field(description="`critical`, `warning` or `info`; null: none.")


class FleetStore(BaseModel):
    store_id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    pos_provider: str | None
    state: StoreConnectionState | None = Field(
        description="null: not judged yet (a new store, until the next sweep or health read)."
    )
    cause: str | None
    since: datetime | None
    next_recovery_at: datetime | None
    breaker: FleetBreaker
    last_sync: FleetSync | None = Field(description="The store's latest sync run, any kind.")
    last_success_at: datetime | None = Field(description="The last successful sync.")
    kiosks: KiosksOnline = Field(
        description="`online`: enabled kiosks connected to /cable now; `total`: enabled "
        "kiosks; `last_heartbeat_at`: the latest any of them was seen."
    )
    queued_orders: QueuedOrders
    firing_alerts: FleetAlerts


class FleetOverviewCounts(FleetCounts):
    unjudged: int = 0


class FleetOverviewMeta(BaseModel):
    next_cursor: str | None
    count: int
    counts: FleetOverviewCounts = Field(
        description="Stores by state over every store the caller sees, whatever the filters."
    )


class FleetOverviewPage(BaseModel):
    status: Literal["success"] = "success"
    data: list[FleetStore]
    meta: FleetOverviewMeta
