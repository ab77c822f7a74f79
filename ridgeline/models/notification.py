from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, JSONDocument, organization_column, store_column


class AdminNotification(EntityMixin, Base):
    """Something an operator must hear about (a failed sync, ...); the alerts issue routes them."""

    __tablename__ = "admin_notifications"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID | None] = store_column(index=True, default=None)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
