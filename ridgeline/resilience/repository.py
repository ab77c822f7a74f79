"""Queries over circuit breaker rows (`circuit_breakers`, one per store). Breakers act for the
system, whoever's store they guard: nothing here is scoped."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.circuit_breaker import CircuitBreakerState


def _locked_row(store_id: uuid.UUID) -> Select[CircuitBreakerState]:
    return (
        select(CircuitBreakerState)
        .where(CircuitBreakerState.store_id == store_id)
        .with_for_update()
    )


async def locked_breaker(session: AsyncSession, store_id: uuid.UUID) -> CircuitBreakerState | None:
    """The store's breaker row, locked until the transaction ends (`SELECT ... FOR UPDATE` on
    PostgreSQL; on SQLite the transaction's write lock already holds it)."""
    return (await session.scalars(_locked_row(store_id))).one_or_none()


async def create_breaker(session: AsyncSession, row: CircuitBreakerState) -> CircuitBreakerState:
    """Inserts `row` (its columns that are set) and returns the store's breaker row, locked:
    `row`'s, or the one another process created at the same time (ON CONFLICT DO NOTHING, so
    that the race does not fail our transaction)."""
    values: dict[str, Any] = {
        column.key: getattr(row, column.key)
        for column in CircuitBreakerState.__table__.columns
        if getattr(row, column.key) is not None
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(CircuitBreakerState)
        .values(values)
        .on_conflict_do_nothing(index_elements=["store_id"])
    )
    return (await session.scalars(_locked_row(row.store_id))).one()


async def breaker_state(session: AsyncSession, store_id: uuid.UUID) -> CircuitBreakerState | None:
    return await session.get(CircuitBreakerState, store_id)
