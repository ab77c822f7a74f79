"""Tenant scoping: the one place that decides which rows a caller may see.

Every repository query over tenant data passes through `scoped`. A model says which of its columns
name its organization and its store; a `TenantScope` (built from the caller) narrows on them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, cast

from sqlalchemy import Delete, Select, Update, false


class TenantOwned(Protocol):
    # Column attribute names; `tenant_store_column` is None for organization-level data.
    tenant_org_column: ClassVar[str]
    tenant_store_column: ClassVar[str | None]


@dataclass(frozen=True, slots=True)
class TenantScope:
    """What a caller may see: one organization (None: all, for platform admins), and within it
    some stores (None: all of that organization's stores)."""

    organization_id: uuid.UUID | None
    store_ids: frozenset[uuid.UUID] | None = None

    @classmethod
    def everything(cls) -> TenantScope:
        return cls(organization_id=None, store_ids=None)

    def allows_organization(self, organization_id: uuid.UUID | None) -> bool:
        return self.organization_id is None or self.organization_id == organization_id

    def allows_store(self, organization_id: uuid.UUID, store_id: uuid.UUID) -> bool:
        return self.allows_organization(organization_id) and (
            self.store_ids is None or store_id in self.store_ids
        )


# A select, or an update or delete (they narrow with `where` the same way).
S = TypeVar("S", bound=Select[Any] | Update | Delete)


def scoped(statement: S, model: type[TenantOwned], scope: TenantScope) -> S:
    """`statement` narrowed to the rows of `model` that `scope` may see."""
    conditions = []
    if scope.organization_id is not None:
        conditions.append(getattr(model, model.tenant_org_column) == scope.organization_id)
    if scope.store_ids is not None and model.tenant_store_column is not None:
        store_column = getattr(model, model.tenant_store_column)
        conditions.append(store_column.in_(scope.store_ids) if scope.store_ids else false())
    # `where` returns the statement's own type; the stubs say so for each type, not for S.
    return cast(S, statement.where(*conditions)) if conditions else statement
