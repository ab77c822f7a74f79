"""Queries of the health domain: the readiness ping, and a store's connection state, its
transitions and recovery runs. The state machine acts for the system (`TenantScope.everything`);
what operators read goes through their scope."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, false, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ridgeline.alerts.lifecycle import AlertState
from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.health.state import CallSample
from ridgeline.models.circuit_breaker import CircuitBreakerState, CircuitState
from ridgeline.models.health import (
    RecoveryRun,
    RecoveryStatus,
    StoreConnectionState,
    StoreHealth,
    StoreHealthTransition,
)
from ridgeline.models.kiosk import Kiosk, KioskStatus
from ridgeline.models.notification import AdminNotification
from ridgeline.models.order import Order, OrderStatus
from ridgeline.models.pos_call import PosCall
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState, SyncIssue, SyncKind, SyncRun, SyncStatus

SYSTEM = TenantScope.everything()


async def ping(connection: AsyncConnection) -> None:
    """One round trip: raises what the driver raises when the database does not answer."""
    await connection.execute(text("SELECT 1"))


async def store_for_system(session: AsyncSession, store_id: uuid.UUID) -> Store | None:
    statement = scoped(select(Store), Store, SYSTEM).where(Store.id == store_id)
    return (await session.scalars(statement)).one_or_none()


def _health_row(store_id: uuid.UUID) -> Select[StoreHealth]:
    return (
        scoped(select(StoreHealth), StoreHealth, SYSTEM)
        .where(StoreHealth.store_id == store_id)
        .with_for_update()
    )


async def locked_health(session: AsyncSession, store_id: uuid.UUID) -> StoreHealth | None:
    """The store's health row, locked until the transaction ends (on SQLite the write
    transaction already holds the database)."""
    return (await session.scalars(_health_row(store_id))).one_or_none()


async def create_health(session: AsyncSession, values: dict[str, Any]) -> StoreHealth:
    """Inserts the row unless another transaction just did, and returns it locked."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(StoreHealth)
        .values(values)
        .on_conflict_do_nothing(index_elements=["store_id"])
    )
    return (await session.scalars(_health_row(values["store_id"]))).one()


async def health_of(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> StoreHealth | None:
    statement = scoped(select(StoreHealth), StoreHealth, scope).where(
        StoreHealth.store_id == store_id
    )
    return (await session.scalars(statement)).one_or_none()


async def mark_credentials_refused(
    session: AsyncSession, store_id: uuid.UUID, ciphertext: str, at: datetime
) -> bool:
    """Marks the store's credentials refused, if they are still the ones the call used.
    True when it changed something."""
    result = await session.execute(
        update(Store)
        .where(
            Store.id == store_id,
            Store.pos_config_encrypted == ciphertext,
            Store.pos_credentials_refused_at.is_(None),
        )
        .values(pos_credentials_refused_at=at)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


async def recent_calls(
    session: AsyncSession, store_id: uuid.UUID, *, limit: int
) -> list[CallSample]:
    """The store's last `limit` recorded POS attempts, newest first."""
    statement = (
        scoped(select(PosCall), PosCall, SYSTEM)
        .where(PosCall.store_id == store_id)
        .order_by(PosCall.at.desc())
        .limit(limit)
    )
    return [
        CallSample(
            at=call.at, outcome=call.outcome, status=call.status, duration_ms=call.duration_ms
        )
        for call in (await session.scalars(statement)).all()
    ]


async def breaker_row(session: AsyncSession, store_id: uuid.UUID) -> CircuitBreakerState | None:
    """The store's breaker row as this transaction sees it (its own changes included)."""
    return await session.get(CircuitBreakerState, store_id)


async def sync_state(session: AsyncSession, store_id: uuid.UUID) -> StoreSyncState | None:
    statement = scoped(select(StoreSyncState), StoreSyncState, SYSTEM).where(
        StoreSyncState.store_id == store_id
    )
    return (await session.scalars(statement)).one_or_none()


async def add_transition(session: AsyncSession, transition: StoreHealthTransition) -> None:
    session.add(transition)


def transitions(scope: TenantScope, store_id: uuid.UUID) -> Select[StoreHealthTransition]:
    return scoped(select(StoreHealthTransition), StoreHealthTransition, scope).where(
        StoreHealthTransition.store_id == store_id
    )


async def latest_transitions(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, limit: int
) -> Sequence[StoreHealthTransition]:
    statement = (
        transitions(scope, store_id)
        .order_by(StoreHealthTransition.at.desc(), StoreHealthTransition.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def fleet_page(
    session: AsyncSession,
    scope: TenantScope,
    *,
    state: StoreConnectionState | None,
    cause: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> Sequence[StoreHealth]:
    """The health rows `scope` may see, optionally in one state and of one cause, by store id
    after `after`."""
    statement = scoped(select(StoreHealth), StoreHealth, scope)
    if state is not None:
        statement = statement.where(StoreHealth.state == state)
    if cause is not None:
        statement = statement.where(StoreHealth.cause == cause)
    if after is not None:
        statement = statement.where(StoreHealth.store_id > after)
    return (await session.scalars(statement.order_by(StoreHealth.store_id).limit(limit))).all()


async def counts_by_state(session: AsyncSession, scope: TenantScope) -> dict[str, int]:
    statement = (
        scoped(select(StoreHealth), StoreHealth, scope)
        .with_only_columns(StoreHealth.state, func.count())
        .group_by(StoreHealth.state)
    )
    return {str(state): count for state, count in (await session.execute(statement)).all()}


async def stores_without_health(session: AsyncSession) -> Sequence[Store]:
    """Stores the state machine has not judged yet (new, or from before it existed)."""
    judged = scoped(select(StoreHealth.store_id), StoreHealth, SYSTEM)
    statement = scoped(select(Store), Store, SYSTEM).where(Store.id.not_in(judged))
    return (await session.scalars(statement)).all()


async def health_store_ids(session: AsyncSession) -> Sequence[uuid.UUID]:
    statement = scoped(select(StoreHealth.store_id), StoreHealth, SYSTEM)
    return (await session.scalars(statement)).all()


async def due_recoveries(session: AsyncSession, now: datetime) -> Sequence[uuid.UUID]:
    statement = scoped(select(StoreHealth.store_id), StoreHealth, SYSTEM).where(
        StoreHealth.next_recovery_at.is_not(None), StoreHealth.next_recovery_at <= now
    )
    return (await session.scalars(statement)).all()


# Recovery runs


def recovery_runs(scope: TenantScope, store_id: uuid.UUID) -> Select[RecoveryRun]:
    return scoped(select(RecoveryRun), RecoveryRun, scope).where(RecoveryRun.store_id == store_id)


async def recovery_run(session: AsyncSession, run_id: uuid.UUID) -> RecoveryRun | None:
    statement = scoped(select(RecoveryRun), RecoveryRun, SYSTEM).where(RecoveryRun.id == run_id)
    return (await session.scalars(statement)).one_or_none()


async def running_recovery(session: AsyncSession, store_id: uuid.UUID) -> RecoveryRun | None:
    statement = scoped(select(RecoveryRun), RecoveryRun, SYSTEM).where(
        RecoveryRun.store_id == store_id, RecoveryRun.status == RecoveryStatus.RUNNING
    )
    return (await session.scalars(statement)).one_or_none()


async def insert_running_recovery(
    session: AsyncSession, values: dict[str, Any]
) -> RecoveryRun | None:
    """Inserts a running run unless the store has one (the partial unique index): ON CONFLICT
    DO NOTHING, so the transaction stays usable. Returns the new run, or None."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    result = await session.execute(
        dialect.insert(RecoveryRun)
        .values(values)
        .on_conflict_do_nothing(index_elements=["store_id"], index_where=text("status = 'running'"))
        .returning(RecoveryRun.id)
    )
    if result.scalar_one_or_none() is None:
        return None
    return await recovery_run(session, values["id"])


async def latest_recovery(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> RecoveryRun | None:
    statement = (
        recovery_runs(scope, store_id)
        .order_by(RecoveryRun.started_at.desc(), RecoveryRun.id)
        .limit(1)
    )
    return (await session.scalars(statement)).one_or_none()


# Evidence for operators


async def latest_sync_runs(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, limit: int
) -> Sequence[SyncRun]:
    statement = (
        scoped(select(SyncRun), SyncRun, scope)
        .where(SyncRun.store_id == store_id)
        .order_by(SyncRun.started_at.desc(), SyncRun.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def kiosks_of(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> Sequence[Kiosk]:
    statement = scoped(select(Kiosk), Kiosk, scope).where(Kiosk.store_id == store_id)
    return (await session.scalars(statement)).all()


async def waiting_orders(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> tuple[int, datetime | None]:
    """How many of the store's orders wait for the POS, and when the oldest was placed."""
    statement = (
        scoped(select(Order), Order, scope)
        .with_only_columns(func.count(), func.min(Order.created_at))
        .where(
            Order.store_id == store_id,
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.QUEUED)),
        )
    )
    count, oldest = (await session.execute(statement)).one()
    return int(count), oldest


async def mark_connection_reset(session: AsyncSession, store_id: uuid.UUID, at: datetime) -> None:
    """Moves the store's connection reset time: every process builds its adapter afresh."""
    await session.execute(
        update(Store)
        .where(Store.id == store_id)
        .values(pos_connection_reset_at=at)
        .execution_options(synchronize_session="fetch")
    )


# The doctor (`ridgeline doctor`)


async def call_counts_since(
    session: AsyncSession, store_id: uuid.UUID, since: datetime
) -> dict[tuple[str, str], int]:
    """The store's recorded POS attempts since `since`, counted by (endpoint class, outcome)."""
    statement = (
        scoped(select(PosCall), PosCall, SYSTEM)
        .with_only_columns(PosCall.endpoint, PosCall.outcome, func.count())
        .where(PosCall.store_id == store_id, PosCall.at >= since)
        .group_by(PosCall.endpoint, PosCall.outcome)
    )
    rows = (await session.execute(statement)).all()
    return {(endpoint, outcome): int(count) for endpoint, outcome, count in rows}


async def waiting_orders_oldest_first(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, *, limit: int
) -> Sequence[Order]:
    """The store's orders waiting for its POS (received or queued), oldest first."""
    statement = (
        scoped(select(Order), Order, scope)
        .where(
            Order.store_id == store_id,
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.QUEUED)),
        )
        .order_by(Order.created_at, Order.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


async def issues_of_runs(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    run_ids: Sequence[uuid.UUID],
    *,
    limit: int,
) -> tuple[int, Sequence[SyncIssue]]:
    """How many records these sync runs quarantined, and the first `limit` of them."""
    statement = scoped(select(SyncIssue), SyncIssue, scope).where(
        SyncIssue.store_id == store_id, SyncIssue.sync_run_id.in_(list(run_ids))
    )
    count = await session.scalar(statement.with_only_columns(func.count()))
    sample = await session.scalars(
        statement.order_by(SyncIssue.created_at, SyncIssue.id).limit(limit)
    )
    return int(count or 0), sample.all()


# The operator console's fleet (health/fleet.py): a page of stores in one statement, then one
# grouped statement per kind of evidence for the whole page, whatever its size.


@dataclass(frozen=True, slots=True)
class FleetStoreRow:
    store_id: uuid.UUID
    name: str
    organization_id: uuid.UUID
    pos_provider: str | None
    state: StoreConnectionState | None
    cause: str | None
    since: datetime | None
    next_recovery_at: datetime | None
    breaker_state: CircuitState | None
    open_until: datetime | None
    last_success_at: datetime | None


@dataclass(frozen=True, slots=True)
class FleetSyncRow:
    kind: SyncKind
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    error: str | None


async def fleet_stores(
    session: AsyncSession,
    scope: TenantScope,
    *,
    states: Collection[StoreConnectionState] | None,
    unjudged: bool,
    name_contains: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[FleetStoreRow]:
    """Up to `limit` stores by (name, id) after the store `after`, in one statement. `states`
    None: any state; otherwise those states, and stores without a health row if `unjudged`.
    A cursor store the caller no longer sees ends the list."""
    # Each store with its health, breaker and sync state (any may be missing: a new store
    # has none of them).
    statement = (
        scoped(select(Store), Store, scope)
        .with_only_columns(
            Store.id.label("store_id"),
            Store.name,
            Store.organization_id,
            Store.pos_provider,
            StoreHealth.state,
            StoreHealth.cause,
            StoreHealth.since,
            StoreHealth.next_recovery_at,
            CircuitBreakerState.state.label("breaker_state"),
            CircuitBreakerState.open_until,
            StoreSyncState.last_success_at,
        )
        .select_from(Store)
        .outerjoin(StoreHealth, StoreHealth.store_id == Store.id)
        .outerjoin(CircuitBreakerState, CircuitBreakerState.store_id == Store.id)
        .outerjoin(StoreSyncState, StoreSyncState.store_id == Store.id)
    )
    if states is not None:
        wanted = [StoreHealth.state.in_(list(states))] if states else []
        if unjudged:
            wanted.append(StoreHealth.store_id.is_(None))
        statement = statement.where(or_(*wanted) if wanted else false())
    if name_contains:
        statement = statement.where(
            func.lower(Store.name).contains(name_contains.lower(), autoescape=True)
        )
    if after is not None:
        anchor = scoped(select(Store), Store, scope).where(Store.id == after)
        name = anchor.with_only_columns(Store.name).scalar_subquery()
        statement = statement.where(
            or_(Store.name > name, and_(Store.name == name, Store.id > after))
        )
    statement = statement.order_by(Store.name, Store.id).limit(limit)
    return [FleetStoreRow(**row._asdict()) for row in (await session.execute(statement)).all()]


async def fleet_counts(session: AsyncSession, scope: TenantScope) -> dict[str | None, int]:
    """Every store `scope` sees, counted by connection state (None: not judged yet)."""
    statement = (
        scoped(select(Store), Store, scope)
        .with_only_columns(StoreHealth.state, func.count(Store.id))
        .select_from(Store)
        .outerjoin(StoreHealth, StoreHealth.store_id == Store.id)
        .group_by(StoreHealth.state)
    )
    rows = (await session.execute(statement)).all()
    return {(str(state) if state is not None else None): int(count) for state, count in rows}


async def fleet_kiosks(
    session: AsyncSession,
    scope: TenantScope,
    store_ids: Collection[uuid.UUID],
    connected: Collection[uuid.UUID],
) -> dict[uuid.UUID, tuple[int, int, datetime | None]]:
    """By store: (enabled kiosks, those of them in `connected`, the latest heartbeat)."""
    online = case((Kiosk.id.in_(list(connected)), 1), else_=0)
    statement = (
        scoped(select(Kiosk), Kiosk, scope)
        .with_only_columns(
            Kiosk.store_id, func.count(), func.sum(online), func.max(Kiosk.last_seen_at)
        )
        .where(Kiosk.store_id.in_(list(store_ids)), Kiosk.status == KioskStatus.ACTIVE)
        .group_by(Kiosk.store_id)
    )
    rows = (await session.execute(statement)).all()
    return {
        store_id: (int(total), int(on or 0), last_seen) for store_id, total, on, last_seen in rows
    }


async def fleet_waiting_orders(
    session: AsyncSession, scope: TenantScope, store_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, datetime | None]]:
    """By store: how many orders wait for the POS (received or queued), and the oldest's
    placing time."""
    statement = (
        scoped(select(Order), Order, scope)
        .with_only_columns(Order.store_id, func.count(), func.min(Order.created_at))
        .where(
            Order.store_id.in_(list(store_ids)),
            Order.status.in_((OrderStatus.RECEIVED, OrderStatus.QUEUED)),
        )
        .group_by(Order.store_id)
    )
    rows = (await session.execute(statement)).all()
    return {store_id: (int(count), oldest) for store_id, count, oldest in rows}


async def fleet_firing_alerts(
    session: AsyncSession, scope: TenantScope, store_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """By store: its unresolved alerts that fired (firing or acknowledged), by severity."""
    statement = (
        scoped(select(AdminNotification), AdminNotification, scope)
        .with_only_columns(AdminNotification.store_id, AdminNotification.severity, func.count())
        .where(
            AdminNotification.store_id.in_(list(store_ids)),
            AdminNotification.resolved_at.is_(None),
            AdminNotification.state.in_((AlertState.FIRING.value, AlertState.ACKNOWLEDGED.value)),
        )
        .group_by(AdminNotification.store_id, AdminNotification.severity)
    )
    found: dict[uuid.UUID, dict[str, int]] = {}
    for store_id, severity, count in (await session.execute(statement)).all():
        if store_id is not None:
            found.setdefault(store_id, {})[severity] = int(count)
    return found


async def fleet_latest_syncs(
    session: AsyncSession, scope: TenantScope, store_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, FleetSyncRow]:
    """By store: its latest sync run (any kind, running ones included), in one statement (a
    window function: SQLite and PostgreSQL both have them)."""
    rank = func.row_number().over(
        partition_by=SyncRun.store_id, order_by=(SyncRun.started_at.desc(), SyncRun.id.desc())
    )
    ranked = (
        scoped(select(SyncRun), SyncRun, scope)
        .with_only_columns(
            SyncRun.store_id,
            SyncRun.kind,
            SyncRun.status,
            SyncRun.started_at,
            SyncRun.finished_at,
            SyncRun.error,
            rank.label("rank"),
        )
        .where(SyncRun.store_id.in_(list(store_ids)))
        .subquery()
    )
    statement = select(ranked).where(ranked.c.rank == 1)
    return {
        store_id: FleetSyncRow(kind, status, started_at, finished_at, error)
        for store_id, kind, status, started_at, finished_at, error, _ in (
            await session.execute(statement)
        ).all()
    }
