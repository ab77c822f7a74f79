"""Queries over operators, their tokens and kiosk keys."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import Select, bindparam, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.kiosk import Kiosk, KioskApiKey, KioskKeyPurpose
from ridgeline.models.operator import (
    Operator,
    OperatorStoreAccess,
    RefreshToken,
    TokenFamily,
)
from ridgeline.models.store import Store


def operators(scope: TenantScope, *, organization_id: uuid.UUID | None = None) -> Select[Operator]:
    statement = scoped(select(Operator), Operator, scope)
    if organization_id is not None:
        statement = statement.where(Operator.organization_id == organization_id)
    return statement


async def operator(
    session: AsyncSession, scope: TenantScope, operator_id: uuid.UUID
) -> Operator | None:
    return await session.scalar(operators(scope).where(Operator.id == operator_id))


async def operator_by_email(session: AsyncSession, email: str) -> Operator | None:
    # Sign-in happens before any scope exists: the email is the only key.
    return await session.scalar(select(Operator).where(Operator.email == email.lower()))


async def operator_with_family(
    session: AsyncSession, operator_id: uuid.UUID, family_id: uuid.UUID
) -> tuple[Operator, TokenFamily] | None:
    row = (
        await session.execute(
            select(Operator, TokenFamily)
            .join(TokenFamily, TokenFamily.operator_id == Operator.id)
            .where(Operator.id == operator_id, TokenFamily.id == family_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def assigned_store_ids(session: AsyncSession, operator_id: uuid.UUID) -> frozenset[uuid.UUID]:
    rows = await session.scalars(
        select(OperatorStoreAccess.store_id).where(OperatorStoreAccess.operator_id == operator_id)
    )
    return frozenset(rows.all())


async def organization_store_ids(
    session: AsyncSession,
    scope: TenantScope,
    organization_id: uuid.UUID | None,
    store_ids: Collection[uuid.UUID],
) -> set[uuid.UUID]:
    """Those of `store_ids` that are stores of `organization_id` and that `scope` may see."""
    statement = scoped(select(Store.id), Store, scope).where(
        Store.id.in_(store_ids), Store.organization_id == organization_id
    )
    return set((await session.scalars(statement)).all())


async def clear_store_access(session: AsyncSession, operator_id: uuid.UUID) -> None:
    await session.execute(
        delete(OperatorStoreAccess).where(OperatorStoreAccess.operator_id == operator_id)
    )


async def refresh_token_by_hash(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, TokenFamily, Operator] | None:
    row = (
        await session.execute(
            select(RefreshToken, TokenFamily, Operator)
            .join(TokenFamily, TokenFamily.id == RefreshToken.family_id)
            .join(Operator, Operator.id == TokenFamily.operator_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1], row[2]) if row else None


async def spend_refresh_token(session: AsyncSession, token_id: uuid.UUID, now: datetime) -> bool:
    """Mark a refresh token used; False when another request spent it first."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )
    return bool(getattr(result, "rowcount", 0))


async def revoke_families(
    session: AsyncSession,
    *,
    now: datetime,
    reason: str,
    family_id: uuid.UUID | None = None,
    operator_id: uuid.UUID | None = None,
) -> None:
    statement = update(TokenFamily).where(TokenFamily.revoked_at.is_(None))
    if family_id is not None:
        statement = statement.where(TokenFamily.id == family_id)
    if operator_id is not None:
        statement = statement.where(TokenFamily.operator_id == operator_id)
    await session.execute(statement.values(revoked_at=now, revoked_reason=reason))


async def kiosk_key_by_hash(
    session: AsyncSession, key_hash: str
) -> tuple[KioskApiKey, Kiosk] | None:
    row = (
        await session.execute(
            select(KioskApiKey, Kiosk)
            .join(Kiosk, Kiosk.id == KioskApiKey.kiosk_id)
            .where(KioskApiKey.key_hash == key_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def kiosk_keys_by_hashes(
    session: AsyncSession, key_hashes: Collection[str]
) -> dict[str, tuple[KioskApiKey, Kiosk]]:
    """`kiosk_key_by_hash` for many keys in one statement (a `/cable` connect storm)."""
    if not key_hashes:
        return {}
    rows = await session.execute(
        select(KioskApiKey, Kiosk)
        .join(Kiosk, Kiosk.id == KioskApiKey.kiosk_id)
        .where(KioskApiKey.key_hash.in_(list(key_hashes)))
    )
    return {key.key_hash: (key, kiosk) for key, kiosk in rows}


async def kiosk_keys(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID
) -> list[KioskApiKey]:
    statement = scoped(select(KioskApiKey), KioskApiKey, scope).where(
        KioskApiKey.kiosk_id == kiosk_id
    )
    return list((await session.scalars(statement.order_by(KioskApiKey.created_at))).all())


async def delete_spent_diagnostic_keys(
    session: AsyncSession, spent_before: datetime, *, limit: int
) -> int:
    """Deletes up to `limit` of every tenant's diagnostic keys revoked or expired before
    `spent_before`; returns how many."""
    spent = or_(KioskApiKey.revoked_at < spent_before, KioskApiKey.expires_at < spent_before)
    batch = (
        select(KioskApiKey.id)
        .where(KioskApiKey.purpose == KioskKeyPurpose.DIAGNOSTIC, spent)
        .limit(limit)
    )
    ids = list((await session.scalars(batch)).all())
    if ids:
        await session.execute(delete(KioskApiKey).where(KioskApiKey.id.in_(ids)))
    return len(ids)


async def kiosk_key(
    session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID, key_id: uuid.UUID
) -> KioskApiKey | None:
    statement = scoped(select(KioskApiKey), KioskApiKey, scope).where(
        KioskApiKey.kiosk_id == kiosk_id, KioskApiKey.id == key_id
    )
    return await session.scalar(statement)


async def kiosk(session: AsyncSession, scope: TenantScope, kiosk_id: uuid.UUID) -> Kiosk | None:
    statement = scoped(select(Kiosk), Kiosk, scope).where(Kiosk.id == kiosk_id)
    return await session.scalar(statement)


async def record_key_usage(
    session: AsyncSession, used: Mapping[uuid.UUID, tuple[uuid.UUID | None, datetime]]
) -> None:
    """Writes `last_used_at` of each key (key id: its kiosk id, when it was used) and
    `last_seen_at` of its kiosk, which never moves back and leaves `updated_at` alone. A key
    used with no kiosk id (a diagnostic key) writes its own `last_used_at` only."""
    keys = [{"b_key": key_id, "b_at": at} for key_id, (_, at) in used.items()]
    kiosks = [
        {"b_kiosk": kiosk_id, "b_at": at} for kiosk_id, at in used.values() if kiosk_id is not None
    ]
    # One statement per table run for all rows at once (executemany): a statement per key held
    # SQLite's write lock for seconds after thousands of kiosks connected.
    connection = await session.connection()
    await connection.execute(
        update(KioskApiKey)
        .where(KioskApiKey.id == bindparam("b_key"))
        .values(last_used_at=bindparam("b_at")),
        keys,
    )
    if not kiosks:
        return
    await connection.execute(
        update(Kiosk)
        .where(Kiosk.id == bindparam("b_kiosk"))
        .where((Kiosk.last_seen_at.is_(None)) | (Kiosk.last_seen_at < bindparam("b_at")))
        # Being seen is not an edit: keep updated_at (it would bump on its own).
        .values(last_seen_at=bindparam("b_at"), updated_at=Kiosk.updated_at),
        kiosks,
    )
