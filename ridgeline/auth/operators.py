"""Rules for operator accounts: who may create whom, store assignments, deactivation."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest, PageResult, paginate
from ridgeline.auth import repository
from ridgeline.auth.passwords import hash_password, verify_password
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.auth.schemas import OperatorCreate, OperatorOut, OperatorUpdate, PasswordChange
from ridgeline.auth.service import revoke_operator_sessions
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import AlreadyExists, Forbidden, NotFound, ValidationFailed
from ridgeline.models.operator import Operator, OperatorStoreAccess, Role
from ridgeline.stores.service import get_organization


def _field_error(field: str, message: str) -> ValidationFailed:
    return ValidationFailed.for_fields(
        [{"loc": ["body", field], "message": message, "type": "value_error"}]
    )


async def present(session: AsyncSession, operator: Operator) -> OperatorOut:
    out = OperatorOut.model_validate(operator)
    if operator.role == Role.STORE_MANAGER:
        out.store_ids = sorted(await repository.assigned_store_ids(session, operator.id))
    return out


async def list_operators(
    session: AsyncSession,
    scope: TenantScope,
    page: PageRequest,
    *,
    organization_id: uuid.UUID | None = None,
) -> PageResult[Operator]:
    statement = repository.operators(scope, organization_id=organization_id)
    return await paginate(session, statement, Operator, page)


async def get_operator(
    session: AsyncSession, scope: TenantScope, operator_id: uuid.UUID
) -> Operator:
    found = await repository.operator(session, scope, operator_id)
    if found is None:
        raise NotFound("operator", operator_id)
    return found


def _check_may_grant(caller: OperatorPrincipal, role: Role) -> None:
    if role is Role.PLATFORM_ADMIN and caller.role is not Role.PLATFORM_ADMIN:
        raise Forbidden("Only platform admins can grant the platform_admin role.")


async def _set_store_access(
    session: AsyncSession,
    operator: Operator,
    scope: TenantScope,
    store_ids: list[uuid.UUID],
) -> None:
    if store_ids and operator.role != Role.STORE_MANAGER:
        raise _field_error("store_ids", "Only store managers are assigned stores.")
    wanted = set(store_ids)
    if wanted:
        found = await repository.organization_store_ids(
            session, scope, operator.organization_id, wanted
        )
        if missing := wanted - found:
            raise NotFound("store", sorted(missing)[0])
    await repository.clear_store_access(session, operator.id)
    for store_id in sorted(wanted):
        session.add(OperatorStoreAccess(operator_id=operator.id, store_id=store_id))


async def create_operator(
    session: AsyncSession, caller: OperatorPrincipal, body: OperatorCreate
) -> Operator:
    _check_may_grant(caller, body.role)
    if body.role is Role.PLATFORM_ADMIN:
        if body.organization_id is not None:
            raise _field_error("organization_id", "Platform admins belong to no organization.")
        organization_id = None
    else:
        organization_id = body.organization_id or caller.organization_id
        if organization_id is None:
            raise _field_error("organization_id", "Field required")
        # Scoped, and it must exist: a platform admin may name any organization id.
        await get_organization(session, caller.scope, organization_id)
    email = body.email.lower()
    if await repository.operator_by_email(session, email) is not None:
        raise AlreadyExists(
            "An operator with this email already exists.", details={"field": "email"}
        )
    operator = Operator(
        organization_id=organization_id,
        email=email,
        name=body.name,
        role=body.role,
        password_hash=hash_password(body.password.get_secret_value()),
    )
    session.add(operator)
    await session.flush()
    await _set_store_access(session, operator, caller.scope, body.store_ids)
    await session.flush()
    return operator


async def change_own_password(
    session: AsyncSession, caller: OperatorPrincipal, body: PasswordChange, *, now: datetime
) -> Operator:
    """The caller's new password, given their current one; every sign-in of theirs, this one
    included, is revoked (whoever knew the old password may hold one of them)."""
    operator = await get_operator(session, caller.scope, caller.operator_id)
    if not verify_password(operator.password_hash, body.current_password.get_secret_value()):
        raise _field_error("current_password", "This is not your current password.")
    operator.password_hash = hash_password(body.new_password.get_secret_value())
    await revoke_operator_sessions(session, operator.id, reason="password_changed", now=now)
    return operator


async def update_operator(
    session: AsyncSession,
    caller: OperatorPrincipal,
    operator_id: uuid.UUID,
    body: OperatorUpdate,
    *,
    now: datetime,
) -> Operator:
    operator = await get_operator(session, caller.scope, operator_id)
    changes = body.model_fields_set
    if operator.id == caller.operator_id and changes & {"role", "is_active"}:
        raise Forbidden("You cannot change your own role or deactivate yourself.")
    if body.role is not None:
        _check_may_grant(caller, body.role)
        if (body.role is Role.PLATFORM_ADMIN) != (operator.organization_id is None):
            raise _field_error("role", "Platform admins and tenant operators cannot swap roles.")
        operator.role = body.role
    if body.name is not None:
        operator.name = body.name
    if body.password is not None:
        operator.password_hash = hash_password(body.password.get_secret_value())
        await revoke_operator_sessions(session, operator.id, reason="password_changed", now=now)
    if body.is_active is not None:
        operator.is_active = body.is_active
        if not body.is_active:
            await revoke_operator_sessions(session, operator.id, reason="deactivated", now=now)
    if body.store_ids is not None:
        await _set_store_access(session, operator, caller.scope, body.store_ids)
    elif body.role is not None and body.role is not Role.STORE_MANAGER:
        await _set_store_access(session, operator, caller.scope, [])
    await session.flush()
    return operator


async def delete_operator(
    session: AsyncSession, caller: OperatorPrincipal, operator_id: uuid.UUID
) -> None:
    operator = await get_operator(session, caller.scope, operator_id)
    if operator.id == caller.operator_id:
        raise Forbidden("You cannot delete yourself.")
    _check_may_grant(caller, operator.role)
    await session.delete(operator)
    await session.flush()
