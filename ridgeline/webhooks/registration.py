"""What operators do to get a store's POS pushing to us: see the URL (with its token) and how
the dialect registers it, and register it where the POS has an API for that (BLAZE)."""

from __future__ import annotations

import uuid

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosNotConfigured, PosWebhookRegistrationFailed
from ridgeline.models.store import Store
from ridgeline.pos import service as pos_service
from ridgeline.pos.adapters.blaze import BlazeConfig
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialCipher, CredentialsUnreadable
from ridgeline.pos.errors import PosError
from ridgeline.resilience.breaker import CircuitOpen
from ridgeline.stores.service import get_store
from ridgeline.webhooks.dialects import Registration, WebhookDialect, dialect_of
from ridgeline.webhooks.schemas import PosWebhookSetup
from ridgeline.webhooks.service import webhook_url

log = structlog.get_logger(__name__)


def _dialect(store: Store) -> WebhookDialect:
    if store.pos_provider is None:
        raise PosNotConfigured()
    return dialect_of(store.pos_provider)


def _shop_id(store: Store, cipher: CredentialCipher) -> str | None:
    try:
        _, config = pos_service.stored_config(store, cipher)
    except CredentialsUnreadable:
        return None
    return config.shop_id if isinstance(config, BlazeConfig) else None


def _setup(
    store: Store, dialect: WebhookDialect, settings: Settings, shop_id: str | None
) -> PosWebhookSetup:
    return PosWebhookSetup(
        provider=dialect.provider,
        url=webhook_url(settings, store.id),
        events=list(dialect.events),
        registration=dialect.registration,
        instructions=dialect.instructions,
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
    return _setup(store, _dialect(store), settings, _shop_id(store, cipher))


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
    dialect = _dialect(store)
    setup = _setup(store, dialect, settings, _shop_id(store, connector.cipher))
    if dialect.registration is not Registration.API:
        return setup
    try:
        adapter = connector.adapter_for(store)
        registration = await adapter.register_webhooks(setup.url)
    except CredentialsUnreadable:
        raise PosWebhookRegistrationFailed(details={"reason": "credentials_unreadable"}) from None
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
        provider=dialect.provider,
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
    _, config = pos_service.stored_config(store, connector.cipher)
    if not isinstance(config, BlazeConfig) or config.shop_id == shop_id:
        return
    store.pos_config_encrypted = connector.cipher.encrypt(
        config.model_copy(update={"shop_id": shop_id})
    )
    store.pos_config_updated_at = clock.now()
    await session.flush()
