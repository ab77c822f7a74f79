"""A store's connection state (one row per store), its transitions, and recovery runs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import (
    Base,
    EntityMixin,
    IdMixin,
    JSONDocument,
    StrEnumType,
    organization_column,
    store_column,
)


class StoreConnectionState(StrEnum):
    CONNECTED = "connected"  # calls succeed
    DEGRADED = "degraded"  # some failures, slow calls or rate limiting; the breaker is closed
    ERROR = "error"  # the breaker is open or the credentials are refused
    OFFLINE = "offline"  # nothing has reached the POS for longer than `offline_after_s`
    UNCONFIGURED = "unconfigured"  # the store has no POS
    PAUSED = "paused"  # an operator paused the store's POS integration


class RecoveryTrigger(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    CREDENTIALS_UPDATED = "credentials_updated"


class RecoveryStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class StoreHealth(Base):
    """Where a store's POS connection stands, since when and why, with what the state machine
    needs between two evaluations (health/state.py)."""

    __tablename__ = "store_health"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    store_id: Mapped[uuid.UUID] = store_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = organization_column()
    state: Mapped[StoreConnectionState] = mapped_column(StrEnumType(StoreConnectionState, 16))
    cause: Mapped[str] = mapped_column(String(40))
    since: Mapped[datetime]
    # What the state was judged on when it was entered (rates, breaker, last error...).
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Whether the last `store.status` said the catalog was stale (the sweep announces a flip).
    catalog_stale: Mapped[bool] = mapped_column(default=False)
    paused_at: Mapped[datetime | None] = mapped_column(default=None)
    paused_by: Mapped[str | None] = mapped_column(String(200), default=None)
    pause_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The last time a call got an answer (any HTTP status) from the POS, and the first call
    # without one (timeout, connection failed) since then.
    last_reached_at: Mapped[datetime | None] = mapped_column(default=None)
    unreachable_since: Mapped[datetime | None] = mapped_column(default=None)
    # Per-store overrides of the thresholds (health/thresholds.py), by name.
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Automatic recovery: failed runs in a row (the backoff's exponent) and when the next is due.
    recovery_failures: Mapped[int] = mapped_column(default=0)
    next_recovery_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]


class StoreHealthTransition(IdMixin, Base):
    """One change of a store's connection state, written in the transaction that caused it."""

    __tablename__ = "store_health_transitions"
    __table_args__ = (Index("ix_store_health_transitions_store_at", "store_id", "at"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    at: Mapped[datetime]
    from_state: Mapped[StoreConnectionState] = mapped_column(StrEnumType(StoreConnectionState, 16))
    to_state: Mapped[StoreConnectionState] = mapped_column(StrEnumType(StoreConnectionState, 16))
    cause: Mapped[str] = mapped_column(String(40))
    # What observed the change: pos_call, breaker, sync, sweep, operator, credentials, recovery.
    trigger: Mapped[str] = mapped_column(String(32))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)


class RecoveryRun(EntityMixin, Base):
    """One run of a store's recovery procedure, with each step as it went."""

    __tablename__ = "recovery_runs"
    __table_args__ = (
        Index("ix_recovery_runs_store_started", "store_id", "started_at"),
        # One running run per store: a second one is refused (409 RECOVERY_IN_PROGRESS).
        Index(
            "uq_recovery_runs_one_running",
            "store_id",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    trigger: Mapped[RecoveryTrigger] = mapped_column(StrEnumType(RecoveryTrigger, 24))
    status: Mapped[RecoveryStatus] = mapped_column(StrEnumType(RecoveryStatus, 16))
    # The store's state and cause when the run started.
    state_before: Mapped[StoreConnectionState] = mapped_column(
        StrEnumType(StoreConnectionState, 16)
    )
    cause: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # [{name, started_at, finished_at, outcome: passed|failed|skipped, detail}], in order.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
