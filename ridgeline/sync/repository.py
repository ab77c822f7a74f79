"""Queries of the sync domain. Jobs act for the system: they read one store's rows through a
scope built from that store (`store_scope`), and only the scheduler looks across tenants."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.base import table_of
from ridgeline.db.tenancy import TenantScope, scoped
from ridgeline.models.catalog import Product, ProductEnrichment, ProductVariant
from ridgeline.models.health import StoreHealth
from ridgeline.models.job import Job, JobStatus
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState, SyncIssue, SyncKind, SyncRun, SyncStatus

SYNC_JOB = "sync.run"
_WAITING_JOBS = (JobStatus.QUEUED, JobStatus.FAILED, JobStatus.RUNNING)


def store_scope(store: Store) -> TenantScope:
    return TenantScope(organization_id=store.organization_id, store_ids=frozenset({store.id}))


def sync_dedupe_prefix(store_id: uuid.UUID, kind: SyncKind) -> str:
    return f"{SYNC_JOB}:{store_id}:{kind.value}:"


async def store_for_system(session: AsyncSession, store_id: uuid.UUID) -> Store | None:
    """The store a job names: the system may act on any tenant's store."""
    statement = scoped(select(Store), Store, TenantScope.everything()).where(Store.id == store_id)
    return (await session.scalars(statement)).one_or_none()


async def sync_state(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> StoreSyncState | None:
    statement = scoped(select(StoreSyncState), StoreSyncState, scope).where(
        StoreSyncState.store_id == store_id
    )
    return (await session.scalars(statement)).one_or_none()


async def running_run(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID, kind: SyncKind
) -> SyncRun | None:
    statement = scoped(select(SyncRun), SyncRun, scope).where(
        SyncRun.store_id == store_id, SyncRun.kind == kind, SyncRun.status == SyncStatus.RUNNING
    )
    return (await session.scalars(statement)).one_or_none()


async def sync_job_waiting(session: AsyncSession, store_id: uuid.UUID, kind: SyncKind) -> bool:
    """Whether a `sync.run` of this store and kind is queued, waiting to retry, or running."""
    statement = select(Job.id).where(
        Job.kind == SYNC_JOB,
        Job.status.in_(_WAITING_JOBS),
        Job.dedupe_key.like(sync_dedupe_prefix(store_id, kind) + "%"),
    )
    return (await session.scalars(statement.limit(1))).first() is not None


async def run_started_since(
    session: AsyncSession, store_id: uuid.UUID, kinds: Iterable[SyncKind], since: datetime
) -> SyncRun | None:
    """A finished run of one of `kinds` that started at or after `since`: it read the POS after
    anything the POS pushed before `since` (a pushed event's `received_at`)."""
    statement = (
        scoped(select(SyncRun), SyncRun, TenantScope.everything())
        .where(
            SyncRun.store_id == store_id,
            SyncRun.started_at >= since,
            SyncRun.kind.in_(list(kinds)),
            SyncRun.status != SyncStatus.RUNNING,
        )
        .order_by(SyncRun.started_at)
        .limit(1)
    )
    return (await session.scalars(statement)).first()


async def run_in_progress(
    session: AsyncSession, store_id: uuid.UUID, kinds: Iterable[SyncKind], alive_since: datetime
) -> bool:
    """Whether a run of one of `kinds` holds the store's lock and heartbeat since `alive_since`
    (an older one lost its worker: the engine abandons it when the next run starts)."""
    statement = scoped(select(SyncRun.id), SyncRun, TenantScope.everything()).where(
        SyncRun.store_id == store_id,
        SyncRun.kind.in_(list(kinds)),
        SyncRun.status == SyncStatus.RUNNING,
        SyncRun.heartbeat_at >= alive_since,
    )
    return (await session.scalars(statement.limit(1))).first() is not None


@dataclass(frozen=True, slots=True)
class KnownProduct:
    id: uuid.UUID
    content_hash: str
    is_active: bool


async def known_products(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> dict[str, KnownProduct]:
    """Every product of the store by external id: only what deciding a change needs."""
    statement = (
        scoped(select(Product.id), Product, scope)
        .with_only_columns(Product.external_id, Product.id, Product.content_hash, Product.is_active)
        .where(Product.store_id == store_id)
    )
    rows = (await session.execute(statement)).all()
    return {row.external_id: KnownProduct(row.id, row.content_hash, row.is_active) for row in rows}


async def products_by_id(
    session: AsyncSession, scope: TenantScope, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Product]:
    wanted = list(ids)
    if not wanted:
        return {}
    statement = scoped(select(Product), Product, scope).where(Product.id.in_(wanted))
    return {product.id: product for product in (await session.scalars(statement)).all()}


async def enrichments_of(
    session: AsyncSession, scope: TenantScope, product_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ProductEnrichment]:
    """Operator enrichment of these products (read for the kiosk view of events, never written)."""
    wanted = list(product_ids)
    if not wanted:
        return {}
    statement = scoped(select(ProductEnrichment), ProductEnrichment, scope).where(
        ProductEnrichment.product_id.in_(wanted)
    )
    return {row.product_id: row for row in (await session.scalars(statement)).all()}


async def variants_of(
    session: AsyncSession, scope: TenantScope, product_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[ProductVariant]]:
    wanted = list(product_ids)
    found: dict[uuid.UUID, list[ProductVariant]] = {product_id: [] for product_id in wanted}
    if not wanted:
        return found
    statement = (
        scoped(select(ProductVariant), ProductVariant, scope)
        .where(ProductVariant.product_id.in_(wanted))
        .order_by(ProductVariant.position)
    )
    for variant in (await session.scalars(statement)).all():
        found[variant.product_id].append(variant)
    return found


async def insert_products(
    session: AsyncSession,
    products: Sequence[Mapping[str, Any]],
    variants: Sequence[Mapping[str, Any]],
) -> None:
    """Inserts new products and then their variants (column name to value, ids included), one
    executemany per table for the whole batch.

    Core inserts on the tables, every row with the same columns: the ORM's bulk insert leaves
    out each row's None values, splitting a batch into one statement per pattern of missing
    fields (hundreds for a real catalog). The stored values are the same either way."""
    await session.execute(insert(table_of(Product)), products)
    await session.execute(insert(table_of(ProductVariant)), variants)


async def deactivate_products(
    session: AsyncSession, scope: TenantScope, product_ids: Sequence[uuid.UUID], *, at: datetime
) -> None:
    """Hides these products in one statement (a sync's deactivation batch without events)."""
    if not product_ids:
        return
    await session.execute(
        scoped(update(Product), Product, scope)
        .where(Product.id.in_(list(product_ids)))
        .values(is_active=False, synced_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )


async def set_stock(
    session: AsyncSession, variant_id: uuid.UUID, quantity: int, *, at: datetime
) -> None:
    """Sets a variant's stock, without loading it (nor touching one the session holds)."""
    await session.execute(
        update(ProductVariant)
        .where(ProductVariant.id == variant_id)
        .values(quantity_available=quantity, inventory_updated_at=at)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class StockRow:
    variant_id: uuid.UUID
    product_id: uuid.UUID
    product_external_id: str
    variant_external_id: str
    quantity: int


async def stock_rows(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> list[StockRow]:
    """Every variant of the store's active products with its stock and its product's POS id."""
    statement = (
        scoped(select(ProductVariant.id), ProductVariant, scope)
        .with_only_columns(
            ProductVariant.id,
            ProductVariant.product_id,
            Product.external_id,
            ProductVariant.external_id.label("variant_external_id"),
            ProductVariant.quantity_available,
        )
        .join(Product, Product.id == ProductVariant.product_id)
        .where(ProductVariant.store_id == store_id, Product.is_active.is_(True))
    )
    return [
        StockRow(row[0], row[1], row[2], row[3], row[4])
        for row in (await session.execute(statement)).all()
    ]


def sync_runs(
    scope: TenantScope, store_id: uuid.UUID, *, status: SyncStatus | None = None
) -> Select[SyncRun]:
    statement = scoped(select(SyncRun), SyncRun, scope).where(SyncRun.store_id == store_id)
    if status is not None:
        statement = statement.where(SyncRun.status == status)
    return statement


async def sync_run(
    session: AsyncSession, scope: TenantScope, sync_run_id: uuid.UUID
) -> SyncRun | None:
    statement = scoped(select(SyncRun), SyncRun, scope).where(SyncRun.id == sync_run_id)
    return (await session.scalars(statement)).one_or_none()


async def touch_run(
    session: AsyncSession, scope: TenantScope, sync_run_id: uuid.UUID, *, at: datetime
) -> None:
    """Moves a running run's heartbeat, without loading it (a batch does this in its own
    transaction: part of the catalog index's version, see catalog/service.py)."""
    await session.execute(
        scoped(update(SyncRun), SyncRun, scope)
        .where(SyncRun.id == sync_run_id)
        .values(heartbeat_at=at, updated_at=at)
        .execution_options(synchronize_session=False)
    )


def sync_issues(
    scope: TenantScope, store_id: uuid.UUID, *, sync_run_id: uuid.UUID | None = None
) -> Select[SyncIssue]:
    statement = scoped(select(SyncIssue), SyncIssue, scope).where(SyncIssue.store_id == store_id)
    if sync_run_id is not None:
        statement = statement.where(SyncIssue.sync_run_id == sync_run_id)
    return statement


async def due_states(session: AsyncSession, now: datetime) -> Sequence[StoreSyncState]:
    """Every store's sync state with a catalog or inventory sync due, except stores whose POS
    refused their credentials or that an operator paused (nothing automatic calls their POS):
    the scheduler acts for the whole system, hence the unrestricted scope."""
    everything = TenantScope.everything()
    held = scoped(select(Store.id), Store, everything).where(
        Store.pos_credentials_refused_at.is_not(None)
    )
    paused = scoped(select(StoreHealth.store_id), StoreHealth, everything).where(
        StoreHealth.paused_at.is_not(None)
    )
    statement = scoped(select(StoreSyncState), StoreSyncState, everything).where(
        (StoreSyncState.next_catalog_sync_at <= now)
        | (StoreSyncState.next_inventory_sync_at <= now),
        StoreSyncState.store_id.not_in(held),
        StoreSyncState.store_id.not_in(paused),
    )
    return (await session.scalars(statement)).all()


@dataclass(frozen=True, slots=True)
class PollPeers:
    """A store's POS provider and how many stores of its organization use that provider: the
    stores a vendor's retailer-wide limits count together (sync/polling.py)."""

    provider: str
    retailer_stores: int


async def poll_peers(
    session: AsyncSession, store_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PollPeers]:
    """`PollPeers` of each of these stores that has a POS (system-wide, for the scheduler)."""
    everything = TenantScope.everything()
    wanted = list(store_ids)
    if not wanted:
        return {}
    stores = (
        await session.execute(
            scoped(select(Store.id), Store, everything)
            .add_columns(Store.organization_id, Store.pos_provider)
            .where(Store.id.in_(wanted), Store.pos_provider.is_not(None))
        )
    ).all()
    organizations = {row.organization_id for row in stores}
    counts = (
        await session.execute(
            scoped(select(Store.organization_id), Store, everything)
            .add_columns(Store.pos_provider, func.count())
            .where(Store.organization_id.in_(organizations), Store.pos_provider.is_not(None))
            .group_by(Store.organization_id, Store.pos_provider)
        )
    ).all()
    per_retailer = {(row[0], row[1]): int(row[2]) for row in counts}
    return {
        row.id: PollPeers(
            row.pos_provider, per_retailer.get((row.organization_id, row.pos_provider), 1)
        )
        for row in stores
    }


async def stores_without_state(session: AsyncSession) -> Sequence[Store]:
    """Stores with a POS configured that have never been scheduled (system-wide)."""
    everything = TenantScope.everything()
    has_state = scoped(select(StoreSyncState.store_id), StoreSyncState, everything).where(
        StoreSyncState.store_id == Store.id
    )
    statement = scoped(select(Store), Store, everything).where(
        Store.pos_provider.is_not(None), ~has_state.exists()
    )
    return (await session.scalars(statement)).all()


async def ensure_sync_state(session: AsyncSession, store: Store, *, due_at: datetime) -> None:
    """Creates the store's sync state (first catalog and inventory syncs due at `due_at`) unless
    it exists; ON CONFLICT so that concurrent creators do not fail each other's transaction."""
    values = {
        "store_id": store.id,
        "organization_id": store.organization_id,
        "next_catalog_sync_at": due_at,
        "next_inventory_sync_at": due_at,
        "field_mapping": {},
        "updated_at": due_at,
    }
    dialect = session.get_bind().dialect.name
    create = pg_insert(StoreSyncState) if dialect == "postgresql" else sqlite_insert(StoreSyncState)
    await session.execute(create.values(**values).on_conflict_do_nothing())


async def delete_idle_runs(session: AsyncSession, *, finished_before: datetime) -> int:
    """Deletes succeeded runs that changed nothing and left no issue, finished before
    `finished_before`; returns how many. System-wide: the retention acts for every tenant."""
    everything = TenantScope.everything()
    with_issue = scoped(select(SyncIssue.id), SyncIssue, everything).where(
        SyncIssue.sync_run_id == SyncRun.id
    )
    statement = scoped(delete(SyncRun), SyncRun, everything).where(
        SyncRun.status == SyncStatus.SUCCEEDED,
        SyncRun.finished_at < finished_before,
        SyncRun.created == 0,
        SyncRun.updated == 0,
        SyncRun.deactivated == 0,
        ~with_issue.exists(),
    )
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
