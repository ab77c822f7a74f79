"""The operator console's fleet: every store the caller sees with what support looks at first
(state, breaker, last sync, kiosks online, queued orders, firing alerts), filtered and paged.

The database work does not grow with the page: one statement for the page of stores (with
their health, breaker and sync state joined), one grouped statement per kind of evidence for
all of the page's stores, and one for the counts; presence is read for the whole page in one
call (one Redis round trip in scaled mode). Stores the state machine has not judged yet are
listed with `state: null` (`unjudged` in filters and counts): this read judges nothing.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Collection, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import ValidationFailed
from ridgeline.health import repository
from ridgeline.health.schemas import (
    FleetAlerts,
    FleetBreaker,
    FleetOverviewCounts,
    FleetOverviewMeta,
    FleetOverviewPage,
    FleetState,
    FleetStore,
    FleetSync,
    KiosksOnline,
    QueuedOrders,
)
from ridgeline.models.health import StoreConnectionState
from ridgeline.realtime.state import CableState

log = structlog.get_logger(__name__)

# Worst first; a severity not listed here ranks below all of them.
SEVERITY_ORDER = ("critical", "warning", "info")


def encode_cursor(store_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(store_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str) -> uuid.UUID:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (ValueError, binascii.Error):
        raise ValidationFailed.for_fields(
            [{"loc": ["query", "cursor"], "message": "Invalid cursor.", "type": "cursor"}]
        ) from None


def _state_filter(
    states: Sequence[FleetState] | None,
) -> tuple[frozenset[StoreConnectionState] | None, bool]:
    if not states:
        return None, False
    real = frozenset(StoreConnectionState(s.value) for s in states if s is not FleetState.UNJUDGED)
    return real, FleetState.UNJUDGED in states


def worst_severity(by_severity: dict[str, int]) -> str | None:
    present = [severity for severity, count in by_severity.items() if count > 0]
    if not present:
        return None
    rank = {severity: index for index, severity in enumerate(SEVERITY_ORDER)}
    return min(present, key=lambda severity: (rank.get(severity, len(rank)), severity))


async def connected_kiosks(state: CableState, store_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """The kiosks of these stores connected to /cable now, in one call. Presence is a live
    view: if it cannot be read, no kiosk counts as online (the answer does not fail)."""
    if not store_ids:
        return set()
    try:
        present = await state.present_many([str(store_id) for store_id in store_ids])
    except Exception:
        log.exception("presence_read_failed", stores=len(store_ids))
        return set()
    return {uuid.UUID(entry.kiosk_id) for entries in present.values() for entry in entries}


async def fleet_overview(
    session: AsyncSession,
    scope: TenantScope,
    presence: CableState,
    *,
    states: Sequence[FleetState] | None,
    q: str | None,
    limit: int,
    cursor: str | None,
) -> FleetOverviewPage:
    after = decode_cursor(cursor) if cursor else None
    wanted, unjudged = _state_filter(states)
    rows = await repository.fleet_stores(
        session,
        scope,
        states=wanted,
        unjudged=unjudged,
        name_contains=q,
        after=after,
        limit=limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    store_ids = [row.store_id for row in rows]
    counts = await repository.fleet_counts(session, scope)
    if store_ids:
        connected = await connected_kiosks(presence, store_ids)
        kiosks = await repository.fleet_kiosks(session, scope, store_ids, connected)
        waiting = await repository.fleet_waiting_orders(session, scope, store_ids)
        alerts = await repository.fleet_firing_alerts(session, scope, store_ids)
        syncs = await repository.fleet_latest_syncs(session, scope, store_ids)
    else:
        kiosks, waiting, alerts, syncs = {}, {}, {}, {}
    entries = []
    for row in rows:
        total, online, last_seen = kiosks.get(row.store_id, (0, 0, None))
        count, oldest = waiting.get(row.store_id, (0, None))
        by_severity = alerts.get(row.store_id, {})
        run = syncs.get(row.store_id)
        entries.append(
            FleetStore(
                store_id=row.store_id,
                name=row.name,
                organization_id=row.organization_id,
                pos_provider=row.pos_provider,
                state=row.state,
                cause=row.cause,
                since=row.since,
                next_recovery_at=row.next_recovery_at,
                breaker=FleetBreaker(
                    state=str(row.breaker_state) if row.breaker_state is not None else "closed",
                    open_until=row.open_until,
                ),
                last_sync=FleetSync(
                    kind=str(run.kind),
                    status=str(run.status),
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    error=run.error,
                )
                if run is not None
                else None,
                last_success_at=row.last_success_at,
                kiosks=KiosksOnline(online=online, total=total, last_heartbeat_at=last_seen),
                queued_orders=QueuedOrders(count=count, oldest_placed_at=oldest),
                firing_alerts=FleetAlerts(
                    count=sum(by_severity.values()), worst_severity=worst_severity(by_severity)
                ),
            )
        )
    by_state = {
        (state if state is not None else FleetState.UNJUDGED.value): count
        for state, count in counts.items()
    }
    return FleetOverviewPage(
        data=entries,
        meta=FleetOverviewMeta(
            next_cursor=encode_cursor(rows[-1].store_id) if more and rows else None,
            count=len(entries),
            counts=FleetOverviewCounts(**by_state),
        ),
    )
