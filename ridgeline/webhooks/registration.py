"""What operators do to get a store's POS pushing to us: see the URL (with its token) and how
the dialect registers it, and register it where the POS has an API for that (a
`WebhookRegistrar` adapter)."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosWebhookRegistrationFailed
from ridgeline.models.store import Store
from ridgeline.pos import service as pos_service
from ridgeline.pos.capabilities import WebhookRegistrar, WebhookSource
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import (
    CredentialCipher,
    CredentialsRefused,
    CredentialsUnreadable,
    CredentialsUnusable,
)
from ridgeline.pos.errors import PosError
from ridgeline.resilience.breaker import CircuitOpen
from ridgeline.stores.service import get_store
from ridgeline.webhooks.schemas import PosWebhookSetup, PosWebhookTokenRotated
from ridgeline.webhooks.service import rotate_token, webhook_source_of, webhook_url

log = structlog.get_logger(__name__)


def _shop_id(store: Store, source: type[WebhookSource], cipher: CredentialCipher) -> str | None:
    try:
        _, config = pos_service.stored_config(store, cipher)
    except CredentialsUnreadable:
        return None
    return source.event_location(config)


def _setup(
    store: Store,
    source: type[WebhookSource],
    settings: Settings,
    cipher: CredentialCipher,
    shop_id: str | None,
) -> PosWebhookSetup:
    return PosWebhookSetup(
        provider=source.name,
        url=webhook_url(settings, store, cipher),
        events=list(source.webhook_events),
        registration=source.webhook_registration,
        instructions=source.webhook_instructions,
        shop_id=shop_id,
    )


async def describe(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    settings: Settings,
    cipher: CredentialCipher,
) -> PosWebhookSetup:
    store = await get_store(session, scope, store_id)
    source = webhook_source_of(store)
    return _setup(store, source, settings, cipher, _shop_id(store, source, cipher))


async def rotate(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    settings: Settings,
    cipher: CredentialCipher,
    clock: Clock,
) -> PosWebhookTokenRotated:
    """A new token for the store's URL, and the URL to give the POS before the previous token's
    grace period ends (registered by `register` where the POS has an API for it)."""
    store = await rotate_token(
        session, scope, store_id, settings=settings, cipher=cipher, clock=clock
    )
    source = webhook_source_of(store)
    setup = _setup(store, source, settings, cipher, _shop_id(store, source, cipher))
    return PosWebhookTokenRotated(
        **setup.model_dump(), previous_token_valid_until=store.webhook_previous_token_until
    )


async def register(
    database: Database,
    connector: PosConnector,
    scope: TenantScope,
    store_id: uuid.UUID,
    *,
    settings: Settings,
    clock: Clock,
) -> PosWebhookSetup:
    """Registers the store's URL with its POS, through the resilient client and with no
    transaction open; then pins the shop the POS named, so events from any other are refused.
    Dialects without a registration API get their instructions and `registered: false`."""
    async with database.transaction(write=False) as session:
        store = await get_store(session, scope, store_id)
    source = webhook_source_of(store)
    cipher = connector.cipher
    setup = _setup(store, source, settings, cipher, _shop_id(store, source, cipher))
    if not issubclass(source, WebhookRegistrar):
        return setup
    try:
        adapter = connector.adapter_for(store)
        assert isinstance(adapter, WebhookRegistrar)  # the store's adapter is the source's class
        registration = await adapter.register_webhooks(setup.url)
    except CredentialsUnusable as exc:
        reason = (
            "credentials_refused"
            if isinstance(exc, CredentialsRefused)
            else "credentials_unreadable"
        )
        raise PosWebhookRegistrationFailed(details={"reason": reason}) from None
    except CircuitOpen as exc:
        raise PosWebhookRegistrationFailed(
            f"Calls to this POS are paused: {exc}", details={"reason": "circuit_open"}
        ) from None
    except PosError as exc:
        raise PosWebhookRegistrationFailed(
            f"The POS did not accept the registration: {exc.message}",
            details={"reason": exc.code.lower()},
        ) from None
    async with database.transaction() as session:
        await _pin_shop(session, scope, store.id, registration.location_id, connector, clock)
    log.info(
        "pos_webhooks_registered",
        store_id=str(store.id),
        provider=source.name,
        events=list(registration.events),
    )
    return setup.model_copy(
        update={
            "events": list(registration.events),
            "registered": True,
            "shop_id": registration.location_id,
        }
    )


async def _pin_shop(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    shop_id: str,
    connector: PosConnector,
    clock: Clock,
) -> None:
    store = await get_store(session, scope, store_id)
    adapter, config = pos_service.stored_config(store, connector.cipher)
    pinned = (
        adapter.pinned_config(config, shop_id) if issubclass(adapter, WebhookRegistrar) else None
    )
    if pinned is None:
        return
    store.pos_config_encrypted = connector.cipher.encrypt(pinned)
    store.pos_config_updated_at = clock.now()
    await session.flush()
