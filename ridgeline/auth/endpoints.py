"""HTTP surface of authentication, operator accounts and kiosk API keys."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from ridgeline.api.dependencies import (
    AfterCommitDep,
    AuditDep,
    ClockDep,
    DatabaseDep,
    HubDep,
    SessionDep,
    SettingsDep,
    SignInThrottleDep,
)
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.audit.service import AuditTrail
from ridgeline.auth import kiosk_keys, operators, service
from ridgeline.auth.dependencies import PUBLIC, OrgAdminDep, StoreManagerDep, ViewerDep
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.auth.schemas import (
    KioskKeyCreate,
    KioskKeyCreated,
    KioskKeyOut,
    OperatorCreate,
    OperatorOut,
    OperatorUpdate,
    PasswordChange,
    RefreshRequest,
    SignIn,
    TokenPairOut,
)
from ridgeline.auth.throttle import SignInThrottle
from ridgeline.clock import Clock
from ridgeline.errors import InvalidCredentials, TokenRevoked, ValidationFailed
from ridgeline.stores.service import get_kiosk

router = APIRouter(prefix="/api/v1")


def _token_out(pair: service.TokenPair, clock: Clock) -> TokenPairOut:
    return TokenPairOut(
        access_token=pair.access_token,
        expires_in=int((pair.access_token_expires_at - clock.now()).total_seconds()),
        access_token_expires_at=pair.access_token_expires_at,
        refresh_token=pair.refresh_token,
        refresh_token_expires_at=pair.refresh_token_expires_at,
    )


@router.post("/auth/token", tags=["auth"], openapi_extra=PUBLIC)
async def sign_in(
    body: SignIn,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    throttle: SignInThrottleDep,
) -> Envelope[TokenPairOut]:
    """Sign in with email and password: a short-lived access token and a refresh token."""
    client = request.client.host if request.client else "unknown"
    keys = SignInThrottle.keys(body.email, client)
    now = clock.now()
    await throttle.check(keys, now)
    try:
        pair = await service.sign_in(
            session,
            email=body.email,
            password=body.password.get_secret_value(),
            settings=settings,
            now=now,
        )
    except InvalidCredentials:
        await throttle.record_failure(keys, now)
        raise
    await throttle.record_success(keys[:1], now)
    return envelope(_token_out(pair, clock))


@router.post("/auth/refresh", tags=["auth"], openapi_extra=PUBLIC)
async def refresh(
    body: RefreshRequest,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> Envelope[TokenPairOut]:
    """Trade a refresh token for a new pair. Each refresh token works once: reusing a spent one
    revokes every token of that sign-in (`TOKEN_REVOKED`)."""
    now = clock.now()
    try:
        pair = await service.refresh(
            session, refresh_token=body.refresh_token, settings=settings, now=now
        )
    except service.RefreshTokenReused as reused:
        # The request's own transaction rolls back with the error; the revocation must stay, so
        # it commits on its own. Roll the request back first (it has only read): on SQLite its
        # session holds the write lock, and the revocation would wait on it until it timed out.
        await session.rollback()
        async with database.transaction() as revocation:
            await service.revoke_family(
                revocation, reused.family_id, reason="refresh_token_reused", now=now
            )
        raise TokenRevoked("This refresh token was already used; sign in again.") from None
    return envelope(_token_out(pair, clock))


@router.post(
    "/auth/revoke", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"], openapi_extra=PUBLIC
)
async def revoke(body: RefreshRequest, session: SessionDep, clock: ClockDep) -> Response:
    """Sign out: revoke the refresh token's whole family, and with it every access token
    issued from that sign-in. Unknown tokens are accepted silently (RFC 7009)."""
    await service.revoke_refresh_token(session, body.refresh_token, now=clock.now())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", tags=["auth"])
async def me(caller: ViewerDep, session: SessionDep) -> Envelope[OperatorOut]:
    """The signed-in operator."""
    operator = await operators.get_operator(session, caller.scope, caller.operator_id)
    return envelope(await operators.present(session, operator))


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
async def change_password(
    body: PasswordChange,
    request: Request,
    caller: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    throttle: SignInThrottleDep,
    audit: AuditDep,
) -> Response:
    """Change your own password, given your current one (wrong: 422 on `current_password`,
    counted like a failed sign-in). Every sign-in of yours is revoked, this one included: sign
    in again with the new password. An admin sets another operator's with `PATCH
    /operators/{id}`."""
    now = clock.now()
    operator = await operators.get_operator(session, caller.scope, caller.operator_id)
    client = request.client.host if request.client else "unknown"
    keys = SignInThrottle.keys(operator.email, client)
    await throttle.check(keys, now)
    try:
        await operators.change_own_password(session, caller, body, now=now)
    except ValidationFailed:
        await throttle.record_failure(keys, now)
        raise
    await audit.record(
        caller,
        "operator.password.change",
        target=caller.operator_id,
        after={"password": "changed"},  # shown as [redacted], like any password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Operators


@router.get("/operators", tags=["operators"])
async def list_operators(
    caller: OrgAdminDep,
    session: SessionDep,
    page: PageDep,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[OperatorOut]:
    result = await operators.list_operators(
        session, caller.scope, page, organization_id=organization_id
    )
    items = [await operators.present(session, operator) for operator in result.items]
    return Page[OperatorOut](
        data=items, meta=PageMeta(next_cursor=result.next_cursor, count=len(items))
    )


@router.post("/operators", status_code=status.HTTP_201_CREATED, tags=["operators"])
async def create_operator(
    body: OperatorCreate, caller: OrgAdminDep, session: SessionDep, audit: AuditDep
) -> Envelope[OperatorOut]:
    """Create an operator account. Org admins create accounts in their organization; only
    platform admins create platform admins."""
    operator = await operators.present(
        session, await operators.create_operator(session, caller, body)
    )
    await audit.record(
        caller,
        "operator.create",
        organization_id=operator.organization_id,
        target=operator.id,
        after={**operator.model_dump(), "password": body.password},
    )
    return envelope(operator)


@router.get("/operators/{operator_id}", tags=["operators"])
async def get_operator(
    operator_id: uuid.UUID, caller: OrgAdminDep, session: SessionDep
) -> Envelope[OperatorOut]:
    operator = await operators.get_operator(session, caller.scope, operator_id)
    return envelope(await operators.present(session, operator))


@router.patch("/operators/{operator_id}", tags=["operators"])
async def update_operator(
    operator_id: uuid.UUID,
    body: OperatorUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[OperatorOut]:
    """Change an operator's name, role, stores or password, or deactivate them. A new password
    or deactivation signs them out everywhere at once."""
    before = await operators.present(
        session, await operators.get_operator(session, caller.scope, operator_id)
    )
    operator = await operators.update_operator(session, caller, operator_id, body, now=clock.now())
    after = await operators.present(session, operator)
    # A new password shows as changed, never its value.
    password = {"password": body.password} if body.password is not None else {}
    await audit.record(
        caller,
        "operator.update",
        organization_id=after.organization_id,
        target=after.id,
        before=before,
        after={**after.model_dump(), **password},
    )
    return envelope(after)


@router.delete(
    "/operators/{operator_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["operators"]
)
async def delete_operator(
    operator_id: uuid.UUID, caller: OrgAdminDep, session: SessionDep, audit: AuditDep
) -> Response:
    before = await operators.present(
        session, await operators.get_operator(session, caller.scope, operator_id)
    )
    await operators.delete_operator(session, caller, operator_id)
    await audit.record(
        caller,
        "operator.delete",
        organization_id=before.organization_id,
        target=before.id,
        before=before,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Kiosk API keys


@router.post("/kiosks/{kiosk_id}/keys", status_code=status.HTTP_201_CREATED, tags=["kiosks"])
async def create_kiosk_key(
    kiosk_id: uuid.UUID,
    body: KioskKeyCreate,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    hub: HubDep,
    after_commit: AfterCommitDep,
    audit: AuditDep,
) -> Envelope[KioskKeyCreated]:
    """Issue the kiosk a new API key (returned once, stored only as a hash). To roll keys, set
    `expire_existing_in_s`: the old keys keep working that long, then answer 401."""
    created = await kiosk_keys.issue_key(session, caller.scope, kiosk_id, body, now=clock.now())
    if body.expire_existing_in_s is not None:
        # The old keys' expiry moved forward: processes that cached them forget them.
        after_commit(functools.partial(hub.keys_changed, kiosk_id))
    await _record_key(
        audit,
        caller,
        "kiosk_key.issue",
        created,
        # The key itself never: its prefix identifies it.
        after={**KioskKeyOut.model_validate(created).model_dump(), **body.model_dump()},
    )
    return envelope(created)


@router.get("/kiosks/{kiosk_id}/keys", tags=["kiosks"])
async def list_kiosk_keys(
    kiosk_id: uuid.UUID, caller: ViewerDep, session: SessionDep, clock: ClockDep
) -> Envelope[list[KioskKeyOut]]:
    """The kiosk's keys (prefix, purpose, expiry, revocation, last use; never the key itself).
    A `diagnostic` key (`ridgeline doctor`'s, for a moment) is listed while it is valid."""
    keys = await kiosk_keys.list_keys(session, caller.scope, kiosk_id, now=clock.now())
    return envelope([KioskKeyOut.model_validate(key) for key in keys])


@router.delete("/kiosks/{kiosk_id}/keys/{key_id}", tags=["kiosks"])
async def revoke_kiosk_key(
    kiosk_id: uuid.UUID,
    key_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    hub: HubDep,
    after_commit: AfterCommitDep,
    audit: AuditDep,
) -> Envelope[KioskKeyOut]:
    """Revoke a key at once: requests with it answer 401 `TOKEN_REVOKED`, and the `/cable`
    connections it opened close on every process (without reconnecting) once committed."""
    key = KioskKeyOut.model_validate(
        await kiosk_keys.revoke_key(session, caller.scope, kiosk_id, key_id, now=clock.now())
    )
    await _record_key(
        audit, caller, "kiosk_key.revoke", key, before={"revoked_at": None}, after=key
    )
    after_commit(functools.partial(hub.disconnect_kiosk, kiosk_id, reconnect=False, key_id=key.id))
    return envelope(key)


async def _record_key(
    audit: AuditTrail,
    caller: OperatorPrincipal,
    action: str,
    key: KioskKeyOut,
    *,
    before: Mapping[str, object] | None = None,
    after: KioskKeyOut | Mapping[str, object],
) -> None:
    """A key's event, in its kiosk's store."""
    kiosk = await get_kiosk(audit.session, caller.scope, key.kiosk_id)
    await audit.record_kiosk(caller, action, kiosk, target=key.id, before=before, after=after)
