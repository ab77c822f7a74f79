"""Rules for a store's POS connection: configure it (validated, encrypted), describe it (never a
secret), and test it with a diagnosis an operator can act on."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import PosNotConfigured, ValidationFailed
from ridgeline.models.store import Store
from ridgeline.pos import repository
from ridgeline.pos.base import PosConfig
from ridgeline.pos.capabilities import ConnectionCheck, PosAdapter
from ridgeline.pos.credentials import CredentialCipher, CredentialsUnreadable
from ridgeline.pos.errors import PosAuthFailed, PosError, PosProtocolError, PosRateLimited
from ridgeline.pos.registry import adapter_class, adapter_names
from ridgeline.pos.schemas import PosCallView, PosTestResult, StorePosOut, StorePosUpdate
from ridgeline.resilience.breaker import CircuitOpen
from ridgeline.stores.service import get_store

RECENT_CALLS = 20


def _config_errors(exc: ValidationError) -> ValidationFailed:
    # Only where and why: pydantic's `input` would echo the credentials back.
    return ValidationFailed.for_fields(
        [
            {
                "loc": ["body", "config", *map(str, err["loc"])],
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
    )


def parse_config(provider: str, raw: dict[str, Any]) -> tuple[type[PosAdapter[Any]], PosConfig]:
    adapter = adapter_class(provider)
    if adapter is None:
        raise ValidationFailed.for_fields(
            [
                {
                    "loc": ["body", "provider"],
                    "message": f"Unknown POS provider; one of: {', '.join(adapter_names())}.",
                    "type": "enum",
                }
            ]
        )
    try:
        return adapter, adapter.config_model.model_validate(raw)
    except ValidationError as exc:
        raise _config_errors(exc) from None


async def configure(
    session: AsyncSession,
    scope: TenantScope,
    store_id: uuid.UUID,
    body: StorePosUpdate,
    *,
    cipher: CredentialCipher,
    now: datetime,
) -> tuple[Store, PosConfig]:
    store = await get_store(session, scope, store_id)
    adapter, config = parse_config(body.provider, body.config)
    store.pos_provider = adapter.name
    store.pos_config_encrypted = cipher.encrypt(config)
    store.pos_config_updated_at = now
    await session.flush()
    return store, config


def stored_config(
    store: Store, cipher: CredentialCipher
) -> tuple[type[PosAdapter[Any]], PosConfig]:
    """The store's adapter class and decrypted config; `PosNotConfigured` when it has none."""
    if store.pos_provider is None or store.pos_config_encrypted is None:
        raise PosNotConfigured()
    adapter = adapter_class(store.pos_provider)
    if adapter is None:
        raise CredentialsUnreadable(f"no adapter named {store.pos_provider!r} is installed")
    return adapter, cipher.decrypt(store.pos_config_encrypted, adapter.config_model)


async def recent_calls(
    session: AsyncSession, scope: TenantScope, store_id: uuid.UUID
) -> list[PosCallView]:
    calls = await repository.latest_calls(session, scope, store_id, limit=RECENT_CALLS)
    return [
        PosCallView(
            endpoint=call.endpoint,
            status=call.status,
            outcome=call.outcome,
            error=call.error,
            duration_ms=call.duration_ms,
            attempt=call.attempt,
            at=call.at,
        )
        for call in calls
    ]


def describe(store: Store, cipher: CredentialCipher) -> StorePosOut:
    if store.pos_provider is None or store.pos_config_encrypted is None:
        return StorePosOut(provider=None, config=None, configured_at=None)
    try:
        _, config = stored_config(store, cipher)
        view: dict[str, Any] | None = config.redacted()
    except CredentialsUnreadable:
        view = None
    return StorePosOut(
        provider=store.pos_provider,
        config=view,
        configured_at=store.pos_config_updated_at,
        credentials_refused_at=store.pos_credentials_refused_at,
    )


def unreadable_credentials_result() -> PosTestResult:
    return PosTestResult(
        ok=False,
        diagnosis="credentials_unreadable",
        message="The stored credentials cannot be decrypted with the configured encryption keys: "
        "restore the key they were saved with to RIDGELINE_ENCRYPTION_KEYS, or enter them again.",
        duration_ms=0.0,
    )


async def run_connection_test(adapter: ConnectionCheck) -> PosTestResult:
    """Verify credentials and reachability through the resilient client, and say what is wrong
    in the words of the recovery procedure."""
    began = time.perf_counter()

    def result(ok: bool, diagnosis: Any, message: str, **extra: Any) -> PosTestResult:
        elapsed = round((time.perf_counter() - began) * 1000, 1)
        return PosTestResult(
            ok=ok, diagnosis=diagnosis, message=message, duration_ms=elapsed, **extra
        )

    try:
        identity = await adapter.verify_credentials()
    except CircuitOpen as exc:
        return result(False, "circuit_open", f"Calls to this POS are paused: {exc}")
    except PosAuthFailed as exc:
        return result(
            False,
            "bad_credentials",
            f"The POS refused the credentials ({exc.status}): regenerate them in the POS admin "
            "panel, update them here, then test again.",
        )
    except PosRateLimited:
        return result(False, "rate_limited", "The POS is rate limiting this store; try later.")
    except PosProtocolError as exc:
        return result(
            False, "protocol_error", f"The POS answered in an unexpected shape: {exc.message}"
        )
    except PosError as exc:
        diagnosis = "unreachable" if exc.status is None else "pos_error"
        return result(False, diagnosis, f"The POS could not be reached or failed: {exc.message}")
    return result(
        True,
        "ok",
        "Credentials accepted and the POS answered.",
        location_id=identity.location_id,
        location_name=identity.location_name,
    )
