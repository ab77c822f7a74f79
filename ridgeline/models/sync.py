from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import (
    Base,
    EntityMixin,
    JSONDocument,
    StrEnumType,
    organization_column,
    store_column,
    utcnow,
)


class SyncKind(StrEnum):
    FULL = "full"
    INCREMENTAL = "incremental"
    INVENTORY = "inventory"


class SyncTrigger(StrEnum):
    SCHEDULE = "schedule"
    OPERATOR = "operator"
    WEBHOOK = "webhook"
    RECOVERY = "recovery"


class SyncStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partially_succeeded"  # some records quarantined
    FAILED = "failed"


class SyncIssueKind(StrEnum):
    INVALID_RECORD = "invalid_record"  # quarantined: the product was not taken
    # Taken, but without the weight or potency its store's purchase limits count
    # (docs/compliance.md#missing-weight-or-potency).
    COMPLIANCE_DATA_MISSING = "compliance_data_missing"


# Polls a store's POS this often by default: with the scheduler's tick and a run, a change at a
# POS without webhooks reaches kiosks within a minute (docs/sync.md, "Freshness").
DEFAULT_CATALOG_INTERVAL_S = 30
DEFAULT_INVENTORY_INTERVAL_S = 30


class StoreSyncState(Base):
    """A store's sync schedule, cursor and field-mapping overrides (one row per store)."""

    __tablename__ = "store_sync_states"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    store_id: Mapped[uuid.UUID] = store_column(primary_key=True)
    organization_id: Mapped[uuid.UUID] = organization_column()
    catalog_interval_s: Mapped[int] = mapped_column(default=DEFAULT_CATALOG_INTERVAL_S)
    inventory_interval_s: Mapped[int] = mapped_column(default=DEFAULT_INVENTORY_INTERVAL_S)
    stale_after_s: Mapped[int] = mapped_column(default=3600)
    next_catalog_sync_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    next_inventory_sync_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    catalog_cursor: Mapped[datetime | None] = mapped_column(default=None)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(default=None)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    # {"category": {"Vapes & Carts": "vape"}, "brand": {"Old Name": "New Name"}}
    field_mapping: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRun(EntityMixin, Base):
    """One sync of one kind for one store. A `running` row is also the lock: a partial unique
    index allows one running run per store and kind, across every process."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index(
            "uq_sync_runs_one_running",
            "store_id",
            "kind",
            unique=True,
            postgresql_where=text("status = 'running'"),
            sqlite_where=text("status = 'running'"),
        ),
        Index("ix_sync_runs_store_started", "store_id", "started_at"),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    kind: Mapped[SyncKind] = mapped_column(StrEnumType(SyncKind, 16))
    trigger: Mapped[SyncTrigger] = mapped_column(StrEnumType(SyncTrigger, 16))
    status: Mapped[SyncStatus] = mapped_column(
        StrEnumType(SyncStatus, 24), default=SyncStatus.RUNNING
    )
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    fetched: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    deactivated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[float | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    cursor_before: Mapped[datetime | None] = mapped_column(default=None)
    cursor_after: Mapped[datetime | None] = mapped_column(default=None)


class SyncIssue(EntityMixin, Base):
    """A vendor record a sync could not take, with the raw record and why."""

    __tablename__ = "sync_issues"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    sync_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("sync_runs.id", ondelete="CASCADE"), index=True
    )
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    kind: Mapped[SyncIssueKind] = mapped_column(
        StrEnumType(SyncIssueKind, 32),
        default=SyncIssueKind.INVALID_RECORD,
        server_default=SyncIssueKind.INVALID_RECORD.value,
    )
    reason: Mapped[str] = mapped_column(Text)
    raw_record: Mapped[Any] = mapped_column(JSONDocument, default=None)
