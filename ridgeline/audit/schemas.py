from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime = Field(description="When the action happened.")
    organization_id: uuid.UUID | None
    store_id: uuid.UUID | None
    actor_id: uuid.UUID = Field(description="The operator who acted.")
    actor_email: str | None = Field(
        default=None,
        description="The actor's email today; none once the operator has been deleted.",
    )
    actor_role: str
    action: str = Field(description="What was done, e.g. `store.update` (docs/security.md).")
    target_id: str | None = Field(description="The object acted on, where there is one.")
    request_id: str | None
    client_address: str | None
    changes: dict[str, Any] = Field(
        description="`before` and `after` of the changed fields only; secrets `[redacted]`."
    )
