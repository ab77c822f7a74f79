from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin, IdMixin, StrEnumType


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"  # our support staff: every organization
    ORG_ADMIN = "org_admin"  # everything in one organization
    STORE_MANAGER = "store_manager"  # the stores they are assigned to
    VIEWER = "viewer"  # read only, within their organization

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Role.VIEWER: 0, Role.STORE_MANAGER: 1, Role.ORG_ADMIN: 2, Role.PLATFORM_ADMIN: 3}


class Operator(EntityMixin, Base):
    """A person who runs stores through the API or dashboard (support staff, store staff)."""

    __tablename__ = "operators"
    tenant_org_column: ClassVar[str] = "organization_id"
    tenant_store_column: ClassVar[str | None] = None

    # NULL only for platform admins, who belong to no organization.
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(StrEnumType(Role, 32))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)


class OperatorStoreAccess(Base):
    """The stores a store manager may act on."""

    __tablename__ = "operator_store_access"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class TokenFamily(IdMixin, Base):
    """One sign-in: every access and refresh token descended from it. Revoking it ends them all."""

    __tablename__ = "token_families"

    operator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("operators.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_reason: Mapped[str | None] = mapped_column(String(64), default=None)


class RefreshToken(IdMixin, Base):
    """A single-use refresh token (only its SHA-256 is stored)."""

    __tablename__ = "refresh_tokens"

    family_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("token_families.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)
