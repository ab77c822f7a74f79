from __future__ import annotations

import uuid
from typing import Any, ClassVar

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin


class AuditEvent(EntityMixin, Base):
    """One operator action that changed something, written in the action's own transaction
    (ridgeline/audit/service.py): an action rolled back leaves no event, and no event exists
    without its action. Never updated; deleted only by the retention purge.

    No foreign keys on purpose: the event of deleting a store, a kiosk or an operator must
    outlive what it names, and an organization's deletion must not erase its trail.
    `created_at` is when the action happened (the request's clock).
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_created", "organization_id", "created_at"),
        Index("ix_audit_events_store_created", "store_id", "created_at"),
        Index("ix_audit_events_actor_created", "actor_id", "created_at"),
        Index("ix_audit_events_action_created", "action", "created_at"),
        Index("ix_audit_events_created", "created_at"),
    )
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = "store_id"

    # None: an action on the platform itself (the status page, an organization's creation).
    organization_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    store_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    actor_id: Mapped[uuid.UUID]
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))  # "store.update", "pos.breaker", ...
    # The object acted on (a store, kiosk, key, alert, ...), as text: some are names (a rule).
    target_id: Mapped[str | None] = mapped_column(String(100), default=None)
    request_id: Mapped[str | None] = mapped_column(String(128), default=None)
    client_address: Mapped[str | None] = mapped_column(String(64), default=None)
    # {"before": {...}, "after": {...}}: the changed fields only, secrets "[redacted]".
    changes: Mapped[dict[str, Any]]
