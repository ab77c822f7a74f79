"""Request and response bodies of the sync endpoints."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ridgeline.api.schemas import PatchBody, RequestBody
from ridgeline.models.sync import SyncIssueKind, SyncKind, SyncStatus, SyncTrigger


class SyncRequest(RequestBody):
    kind: SyncKind = Field(description="full, incremental or inventory.")


class SyncQueued(BaseModel):
    job_id: uuid.UUID
    store_id: uuid.UUID
    kind: SyncKind


class SyncRunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    store_id: uuid.UUID
    kind: SyncKind
    trigger: SyncTrigger
    status: SyncStatus
    started_at: datetime
    heartbeat_at: datetime
    finished_at: datetime | None
    fetched: int
    created: int
    updated: int
    deactivated: int
    unchanged: int
    invalid: int
    duration_ms: float | None
    error: str | None
    cursor_before: datetime | None
    cursor_after: datetime | None


class SyncIssueOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    sync_run_id: uuid.UUID
    external_id: str | None
    kind: SyncIssueKind = Field(
        description="invalid_record: quarantined, not taken; compliance_data_missing: taken "
        "without the weight or potency its store's purchase limits count."
    )
    reason: str
    raw_record: Any
    created_at: datetime


class SyncRunDetail(SyncRunOut):
    issues: list[SyncIssueOut] = Field(description="The run's quarantined records (first 200).")


class SyncStateOut(BaseModel):
    store_id: uuid.UUID
    catalog_interval_s: int
    inventory_interval_s: int
    stale_after_s: int
    next_catalog_sync_at: datetime | None
    next_inventory_sync_at: datetime | None
    catalog_cursor: datetime | None
    last_full_sync_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    stale: bool = Field(description="No successful sync within `stale_after_s`.")
    field_mapping: dict[str, Any]


class SyncStateUpdate(PatchBody):
    nullable_fields: ClassVar[frozenset[str]] = frozenset()

    catalog_interval_s: int | None = Field(default=None, ge=15, le=86_400)
    inventory_interval_s: int | None = Field(default=None, ge=15, le=86_400)
    stale_after_s: int | None = Field(default=None, ge=60, le=7 * 86_400)
    field_mapping: dict[str, Any] | None = Field(
        default=None,
        description='Overrides by vendor value: {"category": {"Vapes & Carts": "vape"}, '
        '"brand": {"Old Name": "New Name"}}.',
    )


class MissingProduct(BaseModel):
    external_id: str
    name: str
    product_id: uuid.UUID | None = None


class PriceDifference(BaseModel):
    product_id: uuid.UUID
    external_id: str
    variant_external_id: str
    ours_cents: int
    pos_cents: int


class StockDifference(BaseModel):
    product_id: uuid.UUID
    external_id: str
    variant_external_id: str
    ours: int
    pos: int


class Reconciliation(BaseModel):
    checked_at: datetime
    pos_products: int
    catalog_products: int
    invalid_records: int
    missing_in_catalog: list[MissingProduct]
    missing_in_pos: list[MissingProduct]
    price_differences: list[PriceDifference]
    stock_differences: list[StockDifference]
