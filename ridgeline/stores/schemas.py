from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ridgeline.api.schemas import PatchBody, RequestBody
from ridgeline.models.kiosk import KioskStatus

Name = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")]


def _known_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA name."),
    AfterValidator(_known_timezone),
]


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime
    updated_at: datetime


class OrganizationCreate(RequestBody):
    name: Name
    slug: Slug


class OrganizationUpdate(PatchBody):
    name: Name | None = None


class StoreOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    timezone: str
    currency: str
    created_at: datetime
    updated_at: datetime


class StoreCreate(RequestBody):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Required for platform admins; defaults to your organization."
    )
    name: Name
    timezone: TimeZone = "UTC"
    currency: Currency = "USD"


class StoreUpdate(PatchBody):
    name: Name | None = None
    timezone: TimeZone | None = None
    currency: Currency | None = None


class KioskOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID
    store_id: uuid.UUID
    name: str
    status: KioskStatus
    last_seen_at: datetime | None
    # From the kiosk's `/cable` heartbeat.
    app_version: str | None = None
    health: dict[str, Any] | None = None
    # Live presence: connected to `/cable` now (any server process), and since when.
    connected: bool = False
    connected_since: datetime | None = None
    created_at: datetime
    updated_at: datetime


class KioskCreate(RequestBody):
    store_id: uuid.UUID
    name: Name


class KioskUpdate(PatchBody):
    name: Name | None = None
    status: KioskStatus | None = None
