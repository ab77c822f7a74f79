from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from sqlalchemy import Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, IdMixin, organization_column, store_column


class PosCall(IdMixin, Base):
    """One attempt of one call to a store's POS, kept a while for operators (`GET
    /stores/{id}/pos` shows the latest) and purged by a periodic job."""

    __tablename__ = "pos_calls"
    __table_args__ = (Index("ix_pos_calls_store_at", "store_id", "at"),)
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column()
    vendor: Mapped[str] = mapped_column(String(32))
    endpoint: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8))
    status: Mapped[int | None] = mapped_column(default=None)
    # success, rejected (a 4xx answer), or the PosError code (POS_TIMEOUT, CIRCUIT_OPEN, ...)
    outcome: Mapped[str] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(Float)
    attempt: Mapped[int]
    at: Mapped[datetime]
