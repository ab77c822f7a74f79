from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ridgeline.api.schemas import RequestBody


def _provider_names(schema: dict[str, Any]) -> None:
    """The installed adapters as the schema's enum, read when the schema is generated (the
    registry imports the adapters, which import this module). Validation stays the service's
    own, so an unknown name is answered with the list in words."""
    from ridgeline.pos.registry import adapter_names

    schema["enum"] = adapter_names()


class StorePosUpdate(RequestBody):
    provider: str = Field(
        min_length=1,
        max_length=32,
        description="The POS dialect: dutchie, treez, blaze or flowhub.",
        json_schema_extra=_provider_names,
    )
    config: dict[str, Any] = Field(
        description="The adapter's credentials and settings (see docs/pos/<provider>.md)."
    )


class BreakerView(BaseModel):
    state: str
    failure_rate: float | None = Field(description="Below the minimum calls: null.")
    slow_call_rate: float | None
    calls_in_window: int
    open_until: datetime | None
    state_changed_at: datetime | None
    last_reason: str | None
    last_actor: str | None


class BreakerCommand(RequestBody):
    action: Literal["force_open", "disable", "reset"] = Field(
        description="force_open: no call reaches the POS; disable: every call does and nothing "
        "is counted; reset: back to closed with an empty window. The first two never change "
        "by themselves."
    )


class PosCallView(BaseModel):
    endpoint: str
    status: int | None
    outcome: str
    error: str | None
    duration_ms: float
    attempt: int
    at: datetime


class StorePosOut(BaseModel):
    provider: str | None
    config: dict[str, Any] | None = Field(description="Secrets are shown as ********.")
    configured_at: datetime | None
    breaker: BreakerView | None = None
    recent_calls: list[PosCallView] = Field(default_factory=list)
    credentials_refused_at: datetime | None = Field(
        default=None, description="When the POS refused these credentials (none: not refused)."
    )
    recovery_run_id: uuid.UUID | None = Field(
        default=None, description="The recovery run saving credentials started."
    )


Diagnosis = Literal[
    "ok",
    "bad_credentials",
    "unreachable",
    "rate_limited",
    "circuit_open",
    "pos_error",
    "protocol_error",
    "credentials_unreadable",
]


class PosReset(BaseModel):
    reset_at: datetime
    adapters_dropped: int = Field(description="Cached adapters (with their tokens) dropped here.")
    pool_dropped: bool = Field(description="Whether pooled connections to the POS host were open.")


class PosTestResult(BaseModel):
    ok: bool
    diagnosis: Diagnosis
    message: str
    location_id: str | None = None
    location_name: str | None = None
    duration_ms: float
