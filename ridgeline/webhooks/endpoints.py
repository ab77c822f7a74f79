"""HTTP surface of POS webhooks: the public URL a POS posts its events to, the store's event
log, and the operator's view and registration of the URL."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ridgeline.api.dependencies import (
    AuditDep,
    ClockDep,
    DatabaseDep,
    PosConnectorDep,
    SessionDep,
    SettingsDep,
)
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.auth.dependencies import PUBLIC, OrgAdminDep, ViewerDep
from ridgeline.webhooks import registration, service
from ridgeline.webhooks.schemas import (
    PosEventOut,
    PosEventReceived,
    PosWebhookSetup,
    PosWebhookTokenRotated,
)

router = APIRouter(prefix="/api/v1", tags=["pos webhooks"])


@router.post("/pos-webhooks/{store_id}", openapi_extra=PUBLIC)
async def receive_pos_event(
    store_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    connector: PosConnectorDep,
    clock: ClockDep,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[PosEventReceived]:
    """Where a store's POS posts its events (BLAZE and Treez webhooks, Flowhub order
    postbacks), any media type, JSON body. `token` authenticates the store: copy the whole URL
    from `GET /api/v1/stores/{id}/pos/webhooks`. The event is stored and answered at once;
    a redelivery answers 200 with `duplicate: true` and changes nothing."""
    received = await service.receive_event(
        session,
        store_id,
        token,
        await request.body(),
        settings=settings,
        cipher=connector.cipher,
        clock=clock,
    )
    return envelope(received)


@router.get("/stores/{store_id}/pos-events")
async def list_pos_events(
    store_id: uuid.UUID,
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    processed: Annotated[bool | None, Query()] = None,
) -> Page[PosEventOut]:
    """Events the store's POS pushed, in the order they arrived; `?processed=false` for those
    still waiting (or stuck)."""
    events, next_cursor = await service.list_events(
        session, caller.scope, store_id, page, processed=processed
    )
    return Page[PosEventOut](data=events, meta=PageMeta(next_cursor=next_cursor, count=len(events)))


@router.get("/stores/{store_id}/pos/webhooks")
async def get_pos_webhooks(
    store_id: uuid.UUID,
    caller: OrgAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    connector: PosConnectorDep,
) -> Envelope[PosWebhookSetup]:
    """The URL the store's POS pushes its events to (its token included: treat it as a
    secret), the event types this POS pushes, and how the URL gets registered.
    409 `POS_WEBHOOKS_UNSUPPORTED` for a POS without webhooks (Dutchie)."""
    setup = await registration.describe(
        session, caller.scope, store_id, settings=settings, cipher=connector.cipher
    )
    return envelope(setup)


@router.post("/stores/{store_id}/pos/webhooks")
async def register_pos_webhooks(
    store_id: uuid.UUID,
    caller: OrgAdminDep,
    database: DatabaseDep,
    settings: SettingsDep,
    connector: PosConnectorDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[PosWebhookSetup]:
    """Register the store's URL with its POS where it has an API for that (BLAZE: every event
    type, and the shop it names is pinned). Treez and Flowhub answer `registered: false` with
    what to do instead. 502 `POS_WEBHOOK_REGISTRATION_FAILED` when the POS refuses or fails."""
    setup = await registration.register(
        database, connector, caller.scope, store_id, settings=settings, clock=clock
    )
    # Not the URL: its token authenticates the store's POS.
    await audit.record(
        caller,
        "pos.webhooks.register",
        store_id=store_id,
        after=setup.model_dump(exclude={"url", "instructions"}),
    )
    return envelope(setup)


@router.post("/stores/{store_id}/pos/webhook-token/rotate")
async def rotate_pos_webhook_token(
    store_id: uuid.UUID,
    caller: OrgAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    connector: PosConnectorDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[PosWebhookTokenRotated]:
    """A new token for the store's webhook URL, which this returns. The previous URL keeps
    working until `previous_token_valid_until` (RIDGELINE_WEBHOOK_TOKEN_GRACE_S); give the POS
    the new one before then: `POST .../pos/webhooks` where `registration` is `api`, the vendor's
    portal otherwise (docs/operations.md#webhook-tokens)."""
    rotated = await registration.rotate(
        session, caller.scope, store_id, settings=settings, cipher=connector.cipher, clock=clock
    )
    # Neither token: the new one is in the URL answered, the old one still opens the store.
    await audit.record(
        caller,
        "pos.webhook_token.rotate",
        store_id=store_id,
        after={"previous_token_valid_until": rotated.previous_token_valid_until},
    )
    return envelope(rotated)
