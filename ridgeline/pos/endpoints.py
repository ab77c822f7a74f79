"""HTTP surface of a store's POS connection."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ridgeline.api.dependencies import (
    AuditDep,
    ClockDep,
    DatabaseDep,
    PosConnectorDep,
    SessionDep,
)
from ridgeline.api.schemas import Envelope, envelope
from ridgeline.audit.service import REDACTED
from ridgeline.auth.dependencies import OrgAdminDep, StoreManagerDep, ViewerDep
from ridgeline.errors import RecoveryInProgress
from ridgeline.health import service as health
from ridgeline.health.recovery import start_recovery
from ridgeline.health.repository import mark_connection_reset
from ridgeline.models.health import RecoveryTrigger
from ridgeline.pos import service
from ridgeline.pos.credentials import CredentialsUnreadable
from ridgeline.pos.schemas import (
    BreakerCommand,
    BreakerView,
    PosReset,
    PosTestResult,
    StorePosOut,
    StorePosUpdate,
)
from ridgeline.stores.service import get_store

router = APIRouter(prefix="/api/v1", tags=["pos"])


@router.put("/stores/{store_id}/pos")
async def configure_store_pos(
    store_id: uuid.UUID,
    body: StorePosUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    connector: PosConnectorDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[StorePosOut]:
    """Set the store's POS provider and credentials. They are validated against the provider's
    model, stored encrypted, and never returned: the answer shows secrets as `********`.
    Saving them ends a refusal of the old ones and starts a recovery run at once
    (`recovery_run_id`: test, sync, drain the order queue)."""
    before = service.describe(await get_store(session, caller.scope, store_id), connector.cipher)
    store, _ = await service.configure(
        session, caller.scope, store_id, body, cipher=connector.cipher, now=clock.now()
    )
    await health.credentials_saved(session, store, now=clock.now())
    view = service.describe(store, connector.cipher)
    try:
        run = await start_recovery(
            session,
            store,
            RecoveryTrigger.CREDENTIALS_UPDATED,
            clock=clock,
            actor=f"operator:{caller.operator_id}",
        )
        view.recovery_run_id = run.id
    except RecoveryInProgress as exc:
        # The running one reads the store afresh at each step: it uses these credentials.
        running = exc.details.get("recovery_run_id")  # the error's details are JSON: a str
        view.recovery_run_id = uuid.UUID(str(running)) if running else None
    await audit.record(
        caller,
        "pos.configure",
        organization_id=store.organization_id,
        store_id=store.id,
        before=_configuration(before),
        # Secrets are masked on both sides, so a change of secrets alone would not show: the
        # event says credentials were saved, never what they are.
        after={**_configuration(view), "credentials_saved": REDACTED},
    )
    return envelope(view)


def _configuration(view: StorePosOut) -> dict[str, object]:
    return view.model_dump(include={"provider", "config", "credentials_refused_at"})


@router.get("/stores/{store_id}/pos")
async def get_store_pos(
    store_id: uuid.UUID, caller: ViewerDep, session: SessionDep, connector: PosConnectorDep
) -> Envelope[StorePosOut]:
    """The store's POS provider, redacted settings, circuit breaker state and latest calls."""
    store = await get_store(session, caller.scope, store_id)
    view = service.describe(store, connector.cipher)
    if store.pos_provider is not None:
        view.breaker = await connector.breaker_view(store.id)
        view.recent_calls = await service.recent_calls(session, caller.scope, store.id)
    return envelope(view)


@router.post("/stores/{store_id}/pos/breaker")
async def command_store_breaker(
    store_id: uuid.UUID,
    body: BreakerCommand,
    caller: OrgAdminDep,
    database: DatabaseDep,
    connector: PosConnectorDep,
    audit: AuditDep,
) -> Envelope[BreakerView]:
    """Force the store's circuit breaker open (stop every POS call), disable it (let every call
    through), or reset it to closed. Forced and disabled states stay until reset."""
    async with database.transaction(write=False) as session:
        store = await get_store(session, caller.scope, store_id)
    breaker = connector.breakers.for_store(store.id)
    before = await connector.breaker_view(store.id)
    actor = f"operator:{caller.operator_id}"
    if body.action == "force_open":
        await breaker.force_open(actor=actor)
    elif body.action == "disable":
        await breaker.disable(actor=actor)
    else:
        await breaker.reset(actor=actor)
    after = await connector.breaker_view(store.id)
    # The breaker commits its own state; the event follows in the request's transaction.
    await audit.record(
        caller,
        f"pos.breaker.{body.action}",
        organization_id=store.organization_id,
        store_id=store.id,
        before=before,
        after=after,
    )
    return envelope(after)


@router.post("/stores/{store_id}/pos/test")
async def test_store_pos(
    store_id: uuid.UUID,
    caller: StoreManagerDep,
    database: DatabaseDep,
    connector: PosConnectorDep,
    audit: AuditDep,
) -> Envelope[PosTestResult]:
    """Check the credentials and that the POS answers, through the same resilient client as
    every other call. A failed check is a normal answer with `ok: false` and a `diagnosis`:
    `bad_credentials`, `unreachable`, `rate_limited`, `circuit_open`, `pos_error`,
    `protocol_error` or `credentials_unreadable`."""
    # A read-only transaction, closed before calling the POS: the breaker and call log write in
    # their own transactions, which on SQLite would wait on a write lock held by this request.
    async with database.transaction(write=False) as session:
        store = await get_store(session, caller.scope, store_id)
    try:
        # An operator may test credentials the POS refused (access restored at the POS).
        adapter = connector.adapter_for(store, refused_ok=True)
    except CredentialsUnreadable:
        result = service.unreadable_credentials_result()
    else:
        result = await service.run_connection_test(adapter)
    await audit.record(
        caller,
        "pos.test",
        organization_id=store.organization_id,
        store_id=store.id,
        after=result,
    )
    return envelope(result)


@router.post("/stores/{store_id}/pos/reset")
async def reset_store_pos(
    store_id: uuid.UUID,
    caller: StoreManagerDep,
    database: DatabaseDep,
    connector: PosConnectorDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[PosReset]:
    """Reset the store's POS connection: drop its pooled connections, its cached adapter and
    the tokens it holds, in this process at once and in every other at its next call. The
    circuit breaker is left as it is (`POST .../pos/breaker` resets it)."""
    async with database.transaction() as session:
        store = await get_store(session, caller.scope, store_id)
        now = clock.now()
        await mark_connection_reset(session, store.id, now)
    outcome = await connector.reset(store)
    reset = PosReset(
        reset_at=now, adapters_dropped=outcome.adapters_dropped, pool_dropped=outcome.pool_dropped
    )
    await audit.record(
        caller,
        "pos.reset",
        organization_id=store.organization_id,
        store_id=store.id,
        after=reset,
    )
    return envelope(reset)
