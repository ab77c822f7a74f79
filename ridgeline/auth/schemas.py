from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, SecretStr

from ridgeline.api.schemas import PatchBody, RequestBody
from ridgeline.auth.passwords import MIN_PASSWORD_LENGTH
from ridgeline.models.kiosk import KioskKeyPurpose
from ridgeline.models.operator import Role

Password = Annotated[SecretStr, Field(min_length=MIN_PASSWORD_LENGTH, max_length=256)]


class SignIn(RequestBody):
    email: Annotated[str, Field(min_length=3, max_length=254)]
    password: Annotated[SecretStr, Field(min_length=1, max_length=256)]


class RefreshRequest(RequestBody):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class TokenPairOut(BaseModel):
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    access_token: str
    expires_in: int = Field(description="Seconds until the access token expires.")
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


class OperatorOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID | None
    email: str
    name: str
    role: Role
    is_active: bool
    store_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Stores a store manager may act on."
    )
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OperatorCreate(RequestBody):
    email: EmailStr
    password: Password
    name: Annotated[str, Field(max_length=200)] = ""
    role: Role
    organization_id: uuid.UUID | None = Field(
        default=None, description="Required for platform admins creating tenant operators."
    )
    store_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class OperatorUpdate(PatchBody):
    name: Annotated[str, Field(max_length=200)] | None = None
    role: Role | None = None
    is_active: bool | None = None
    password: Password | None = None
    store_ids: Annotated[list[uuid.UUID], Field(max_length=1000)] | None = None


class PasswordChange(RequestBody):
    current_password: Annotated[SecretStr, Field(min_length=1, max_length=256)]
    new_password: Password


class KioskKeyCreate(RequestBody):
    expires_in_s: Annotated[int, Field(ge=60, le=10 * 365 * 24 * 3600)] | None = Field(
        default=None, description="Lifetime of the new key; none: until revoked."
    )
    expire_existing_in_s: Annotated[int, Field(ge=0, le=30 * 24 * 3600)] | None = Field(
        default=None,
        description="Rolling a key: the kiosk's current keys stay valid this many seconds more, "
        "then answer 401 (0: at once). Omit to leave them alone.",
    )


class KioskKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kiosk_id: uuid.UUID
    key_prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    purpose: KioskKeyPurpose = Field(
        description="`kiosk`: the kiosk's own. `diagnostic`: issued by `ridgeline doctor` for its "
        "real-time round trip (valid 120 s, revoked when done); its use is not the kiosk being "
        "seen. Listed while valid only."
    )


class KioskKeyCreated(KioskKeyOut):
    key: str = Field(description="The API key. Shown only in this response: store it now.")
