"""Typed authentication dependencies. An endpoint's signature says who may call it:

    async def get_store(store_id: UUID, caller: ViewerDep, ...)   # any operator of the tenant
    async def create_store(caller: OrgAdminDep, ...)               # org admins and above
    async def catalog(kiosk: KioskDep, ...)                        # a kiosk API key

Endpoints with none of these must be declared public with `PUBLIC` (a test walks every route).

Both paths count the API rate limits (`ridgeline.api.rate_limits`): `authenticate_caller` draws
from the authenticated caller's budget (or, when the credentials fail, from the client
address's, so guessing keys is limited like any anonymous traffic), and `limit_public_routes`,
an app-wide dependency, from the client address's on public routes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from fastapi.requests import HTTPConnection
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ridgeline.api.dependencies import (
    ApiRateLimitsDep,
    ClockDep,
    DatabaseDep,
    KioskKeyReaderDep,
    KioskKeyUsageDep,
    SettingsDep,
)
from ridgeline.api.rate_limits import UNLIMITED_PATHS, route_path
from ridgeline.auth import service
from ridgeline.auth.credentials import KIOSK_KEY_PREFIX
from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import AuthenticationRequired, Forbidden, RidgelineError
from ridgeline.models.operator import Role

# Marks a route that anyone may call: `@router.get(..., openapi_extra=PUBLIC)`.
PUBLIC_MARK = "x-ridgeline-public"
PUBLIC: dict[str, Any] = {PUBLIC_MARK: True}
# POS webhook deliveries (`ridgeline.webhooks`) have their own budget per address.
WEBHOOK_ROUTE_PREFIX = "/api/v1/pos-webhooks/"

_bearer = HTTPBearer(
    auto_error=False,
    description="An operator access token, or a kiosk API key (`rk_live_...`).",
)


async def authenticate_caller(
    connection: HTTPConnection,
    database: DatabaseDep,
    usage: KioskKeyUsageDep,
    kiosk_keys: KioskKeyReaderDep,
    settings: SettingsDep,
    clock: ClockDep,
    rate_limits: ApiRateLimitsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        if credentials is None or not credentials.credentials:
            raise AuthenticationRequired()
        caller = await _authenticate(
            credentials.credentials, database, usage, kiosk_keys, settings, clock
        )
    except RidgelineError:
        # A key that failed is nobody's: the attempt counts against the client address (429
        # instead of 401 once that is spent).
        await rate_limits.admit(connection, None)
        raise
    await rate_limits.admit(connection, caller)
    return caller


async def _authenticate(
    bearer: str,
    database: Database,
    usage: KioskKeyUsage,
    kiosk_keys: service.KioskKeyReader,
    settings: Settings,
    clock: Clock,
) -> Principal:
    if bearer.startswith(KIOSK_KEY_PREFIX):
        # The per-process key cache `/cable` uses too (auth/key_cache.py): a kiosk's requests
        # read its key once per `cable_key_cache_ttl_s`, not once each. Every request is still
        # checked: expiry on each use, and the notice of a revocation, a disabled or deleted
        # kiosk or a key roll empties the kiosk's entries at once in every process (in the
        # changing request's own process before its response is sent).
        return await kiosk_keys.authenticate(bearer, now=clock.now(), key_usage=usage)
    # Its own short read-only transaction, not the request's session: on SQLite a write
    # request's session holds the write lock from its first query, and authentication must
    # not take it (an endpoint that calls a POS keeps it free for the breaker and call log).
    async with database.transaction(write=False) as session:
        return await service.authenticate(
            session, bearer, settings=settings, now=clock.now(), key_usage=usage
        )


async def limit_public_routes(connection: HTTPConnection, rate_limits: ApiRateLimitsDep) -> None:
    """App-wide: a public route (`PUBLIC`) draws from the client address's budget, POS
    webhooks from their own; routes with callers are counted by `authenticate_caller`, health
    checks, metrics and static pages not at all (`UNLIMITED_PATHS`)."""
    if connection.scope["type"] != "http":
        return
    route = connection.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    path = route_path(connection)
    if not extra.get(PUBLIC_MARK) or path in UNLIMITED_PATHS:
        return
    await rate_limits.admit(connection, None, webhook=path.startswith(WEBHOOK_ROUTE_PREFIX))


CallerDep = Annotated[Principal, Depends(authenticate_caller)]


class RequireOperator:
    """An operator whose role is at least `minimum`; kiosks are refused."""

    def __init__(self, minimum: Role) -> None:
        self.minimum = minimum

    async def __call__(self, caller: CallerDep) -> OperatorPrincipal:
        if not isinstance(caller, OperatorPrincipal):
            raise Forbidden("Kiosk API keys cannot call operator endpoints.")
        if not caller.has_role(self.minimum):
            raise Forbidden(
                f"This needs the {self.minimum.value} role or above.",
                details={"required_role": self.minimum.value, "role": caller.role.value},
            )
        return caller


async def require_kiosk(caller: CallerDep) -> KioskPrincipal:
    if not isinstance(caller, KioskPrincipal):
        raise Forbidden("This endpoint is for kiosks; authenticate with a kiosk API key.")
    return caller


ViewerDep = Annotated[OperatorPrincipal, Depends(RequireOperator(Role.VIEWER))]
StoreManagerDep = Annotated[OperatorPrincipal, Depends(RequireOperator(Role.STORE_MANAGER))]
OrgAdminDep = Annotated[OperatorPrincipal, Depends(RequireOperator(Role.ORG_ADMIN))]
PlatformAdminDep = Annotated[OperatorPrincipal, Depends(RequireOperator(Role.PLATFORM_ADMIN))]
KioskDep = Annotated[KioskPrincipal, Depends(require_kiosk)]
