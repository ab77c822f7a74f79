"""HTTP surface of a store's POS connection."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from ridgeline.api.dependencies import ClockDep, DatabaseDep, PosConnectorDep, SessionDep
from ridgeline.api.schemas import Envelope, envelope
from ridgeline.auth.dependencies import OrgAdminDep, StoreManagerDep, ViewerDep
from ridgeline.pos import service
from ridgeline.pos.credentials import CredentialsUnreadable
from ridgeline.pos.schemas import (
    BreakerCommand,
    BreakerView,
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
) -> Envelope[StorePosOut]:
    """Set the store's POS provider and credentials. They are validated against the provider's
    model, stored encrypted, and never returned: the answer shows secrets as `********`."""
    store, _ = await service.configure(
        session, caller.scope, store_id, body, cipher=connector.cipher, now=clock.now()
    )
    return envelope(service.describe(store, connector.cipher))


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
) -> Envelope[BreakerView]:
    """Force the store's circuit breaker open (stop every POS call), disable it (let every call
    through), or reset it to closed. Forced and disabled states stay until reset."""
    async with database.transaction(write=False) as session:
        store = await get_store(session, caller.scope, store_id)
    breaker = connector.breakers.for_store(store.id)
    actor = f"operator:{caller.operator_id}"
    if body.action == "force_open":
        await breaker.force_open(actor=actor)
    elif body.action == "disable":
        await breaker.disable(actor=actor)
    else:
        await breaker.reset(actor=actor)
    return envelope(await connector.breaker_view(store.id))


@router.post("/stores/{store_id}/pos/test")
async def test_store_pos(
    store_id: uuid.UUID, caller: StoreManagerDep, database: DatabaseDep, connector: PosConnectorDep
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
        adapter = connector.adapter_for(store)
    except CredentialsUnreadable:
        return envelope(service.unreadable_credentials_result())
    return envelope(await service.run_connection_test(adapter))
