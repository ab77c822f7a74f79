from __future__ import annotations

from typing import ClassVar

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, EntityMixin


class Organization(EntityMixin, Base):
    """A retailer: owns stores, kiosks and operator accounts."""

    __tablename__ = "organizations"
    tenant_org_column: ClassVar[str] = "id"
    tenant_store_column: ClassVar[str | None] = None

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
