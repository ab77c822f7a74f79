from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, String
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


class KioskStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # its keys stop working at once


class KioskKeyPurpose(StrEnum):
    KIOSK = "kiosk"  # the kiosk's own: using it is the kiosk being seen
    # Issued by `ridgeline doctor` to act as the kiosk for a moment: using it leaves the kiosk's
    # last_seen_at, app version, health and presence alone, so a dead kiosk still looks dead.
    DIAGNOSTIC = "diagnostic"


class Kiosk(EntityMixin, Base):
    __tablename__ = "kiosks"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    organization_id: Mapped[uuid.UUID] = organization_column()
    store_id: Mapped[uuid.UUID] = store_column(index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[KioskStatus] = mapped_column(
        StrEnumType(KioskStatus, 16), default=KioskStatus.ACTIVE
    )
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the kiosk app last said in its `heartbeat` on `/cable`.
    app_version: Mapped[str | None] = mapped_column(String(64), default=None)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)


class KioskApiKey(IdMixin, Base):
    """A kiosk's bearer key. Only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "kiosk_api_keys"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None  # scoped through its kiosk

    organization_id: Mapped[uuid.UUID] = organization_column()
    kiosk_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("kiosks.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    purpose: Mapped[KioskKeyPurpose] = mapped_column(
        StrEnumType(KioskKeyPurpose, 16), default=KioskKeyPurpose.KIOSK, server_default="kiosk"
    )
