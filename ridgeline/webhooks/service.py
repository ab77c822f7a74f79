"""Receiving a POS's events: authenticate the store's URL, read the event in its dialect, store
it first (a redelivery is a duplicate, not a second event) and queue its processing in the same
transaction. Services flush, never commit: the request boundary commits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.pagination import PageRequest
from ridgeline.auth.credentials import digest
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import (
    InvalidWebhookToken,
    PosNotConfigured,
    PosWebhookShopMismatch,
    PosWebhooksUnsupported,
)
from ridgeline.jobs import enqueue
from ridgeline.models.store import Store
from ridgeline.pos import service as pos_service
from ridgeline.pos.base import PosEventIn
from ridgeline.pos.capabilities import WebhookSource
from ridgeline.pos.credentials import CredentialCipher, CredentialsUnreadable
from ridgeline.pos.registry import webhook_source
from ridgeline.stores.service import get_store
from ridgeline.sync.repository import store_for_system
from ridgeline.webhooks import repository
from ridgeline.webhooks.schemas import PosEventOut, PosEventReceived

log = structlog.get_logger(__name__)

PROCESS_EVENT_JOB = "pos.process_event"
WEBHOOK_PATH = "/api/v1/pos-webhooks"


def webhook_token(secret_key: str, store_id: uuid.UUID) -> str:
    """The legacy webhook token, derived from RIDGELINE_SECRET_KEY: a store's until its first
    rotation (stores made before tokens were stored keep their registered URLs)."""
    message = f"pos-webhook:{store_id}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def current_webhook_token(store: Store, settings: Settings, cipher: CredentialCipher) -> str:
    """The token of the store's URL: its own once rotated, the derived one before that.
    `CredentialsUnreadable` when no configured encryption key opens it."""
    if store.webhook_token_encrypted is None:
        return webhook_token(settings.secret_key, store.id)
    return cipher.open_secret(store.webhook_token_encrypted)


def webhook_url(settings: Settings, store: Store, cipher: CredentialCipher) -> str:
    """The URL a POS posts the store's events to (also Flowhub's `postbackUrl` for orders)."""
    token = current_webhook_token(store, settings, cipher)
    return f"{settings.public_base_url}{WEBHOOK_PATH}/{store.id}?token={quote(token)}"


def webhook_source_of(store: Store) -> type[WebhookSource]:
    """The store's POS as a webhook source; `PosNotConfigured` without a POS,
    `PosWebhooksUnsupported` for a POS that pushes nothing."""
    if store.pos_provider is None:
        raise PosNotConfigured()
    source = webhook_source(store.pos_provider)
    if source is None:
        raise PosWebhooksUnsupported(details={"provider": store.pos_provider})
    return source


def _token_accepted(
    store: Store, token: str | None, *, settings: Settings, cipher: CredentialCipher, now: datetime
) -> bool:
    """The store's current token, or the one it replaced while its grace period lasts."""
    presented = token or ""
    try:
        current = current_webhook_token(store, settings, cipher)
    except CredentialsUnreadable:
        log.warning("pos_webhook_token_unreadable", store_id=str(store.id))
    else:
        if hmac.compare_digest(current.encode(), presented.encode()):
            return True
    previous, until = store.webhook_previous_token_hash, store.webhook_previous_token_until
    if previous is None or until is None or now >= until:
        return False
    return hmac.compare_digest(previous.encode(), digest(presented).encode())


async def rotate_token(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    settings: Settings,
    cipher: CredentialCipher,
    clock: Clock,
) -> Store:
    """Gives the store a new random webhook token; the one it replaces is still accepted for
    `webhook_token_grace_s` (a token no key opens any more is simply dropped). The store's
    row is locked first: two rotations at once take turns, so the second keeps the first's
    token as the previous one rather than both keeping the same older one."""
    store = await get_store(session, scope, store_id, for_update=True)
    webhook_source_of(store)
    now = clock.now()
    try:
        previous: str | None = current_webhook_token(store, settings, cipher)
    except CredentialsUnreadable:
        previous = None
    store.webhook_previous_token_hash = None if previous is None else digest(previous)
    store.webhook_previous_token_until = (
        None if previous is None else now + timedelta(seconds=settings.webhook_token_grace_s)
    )
    store.webhook_token_encrypted = cipher.seal_secret(secrets.token_urlsafe(32))
    await session.flush()
    log.info(
        "pos_webhook_token_rotated",
        store_id=str(store.id),
        previous_valid_until=store.webhook_previous_token_until,
    )
    return store


async def receive_event(
    session: AsyncSession,
    store_id: uuid.UUID,
    token: str | None,
    body: bytes,
    *,
    settings: Settings,
    cipher: CredentialCipher,
    clock: Clock,
) -> PosEventReceived:
    """Stores one pushed event and queues `pos.process_event`, or finds it stored already.

    A wrong token and an unknown store are the same `InvalidWebhookToken`; a body that is not
    an event of the store's dialect stores nothing (`PosEventInvalid`)."""
    now = clock.now()
    store = await store_for_system(session, store_id)
    if store is None or not _token_accepted(
        store, token, settings=settings, cipher=cipher, now=now
    ):
        raise InvalidWebhookToken()
    webhooks = webhook_source_of(store)
    event, document = webhooks.parse_event(body)
    _check_location(store, webhooks, event, cipher)
    source = webhooks.name
    external_id = f"{store.id}:{event.event_id}"
    stored_id = await repository.insert_event(
        session,
        store,
        source=source,
        external_id=external_id,
        event_type=event.event_type,
        payload=document,
        received_at=now,
    )
    if stored_id is None:
        existing = await repository.event_by_external_id(session, source, external_id)
        assert existing is not None  # the conflicting row; events are never deleted alone
        log.info("pos_event_duplicate", store_id=str(store.id), event_id=str(existing.id))
        return PosEventReceived(event_id=existing.id, duplicate=True)
    await enqueue(
        session,
        PROCESS_EVENT_JOB,
        {"event_id": str(stored_id)},
        clock=clock,
        dedupe_key=f"{PROCESS_EVENT_JOB}:{stored_id}",
    )
    log.info(
        "pos_event_received",
        store_id=str(store.id),
        event_id=str(stored_id),
        source=source,
        event_type=event.event_type,
    )
    return PosEventReceived(event_id=stored_id, duplicate=False)


def _check_location(
    store: Store, webhooks: type[WebhookSource], event: PosEventIn, cipher: CredentialCipher
) -> None:
    """An event that names its shop must come from the store's (`WebhookSource.event_location`).
    Without a known one (filled in when webhooks are registered through us) the token alone
    vouches for it."""
    if event.location_id is None:
        return
    try:
        _, config = pos_service.stored_config(store, cipher)
    except CredentialsUnreadable:
        log.warning("pos_event_shop_unchecked", store_id=str(store.id), reason="credentials")
        return
    expected = webhooks.event_location(config)
    if expected is not None and expected != event.location_id:
        raise PosWebhookShopMismatch(details={"shop_id": event.location_id})


async def list_events(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    page: PageRequest,
    *,
    processed: bool | None = None,
) -> tuple[list[PosEventOut], str | None]:
    store = await get_store(session, scope, store_id)
    statement = repository.store_events(scope, store.id, processed=processed)
    rows, next_cursor = await repository.page_of_events(session, statement, page)
    return [PosEventOut.of(row) for row in rows], next_cursor
