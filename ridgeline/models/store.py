from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, JSONDocument, organization_column


class Store(EntityMixin, Base):
    """A physical store with one POS; kiosks belong to it."""

    __tablename__ = "stores"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "id"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = organization_column()
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # The POS adapter's name and its credentials, encrypted (see pos/credentials.py): never
    # readable from the API, logs or error bodies.
    pos_provider: Mapped[str | None] = mapped_column(String(32), default=None)
    pos_config_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    pos_config_updated_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the POS refused these credentials (401/403): no automatic call uses them again
    # until new ones are saved, which clears it (docs/operations.md, refused credentials).
    pos_credentials_refused_at: Mapped[datetime | None] = mapped_column(default=None)
    # Moved by `POST .../pos/reset`: every process builds the store's adapter afresh (new
    # tokens, new parsed keys) at its next call.
    pos_connection_reset_at: Mapped[datetime | None] = mapped_column(default=None)
    # The token of the store's webhook URL, sealed like the credentials; None until its first
    # rotation, when the token derived from RIDGELINE_SECRET_KEY is the store's (webhooks/
    # service.py). The one it replaced is accepted, by its SHA-256, until the grace period ends.
    webhook_token_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    webhook_previous_token_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    webhook_previous_token_until: Mapped[datetime | None] = mapped_column(default=None)
    # The jurisdiction profile its orders are checked against (ridgeline/compliance/profiles.py),
    # None for none, and the store's own figures over it (docs/compliance.md#overrides).
    compliance_profile: Mapped[str | None] = mapped_column(String(32), default=None)
    compliance_overrides: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    # Its tax schedules as validated (compliance/schemas.py TaxSettingsIn); None, or schedules
    # null: the state taxes of its profile (docs/compliance.md#taxes).
    tax_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
