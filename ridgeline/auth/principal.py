"""Who is calling: an operator (with a role) or a kiosk, and the tenant scope that follows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ridgeline.db.tenancy import TenantScope
from ridgeline.models.kiosk import KioskKeyPurpose
from ridgeline.models.operator import Role


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    operator_id: uuid.UUID
    organization_id: uuid.UUID | None
    role: Role
    family_id: uuid.UUID
    # For store managers: the stores they are assigned; None means no store restriction.
    store_ids: frozenset[uuid.UUID] | None

    @property
    def scope(self) -> TenantScope:
        if self.role is Role.PLATFORM_ADMIN:
            return TenantScope.everything()
        return TenantScope(organization_id=self.organization_id, store_ids=self.store_ids)

    def has_role(self, minimum: Role) -> bool:
        return self.role.rank >= minimum.rank


@dataclass(frozen=True, slots=True)
class KioskPrincipal:
    kiosk_id: uuid.UUID
    store_id: uuid.UUID
    organization_id: uuid.UUID
    key_id: uuid.UUID
    purpose: KioskKeyPurpose = KioskKeyPurpose.KIOSK

    @property
    def scope(self) -> TenantScope:
        return TenantScope(
            organization_id=self.organization_id, store_ids=frozenset({self.store_id})
        )

    @property
    def diagnostic(self) -> bool:
        """Acting as the kiosk with a diagnostic key (`ridgeline doctor`): it reads and
        subscribes as the kiosk, but its requests and connections are not the kiosk being seen
        (no last_seen_at, app version, health or presence)."""
        return self.purpose is KioskKeyPurpose.DIAGNOSTIC


Principal = OperatorPrincipal | KioskPrincipal
