"""A store's connection state, kept by the state machine of `health/state.py`.

`evaluate` gathers the signals that already exist (the POS call log, the breaker row, refused
credentials, the sync state), judges them, and when the state or its cause changes records the
transition, in the caller's transaction: the transition row, the health row, `store.status` on
the store's and the organization's streams, the alert for the cause (one per store and cause,
resolved when the cause goes), and the next automatic recovery. So a change and what it caused
commit together or not at all. It is called where the evidence changes: each recorded POS call
(`observe_call`), each breaker transition (`on_breaker_transition`, which also announces the
breaker's own change), each finished sync run, operator actions, and the periodic sweep for what
time alone changes (the offline threshold, a window ageing out, a catalog turning stale).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts.service import raise_alert, resolve_alerts
from ridgeline.health import repository
from ridgeline.health.metrics import (
    STORE_CONNECTION_STATE,
    STORE_CONNECTION_TRANSITIONS,
    STORE_TIME_TO_RECOVER,
)
from ridgeline.health.schemas import CatalogFreshness, StoreStatus
from ridgeline.health.state import (
    UNANSWERED_OUTCOMES,
    HealthCause,
    HealthThresholds,
    Judgment,
    Signals,
    Trigger,
    check_transition,
    judge,
    ordering_for,
    window_figures,
)
from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.models.health import StoreConnectionState, StoreHealth, StoreHealthTransition
from ridgeline.models.store import Store
from ridgeline.models.sync import StoreSyncState
from ridgeline.realtime import streams
from ridgeline.resilience.breaker_machine import Transition as BreakerTransition

log = structlog.get_logger(__name__)

ERROR = StoreConnectionState.ERROR
OFFLINE = StoreConnectionState.OFFLINE
# The first automatic recovery run starts this long after a store enters error or offline (or
# when its breaker next lets a probe through, if later).
FIRST_RECOVERY_DELAY_S = 10.0
# Causes no automatic run can fix: an operator must act (new credentials, reset the breaker).
MANUAL_CAUSES = frozenset({HealthCause.CREDENTIALS_REFUSED, HealthCause.BREAKER_FORCED_OPEN})
ALERTED_STATES = {
    ERROR: ("store_pos_error", "POS in error"),
    OFFLINE: ("store_pos_offline", "POS offline"),
}


def alert_prefix(store_id: uuid.UUID) -> str:
    return f"store_health:{store_id}:"


@dataclass(frozen=True, slots=True)
class HealthChange:
    store_id: uuid.UUID
    from_state: StoreConnectionState
    to_state: StoreConnectionState
    cause: str
    trigger: Trigger
    at: datetime


@dataclass(frozen=True, slots=True)
class ObservedCall:
    """What the state needs of one recorded POS attempt."""

    outcome: str
    status: int | None
    at: datetime
    # The stored credentials the call was made with (None: not known).
    credentials: str | None


async def observe_call(
    session: AsyncSession,
    *,
    store_id: uuid.UUID,
    outcome: str,
    status: int | None,
    at: datetime,
    credentials: str | None,
) -> HealthChange | None:
    """One recorded POS attempt: whether it reached the POS, whether the POS refused the
    credentials (then no automatic call uses them again), and what that does to the state."""
    return await observe_calls(session, store_id, [ObservedCall(outcome, status, at, credentials)])


async def observe_calls(
    session: AsyncSession, store_id: uuid.UUID, calls: Sequence[ObservedCall]
) -> HealthChange | None:
    """Recorded POS attempts of one store, oldest first (a batch of the call log, whose rows
    the caller wrote in this transaction): each moves the marks as it would alone (reached,
    unreachable since, credentials refused); the store is then judged once, at the last call."""
    if not calls:
        return None
    # Stores row before the health row, in every path, so two transactions never wait for each
    # other in opposite orders.
    for call in calls:
        refused = call.outcome == "POS_AUTH_FAILED" and call.credentials is not None
        if refused and await repository.mark_credentials_refused(
            session, store_id, call.credentials or "", call.at
        ):
            log.warning("pos_credentials_refused", store_id=str(store_id), status=call.status)
    row = await _health_row(session, store_id, calls[0].at)
    if row is None:
        return None
    for call in calls:
        if call.status is not None:
            row.last_reached_at = call.at
            row.unreachable_since = None
        elif call.outcome in UNANSWERED_OUTCOMES and row.unreachable_since is None:
            row.unreachable_since = call.at
    return await evaluate(session, store_id, now=calls[-1].at, trigger=Trigger.POS_CALL, row=row)


async def on_breaker_transition(session: AsyncSession, change: BreakerTransition) -> None:
    """The breaker's journal: runs in the transaction of its transition, so the new state,
    the store's state and the one `store.status` event that says both commit together."""
    await evaluate(session, change.store_id, now=change.at, trigger=Trigger.BREAKER, breaker=change)


async def evaluate(
    session: AsyncSession,
    store_id: uuid.UUID,
    *,
    now: datetime,
    trigger: Trigger,
    breaker: BreakerTransition | None = None,
    row: StoreHealth | None = None,
) -> HealthChange | None:
    """Judges the store now and records a transition if the state or its cause changed.
    `store.status` is announced on a transition, on a breaker transition and when the catalog
    turns stale or fresh. Returns the transition, if any."""
    store = await repository.store_for_system(session, store_id)
    if store is None:
        return None
    row = row or await _health_row(session, store_id, now)
    if row is None:
        return None
    thresholds = HealthThresholds.for_store(row.thresholds)
    sync_state = await repository.sync_state(session, store_id)
    judgment = await _judge(session, store, row, sync_state, thresholds, now)
    stale = catalog_stale(sync_state, now)
    change: HealthChange | None = None
    if (judgment.state, judgment.cause.value) != (row.state, row.cause):
        change = await _transition(session, store, row, judgment, trigger, now, sync_state)
    if change is not None or breaker is not None or stale != row.catalog_stale:
        row.catalog_stale = stale
        row.updated_at = now
        await announce(session, store, row, sync_state, now, breaker=breaker)
    _observe(store_id, row.state)
    return change


async def would_change(session: AsyncSession, store_id: uuid.UUID, *, now: datetime) -> bool:
    """Whether `evaluate` would record or announce anything now, read without a lock: the
    sweep asks this first so that a fleet where nothing changed costs no write transaction."""
    store = await repository.store_for_system(session, store_id)
    if store is None:
        return False
    row = await repository.health_of(session, repository.SYSTEM, store_id)
    if row is None:
        return True  # never judged: its row is created
    thresholds = HealthThresholds.for_store(row.thresholds)
    sync_state = await repository.sync_state(session, store_id)
    judgment = await _judge(session, store, row, sync_state, thresholds, now)
    if (judgment.state, judgment.cause.value) != (row.state, row.cause):
        return True
    return catalog_stale(sync_state, now) != row.catalog_stale


async def _health_row(
    session: AsyncSession, store_id: uuid.UUID, now: datetime
) -> StoreHealth | None:
    row = await repository.locked_health(session, store_id)
    if row is not None:
        return row
    store = await repository.store_for_system(session, store_id)
    if store is None:
        return None
    # A store judged for the first time starts in what it is: no transition is recorded.
    sync_state = await repository.sync_state(session, store_id)
    first = judge(
        _signals(store, None, CircuitState.CLOSED, [], sync_state, HealthThresholds(), now),
        HealthThresholds(),
        now,
        current=StoreConnectionState.CONNECTED,
        current_cause=HealthCause.OK.value,
    )
    return await repository.create_health(
        session,
        {
            "store_id": store.id,
            "organization_id": store.organization_id,
            "state": first.state.value,
            "cause": first.cause.value,
            "since": now,
            "evidence": {},
            "catalog_stale": catalog_stale(sync_state, now),
            "thresholds": {},
            "recovery_failures": 0,
            "updated_at": now,
        },
    )


def _signals(
    store: Store,
    row: StoreHealth | None,
    breaker: CircuitState,
    calls: list[Any],
    sync_state: StoreSyncState | None,
    thresholds: HealthThresholds,
    now: datetime,
) -> Signals:
    return Signals(
        configured=store.pos_provider is not None and store.pos_config_encrypted is not None,
        paused=row is not None and row.paused_at is not None,
        credentials_refused=store.pos_credentials_refused_at is not None,
        breaker=breaker,
        window=window_figures(calls, thresholds, now),
        unreachable_since=row.unreachable_since if row is not None else None,
        sync_failures=sync_state.consecutive_failures if sync_state is not None else 0,
    )


async def _judge(
    session: AsyncSession,
    store: Store,
    row: StoreHealth,
    sync_state: StoreSyncState | None,
    thresholds: HealthThresholds,
    now: datetime,
) -> Judgment:
    breaker_row = await repository.breaker_row(session, store.id)
    breaker = breaker_row.state if breaker_row is not None else CircuitState.CLOSED
    calls = await repository.recent_calls(session, store.id, limit=thresholds.window_calls * 2)
    signals = _signals(store, row, breaker, calls, sync_state, thresholds, now)
    return judge(signals, thresholds, now, current=row.state, current_cause=row.cause)


async def _transition(
    session: AsyncSession,
    store: Store,
    row: StoreHealth,
    judgment: Judgment,
    trigger: Trigger,
    now: datetime,
    sync_state: StoreSyncState | None,
) -> HealthChange:
    from_state = row.state
    check_transition(from_state, judgment.state, trigger)
    await repository.add_transition(
        session,
        StoreHealthTransition(
            organization_id=store.organization_id,
            store_id=store.id,
            at=now,
            from_state=from_state,
            to_state=judgment.state,
            cause=judgment.cause.value,
            trigger=trigger.value,
            evidence=judgment.evidence,
        ),
    )
    was_down = from_state in (ERROR, OFFLINE)
    down_since = row.since
    row.state = judgment.state
    row.cause = judgment.cause.value
    row.since = now
    row.evidence = judgment.evidence
    await _schedule_recovery(session, store, row, judgment, now)
    await _alert(session, store, row, judgment, now)
    STORE_CONNECTION_TRANSITIONS.labels(from_state.value, row.state.value, row.cause).inc()
    if was_down and row.state in (StoreConnectionState.CONNECTED, StoreConnectionState.DEGRADED):
        STORE_TIME_TO_RECOVER.observe((now - down_since).total_seconds())
        _sync_now(sync_state, now)
    is_worse = row.state in (ERROR, OFFLINE)
    (log.warning if is_worse else log.info)(
        "store_connection_state_changed",
        store_id=str(store.id),
        cause=row.cause,
        trigger=trigger.value,
        **{"from": from_state.value, "to": row.state.value},
    )
    return HealthChange(store.id, from_state, row.state, row.cause, trigger, now)


def _sync_now(sync_state: StoreSyncState | None, now: datetime) -> None:
    """The POS is back: the syncs that failed while it was away are due now, not at the end
    of their backoff (up to an hour), so the catalog catches up at once."""
    if sync_state is None:
        return
    for due in ("next_catalog_sync_at", "next_inventory_sync_at"):
        at = getattr(sync_state, due)
        if at is not None and at > now:
            setattr(sync_state, due, now)


async def _schedule_recovery(
    session: AsyncSession, store: Store, row: StoreHealth, judgment: Judgment, now: datetime
) -> None:
    if judgment.state in (ERROR, OFFLINE) and judgment.cause not in MANUAL_CAUSES:
        due = now + timedelta(seconds=FIRST_RECOVERY_DELAY_S)
        breaker = await repository.breaker_row(session, store.id)
        if breaker is not None and breaker.open_until is not None and breaker.open_until > due:
            due = breaker.open_until
        if row.next_recovery_at is None:
            row.recovery_failures = 0
            row.next_recovery_at = due
    else:
        row.next_recovery_at = None
        row.recovery_failures = 0


async def _alert(
    session: AsyncSession, store: Store, row: StoreHealth, judgment: Judgment, now: datetime
) -> None:
    """One alert per store and cause: the old cause's alert is resolved, the new one raised
    when the state is worth waking someone for."""
    await resolve_alerts(
        session,
        store.organization_id,
        alert_prefix(store.id),
        at=now,
        resolution=f"store is {row.state.value} ({row.cause})",
    )
    if judgment.state not in ALERTED_STATES:
        return
    kind, what = ALERTED_STATES[judgment.state]
    if judgment.cause is HealthCause.CREDENTIALS_REFUSED:
        kind, what = "store_credentials_refused", "POS refused the credentials"
    await raise_alert(
        session,
        organization_id=store.organization_id,
        store_id=store.id,
        kind=kind,
        title=f"{what}: {store.name}",
        message=describe_cause(judgment.cause),
        details={"state": judgment.state.value, "cause": judgment.cause.value, **judgment.evidence},
        at=now,
        dedup_key=f"{alert_prefix(store.id)}{judgment.cause.value}",
    )


CAUSE_TEXT = {
    HealthCause.OK: "Calls to the POS succeed.",
    HealthCause.PAUSED_BY_OPERATOR: "An operator paused the store's POS integration.",
    HealthCause.POS_NOT_CONFIGURED: "The store has no POS configured.",
    HealthCause.CREDENTIALS_REFUSED: (
        "The POS refused the store's credentials (401/403). No automatic call uses them again: "
        "regenerate them in the POS admin panel and save them with PUT /api/v1/stores/{id}/pos."
    ),
    HealthCause.POS_UNREACHABLE: (
        "No call has reached the POS for longer than the offline threshold (timeouts or refused "
        "connections): reconnection is retried with backoff."
    ),
    HealthCause.BREAKER_FORCED_OPEN: (
        "An operator forced the circuit breaker open: no call reaches the POS until it is reset."
    ),
    HealthCause.BREAKER_OPEN: (
        "The circuit breaker opened on failing calls: automatic recovery runs with backoff."
    ),
    HealthCause.FAILURE_RATE: "A raised share of calls to the POS fail; kiosks fall back.",
    HealthCause.RATE_LIMITED: "The POS is rate limiting this store.",
    HealthCause.SLOW_CALLS: "Calls to the POS are slow.",
    HealthCause.SYNC_FAILING: "Sync runs of this store have failed several times in a row.",
}


def describe_cause(cause: HealthCause | str) -> str:
    return CAUSE_TEXT.get(HealthCause(cause), str(cause))


def catalog_stale(sync_state: StoreSyncState | None, now: datetime) -> bool:
    if sync_state is None or sync_state.last_success_at is None:
        return True
    return (now - sync_state.last_success_at).total_seconds() > sync_state.stale_after_s


def status_of(
    store: Store, row: StoreHealth, sync_state: StoreSyncState | None, now: datetime
) -> StoreStatus:
    return StoreStatus(
        store_id=store.id,
        store_name=store.name,
        currency=store.currency,
        state=row.state,
        cause=row.cause,
        since=row.since,
        ordering=ordering_for(row.state).value,
        catalog=CatalogFreshness(
            stale=catalog_stale(sync_state, now),
            last_synced_at=sync_state.last_success_at if sync_state is not None else None,
        ),
    )


async def announce(
    session: AsyncSession,
    store: Store,
    row: StoreHealth,
    sync_state: StoreSyncState | None,
    now: datetime,
    *,
    breaker: BreakerTransition | None = None,
) -> None:
    """`store.status` on the store's stream (its kiosks) and the organization's (operators)."""
    data: dict[str, Any] = status_of(store, row, sync_state, now).model_dump(mode="json")
    breaker_row = await repository.breaker_row(session, store.id)
    data["circuit_breaker"] = (
        {
            "state": breaker.to_state.value,
            "from": breaker.from_state.value,
            "to": breaker.to_state.value,
            "reason": breaker.reason.value,
            "open_until": breaker.open_until.isoformat() if breaker.open_until else None,
            "actor": breaker.actor,
        }
        if breaker is not None
        else {
            "state": (breaker_row.state if breaker_row else CircuitState.CLOSED).value,
        }
    )
    await streams.append(
        session, streams.ops_stream(store.organization_id), "store.status", data, at=now
    )
    await streams.append(session, streams.store_stream(store.id), "store.status", data, at=now)


async def set_paused(
    session: AsyncSession,
    store_id: uuid.UUID,
    *,
    paused: bool,
    actor: str,
    reason: str | None,
    now: datetime,
) -> StoreHealth:
    """Pauses (or resumes) the store's POS integration: no sync, order or recovery call goes
    to its POS while paused, and kiosks are told ordering is paused."""
    row = await _health_row(session, store_id, now)
    assert row is not None  # the caller checked the store exists and is in scope
    if paused:
        row.paused_at, row.paused_by, row.pause_reason = now, actor, reason
    else:
        row.paused_at = row.paused_by = row.pause_reason = None
    await evaluate(session, store_id, now=now, trigger=Trigger.OPERATOR, row=row)
    return row


async def credentials_saved(session: AsyncSession, store: Store, *, now: datetime) -> None:
    """New credentials: they are not refused (yet), and the state follows."""
    store.pos_credentials_refused_at = None
    await session.flush()
    await evaluate(session, store.id, now=now, trigger=Trigger.CREDENTIALS)


def _observe(store_id: uuid.UUID, state: StoreConnectionState) -> None:
    store = str(store_id)
    for each in StoreConnectionState:
        STORE_CONNECTION_STATE.labels(store, each.value).set(1 if each is state else 0)
