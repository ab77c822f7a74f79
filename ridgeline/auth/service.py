"""Sign-in, refresh-token rotation, revocation and bearer authentication.

Refresh tokens follow RFC 9700 rotation: each refresh spends the token and returns a new pair in
the same family. A spent token presented again within a short grace window (a client retrying
after a lost response) gets a fresh pair; presented later, it is treated as stolen and the whole
family is revoked, so every token descended from that sign-in stops working at once.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth import repository
from ridgeline.auth.credentials import (
    KIOSK_KEY_PREFIX,
    digest,
    issue_access_token,
    new_refresh_token,
    read_access_token,
)
from ridgeline.auth.key_cache import KioskKeyCache
from ridgeline.auth.passwords import hash_password, needs_rehash, verify_password
from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import InvalidCredentials, InvalidToken, TokenExpired, TokenRevoked
from ridgeline.models.kiosk import Kiosk, KioskApiKey, KioskStatus
from ridgeline.models.operator import RefreshToken, Role, TokenFamily


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime


class RefreshTokenReused(Exception):
    """A spent refresh token came back after the grace window: its family must be revoked."""

    def __init__(self, family_id: uuid.UUID) -> None:
        super().__init__(f"refresh token reused in family {family_id}")
        self.family_id = family_id


async def _issue_pair(
    session: AsyncSession, family: TokenFamily, settings: Settings, now: datetime
) -> TokenPair:
    refresh = new_refresh_token()
    refresh_expires = now + timedelta(seconds=settings.refresh_token_ttl_s)
    session.add(
        RefreshToken(
            family_id=family.id,
            token_hash=digest(refresh),
            issued_at=now,
            expires_at=refresh_expires,
        )
    )
    kid, secret = settings.signing_key_ring[0]
    access, access_expires = issue_access_token(
        secret_key=secret,
        kid=kid,
        operator_id=family.operator_id,
        family_id=family.id,
        now=now,
        ttl_s=settings.access_token_ttl_s,
    )
    await session.flush()
    return TokenPair(access, access_expires, refresh, refresh_expires)


async def sign_in(
    session: AsyncSession, *, email: str, password: str, settings: Settings, now: datetime
) -> TokenPair:
    operator = await repository.operator_by_email(session, email)
    valid = verify_password(operator.password_hash if operator else None, password)
    if operator is None or not valid or not operator.is_active:
        raise InvalidCredentials()
    if needs_rehash(operator.password_hash):
        operator.password_hash = hash_password(password)
    operator.last_login_at = now
    family = TokenFamily(id=uuid.uuid4(), operator_id=operator.id, created_at=now)
    session.add(family)
    await session.flush()  # the family row must exist before its first refresh token
    return await _issue_pair(session, family, settings, now)


async def refresh(
    session: AsyncSession, *, refresh_token: str, settings: Settings, now: datetime
) -> TokenPair:
    found = await repository.refresh_token_by_hash(session, digest(refresh_token))
    if found is None:
        raise InvalidToken("The refresh token is not valid.")
    token, family, operator = found
    if family.revoked_at is not None or not operator.is_active:
        raise TokenRevoked()
    if now >= token.expires_at:
        raise TokenExpired("The refresh token has expired; sign in again.")
    spent_now = token.used_at is None and await repository.spend_refresh_token(
        session, token.id, now
    )
    if not spent_now:
        used_at = token.used_at or now
        if now - used_at > timedelta(seconds=settings.refresh_reuse_grace_s):
            raise RefreshTokenReused(family.id)
    return await _issue_pair(session, family, settings, now)


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    await repository.revoke_families(session, now=now, reason=reason, family_id=family_id)


async def revoke_refresh_token(session: AsyncSession, refresh_token: str, *, now: datetime) -> None:
    """Sign out: revoke the family the token belongs to. Unknown tokens are ignored (RFC 7009)."""
    found = await repository.refresh_token_by_hash(session, digest(refresh_token))
    if found is not None:
        await revoke_family(session, found[1].id, reason="signed_out", now=now)


async def revoke_operator_sessions(
    session: AsyncSession, operator_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    await repository.revoke_families(session, now=now, reason=reason, operator_id=operator_id)


async def authenticate(
    session: AsyncSession,
    bearer: str,
    *,
    settings: Settings,
    now: datetime,
    key_usage: KioskKeyUsage,
) -> Principal:
    if bearer.startswith(KIOSK_KEY_PREFIX):
        return await _authenticate_kiosk(session, bearer, now=now, key_usage=key_usage)
    return await _authenticate_operator(session, bearer, settings=settings, now=now)


async def _authenticate_operator(
    session: AsyncSession, token: str, *, settings: Settings, now: datetime
) -> OperatorPrincipal:
    claims = read_access_token(token, keys=settings.signing_key_ring, now=now)
    found = await repository.operator_with_family(session, claims.operator_id, claims.family_id)
    if found is None:
        raise InvalidToken()
    operator, family = found
    if family.revoked_at is not None or not operator.is_active:
        raise TokenRevoked()
    store_ids = (
        await repository.assigned_store_ids(session, operator.id)
        if operator.role is Role.STORE_MANAGER
        else None
    )
    return OperatorPrincipal(
        operator_id=operator.id,
        organization_id=operator.organization_id,
        role=operator.role,
        family_id=family.id,
        store_ids=store_ids,
    )


@dataclass(frozen=True, slots=True)
class KioskKeyRecord:
    """What authenticating a kiosk key needs of its row and its kiosk's, read in a session and
    usable after it."""

    principal: KioskPrincipal
    revoked: bool
    expires_at: datetime | None
    kiosk_active: bool

    @classmethod
    def of(cls, api_key: KioskApiKey, kiosk: Kiosk) -> KioskKeyRecord:
        return cls(
            KioskPrincipal(
                kiosk_id=kiosk.id,
                store_id=kiosk.store_id,
                organization_id=kiosk.organization_id,
                key_id=api_key.id,
                purpose=api_key.purpose,
            ),
            api_key.revoked_at is not None,
            api_key.expires_at,
            kiosk.status == KioskStatus.ACTIVE,
        )

    def check(self, now: datetime) -> KioskPrincipal:
        """The principal, or the error that refuses the key now."""
        if self.revoked:
            raise TokenRevoked("The kiosk API key has been revoked.")
        if self.expires_at is not None and now >= self.expires_at:
            raise TokenExpired("The kiosk API key has expired; issue the kiosk a new key.")
        if not self.kiosk_active:
            raise TokenRevoked("The kiosk is disabled.")
        return self.principal


def _record_use(key_usage: KioskKeyUsage, principal: KioskPrincipal, now: datetime) -> None:
    # A diagnostic key's use is recorded on the key only: the kiosk was not seen.
    key_usage.record(principal.key_id, None if principal.diagnostic else principal.kiosk_id, now)


async def _authenticate_kiosk(
    session: AsyncSession,
    key: str,
    *,
    now: datetime,
    key_usage: KioskKeyUsage,
) -> KioskPrincipal:
    found = await repository.kiosk_key_by_hash(session, digest(key))
    if found is None:
        raise InvalidToken("The kiosk API key is not valid.")
    principal = KioskKeyRecord.of(*found).check(now)
    _record_use(key_usage, principal, now)
    return principal


# At most this many keys in one read (SQLite binds at most 999 parameters).
KEY_READ_BATCH = 500


class KioskKeyReader:
    """Authenticates kiosk keys for `/cable` as a connect storm brings them: from the cache
    (auth/key_cache.py) when it holds the key; otherwise lookups that arrive while a read is in
    flight wait for it and are read together in the next one (one statement for up to
    `KEY_READ_BATCH` keys instead of a transaction per key). Every key is still checked
    (revoked, expired, kiosk disabled) as `authenticate` does."""

    def __init__(self, database: Database, cache: KioskKeyCache) -> None:
        self.database = database
        self.cache = cache
        self._waiting: dict[str, list[asyncio.Future[KioskKeyRecord | None]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def authenticate(
        self, key: str, *, now: datetime, key_usage: KioskKeyUsage
    ) -> KioskPrincipal:
        key_hash = digest(key)
        principal = self.cache.get(key_hash, now=now)
        if principal is None:
            generation = self.cache.generation
            record = await self._read(key_hash)
            if record is None:
                raise InvalidToken("The kiosk API key is not valid.")
            principal = record.check(now)
            self.cache.put(key_hash, principal, record.expires_at, since=generation)
        _record_use(key_usage, principal, now)
        return principal

    def _read(self, key_hash: str) -> asyncio.Future[KioskKeyRecord | None]:
        future: asyncio.Future[KioskKeyRecord | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key_hash, []).append(future)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_waiting(), name="kiosk-key-reader")
        return future

    async def _read_waiting(self) -> None:
        while self._waiting:
            hashes = list(itertools.islice(self._waiting, KEY_READ_BATCH))
            batch = {key_hash: self._waiting.pop(key_hash) for key_hash in hashes}
            try:
                async with self.database.transaction(write=False) as session:
                    found = await repository.kiosk_keys_by_hashes(session, hashes)
                    records = {h: KioskKeyRecord.of(*row) for h, row in found.items()}
            except BaseException as exc:
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for key_hash, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(records.get(key_hash))


async def still_valid(session: AsyncSession, principal: Principal, *, now: datetime) -> bool:
    """Whether a principal authenticated earlier may still act (a restored `/cable` session):
    the kiosk's key is neither revoked nor expired and the kiosk is active; the operator's token
    family is not revoked and the operator is active."""
    if isinstance(principal, KioskPrincipal):
        key = await repository.kiosk_key(
            session, principal.scope, principal.kiosk_id, principal.key_id
        )
        if key is None or key.revoked_at is not None:
            return False
        if key.expires_at is not None and now >= key.expires_at:
            return False
        kiosk = await repository.kiosk(session, principal.scope, principal.kiosk_id)
        return kiosk is not None and kiosk.status is KioskStatus.ACTIVE
    found = await repository.operator_with_family(
        session, principal.operator_id, principal.family_id
    )
    if found is None:
        return False
    operator, family = found
    return family.revoked_at is None and operator.is_active
