"""Idempotency keys of order requests, with Stripe's semantics (docs/orders.md#idempotency).

A request first claims its kiosk's key in its own short transaction (`begin`): a new key, an
expired one, or one left in flight by a request that died is taken; a key whose first request
finished answers that request's stored status and body again (same body) or
`IDEMPOTENCY_KEY_REUSED` (another body); a key whose first request is still running answers
`IDEMPOTENCY_KEY_IN_USE`. The response is stored with `complete` in the transaction that commits
the order, so the order and its stored response exist together or not at all; a 4xx outcome is
stored too (in its own transaction, as the request's own rolls back), while a 5xx or a crash
`release`s the key so that a retry runs again.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth.principal import KioskPrincipal
from ridgeline.db.engine import Database
from ridgeline.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
)
from ridgeline.models.order import IdempotencyKey, IdempotencyStatus
from ridgeline.orders import repository

log = structlog.get_logger(__name__)

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 255
# A key still in flight longer than `RIDGELINE_IDEMPOTENCY_TAKEOVER_S` belongs to a request
# that died (a crashed process never releases it), and the next request with it takes it over.
# Its order cannot have committed: the order and the key's completion commit together, and
# `complete` refuses a key that was taken over.


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """This request holds the key: only it may complete or release it."""

    key_id: uuid.UUID
    lock_token: str


def checked_key(raw: str | None) -> str:
    """The header's value, or the error that says what is wrong with it."""
    if raw is None or raw == "":
        raise IdempotencyKeyMissing()
    if len(raw) > MAX_KEY_LENGTH or not raw.isascii() or not raw.isprintable():
        raise IdempotencyKeyInvalid(details={"max_length": MAX_KEY_LENGTH})
    return raw


def request_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the parsed request in canonical JSON: formatting and key order do not count."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def begin(
    database: Database,
    kiosk: KioskPrincipal,
    key: str,
    digest: str,
    *,
    now: datetime,
    abandoned_after: timedelta,
) -> Claim | StoredResponse:
    """Claims `key` for this request, or answers what the key's first request answered."""
    token = secrets.token_hex(16)
    async with database.transaction() as session:
        key_id = await _insert(session, kiosk, key, digest, token, now)
        if key_id is not None:
            return Claim(key_id, token)
        row = await repository.idempotency_key(session, kiosk.scope, kiosk.kiosk_id, key)
        if row is None:  # deleted since the insert found it: a release raced us
            raise IdempotencyKeyInUse()
        abandoned = (
            row.status is IdempotencyStatus.IN_FLIGHT
            and row.locked_at is not None
            and row.locked_at + abandoned_after <= now
        )
        if row.expires_at <= now or abandoned:
            if abandoned:
                log.warning("idempotency_key_taken_over", kiosk_id=str(kiosk.kiosk_id))
            _restart(row, digest, token, now)
            return Claim(row.id, token)
        if row.status is IdempotencyStatus.IN_FLIGHT:
            raise IdempotencyKeyInUse()
        if row.request_hash != digest:
            raise IdempotencyKeyReused()
        assert row.response_status is not None
        assert row.response_body is not None
        return StoredResponse(row.response_status, dict(row.response_body), replayed=True)


async def complete(
    session: AsyncSession,
    claim: Claim,
    status_code: int,
    body: Mapping[str, Any],
    *,
    order_id: uuid.UUID | None = None,
) -> None:
    """Stores the response in `session`'s transaction. `IdempotencyKeyInUse` if this request
    lost the key meanwhile (taken over as abandoned): the caller's transaction must roll back."""
    completed = await repository.complete_idempotency_key(
        session,
        claim.key_id,
        claim.lock_token,
        {
            "status": IdempotencyStatus.COMPLETED,
            "lock_token": None,
            "response_status": status_code,
            "response_body": dict(body),
            "order_id": order_id,
        },
    )
    if not completed:
        raise IdempotencyKeyInUse("This request's Idempotency-Key was taken over; retry.")


async def complete_alone(
    database: Database, claim: Claim, status_code: int, body: Mapping[str, Any]
) -> None:
    """`complete` in its own transaction, for an outcome whose request rolls back (a 4xx)."""
    try:
        async with database.transaction() as session:
            await complete(session, claim, status_code, body)
    except IdempotencyKeyInUse:
        log.warning("idempotency_key_lost_before_completion", key_id=str(claim.key_id))


async def release(database: Database, claim: Claim) -> None:
    """Gives the key up (after a 5xx or a crash) so that a retry with it runs again."""
    try:
        async with database.transaction() as session:
            await repository.delete_idempotency_key(session, claim.key_id, claim.lock_token)
    except Exception:
        # The key stays in flight and is taken over once `abandoned_after` has passed.
        log.exception("idempotency_key_release_failed", key_id=str(claim.key_id))


async def _insert(
    session: AsyncSession,
    kiosk: KioskPrincipal,
    key: str,
    digest: str,
    token: str,
    now: datetime,
) -> uuid.UUID | None:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "organization_id": kiosk.organization_id,
        "store_id": kiosk.store_id,
        "kiosk_id": kiosk.kiosk_id,
        "key": key,
        "request_hash": digest,
        "status": IdempotencyStatus.IN_FLIGHT,
        "lock_token": token,
        "locked_at": now,
        "created_at": now,
        "expires_at": now + KEY_TTL,
    }
    return await repository.insert_idempotency_key(session, values)


def _restart(row: IdempotencyKey, digest: str, token: str, now: datetime) -> None:
    row.request_hash = digest
    row.status = IdempotencyStatus.IN_FLIGHT
    row.lock_token = token
    row.locked_at = now
    row.response_status = None
    row.response_body = None
    row.order_id = None
    row.created_at = now
    row.expires_at = now + KEY_TTL
