"""Administrative actions for the CLI, through the same services and rules as the API.

The CLI has the database's credentials, so it acts as a platform admin (`SYSTEM`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository as alerts_repository
from ridgeline.alerts.channels import ChannelCipher, ConfigUnreadable
from ridgeline.auth import kiosk_keys, operators
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.auth.schemas import KioskKeyCreate, OperatorCreate
from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound, ValidationFailed
from ridgeline.models.operator import Role
from ridgeline.pos.credentials import CredentialCipher, CredentialsUnreadable
from ridgeline.stores import repository as stores_repository
from ridgeline.stores import service as stores
from ridgeline.stores.schemas import KioskCreate

SYSTEM = OperatorPrincipal(
    operator_id=uuid.UUID(int=0),
    organization_id=None,
    role=Role.PLATFORM_ADMIN,
    family_id=uuid.UUID(int=0),
    store_ids=None,
)


@asynccontextmanager
async def _transaction(settings: Settings) -> AsyncIterator[AsyncSession]:
    database = Database.from_settings(settings)
    try:
        async with database.transaction() as session:
            yield session
    finally:
        await database.dispose()


def _validated(model: type[Any], **fields: Any) -> Any:
    try:
        return model(**fields)
    except ValidationError as exc:
        raise ValidationFailed.for_fields(
            [
                {"loc": list(map(str, e["loc"])), "message": e["msg"], "type": e["type"]}
                for e in exc.errors()
            ]
        ) from exc


async def organization_id_of(session: AsyncSession, reference: str) -> uuid.UUID:
    """An organization by id or slug."""
    try:
        return (await stores.get_organization(session, SYSTEM.scope, uuid.UUID(reference))).id
    except ValueError:
        pass
    found = await stores_repository.organization_by_slug(session, SYSTEM.scope, reference)
    if found is None:
        raise NotFound("organization", reference)
    return found.id


async def create_operator(
    settings: Settings,
    *,
    email: str,
    role: str,
    organization: str | None,
    name: str,
    password: SecretStr,
    store_ids: list[uuid.UUID],
) -> dict[str, Any]:
    async with _transaction(settings) as session:
        organization_id = await organization_id_of(session, organization) if organization else None
        body = _validated(
            OperatorCreate,
            email=email,
            role=role,
            organization_id=organization_id,
            name=name,
            password=password,
            store_ids=store_ids,
        )
        operator = await operators.create_operator(session, SYSTEM, body)
        return (await operators.present(session, operator)).model_dump(mode="json")


async def create_kiosk(settings: Settings, *, store_id: uuid.UUID, name: str) -> dict[str, Any]:
    async with _transaction(settings) as session:
        body = _validated(KioskCreate, store_id=store_id, name=name)
        kiosk = await stores.create_kiosk(session, SYSTEM.scope, body)
        key = await kiosk_keys.issue_key(
            session, SYSTEM.scope, kiosk.id, KioskKeyCreate(), now=SystemClock().now()
        )
        return {
            "kiosk_id": str(kiosk.id),
            "store_id": str(store_id),
            "name": kiosk.name,
            "api_key": key.key,
        }


async def create_kiosk_key(
    settings: Settings,
    *,
    kiosk_id: uuid.UUID,
    expires_in_s: int | None,
    expire_existing_in_s: int | None,
) -> dict[str, Any]:
    async with _transaction(settings) as session:
        body = _validated(
            KioskKeyCreate, expires_in_s=expires_in_s, expire_existing_in_s=expire_existing_in_s
        )
        created = await kiosk_keys.issue_key(
            session, SYSTEM.scope, kiosk_id, body, now=SystemClock().now()
        )
        return created.model_dump(mode="json")


async def rotate_pos_credentials(settings: Settings) -> dict[str, Any]:
    """Re-encrypt every store's POS credentials (and webhook token) with the first (newest)
    encryption key, so the older keys can be dropped. Stores with something no key can read are
    listed, unchanged."""
    cipher = CredentialCipher(settings.encryption_keys)
    rotated, unreadable = 0, []
    async with _transaction(settings) as session:
        for store in await stores_repository.stores_with_pos(session, SYSTEM.scope):
            assert store.pos_config_encrypted is not None
            try:
                config = cipher.rotate(store.pos_config_encrypted)
                token = store.webhook_token_encrypted
                store.webhook_token_encrypted = None if token is None else cipher.rotate(token)
                store.pos_config_encrypted = config
                rotated += 1
            except CredentialsUnreadable:
                unreadable.append(str(store.id))
    return {"rotated": rotated, "unreadable": unreadable}


async def rotate_secrets(settings: Settings) -> dict[str, Any]:
    """Re-encrypt everything sealed with `RIDGELINE_ENCRYPTION_KEYS` (stores' POS credentials
    and alert channel configs) under the first key, so the older keys can be dropped. What no
    key can read is listed, unchanged."""
    pos = await rotate_pos_credentials(settings)
    cipher = ChannelCipher(settings.encryption_keys)
    rotated, unreadable = 0, []
    async with _transaction(settings) as session:
        for channel in await alerts_repository.every_channel(session):
            try:
                channel.config_encrypted = cipher.rotate(channel.config_encrypted)
                rotated += 1
            except ConfigUnreadable:
                unreadable.append(str(channel.id))
    return {
        "pos_rotated": pos["rotated"],
        "pos_unreadable": pos["unreadable"],
        "channels_rotated": rotated,
        "channels_unreadable": unreadable,
    }
