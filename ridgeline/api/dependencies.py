"""FastAPI dependencies every domain's endpoints share: the process's services (settings,
database, clock, POS connector, real-time hub, ...) and the request's database session.

`get_services` is the one place outside the app's assembly that knows where the services are
kept; endpoints name what they need with the `...Dep` types below.

Every dependency here is `async def`, though none awaits: FastAPI runs a plain `def` dependency
in a worker thread, a thread hop each (ten on a kiosk's catalog request) for a few attribute
reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.middleware import RequestSession
from ridgeline.api.rate_limits import ApiRateLimits
from ridgeline.audit.service import AuditTrail
from ridgeline.auth.service import KioskKeyReader
from ridgeline.auth.throttle import SignInThrottle
from ridgeline.auth.usage import KioskKeyUsage
from ridgeline.catalog.listing import CatalogIndexCache
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.monitoring.context import current_request_id
from ridgeline.monitoring.exposition import MetricsExposition
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.activity import KioskActivity
from ridgeline.realtime.hub import Hub
from ridgeline.services import Services


async def get_services(connection: HTTPConnection) -> Services:
    """The services of the app serving this request or WebSocket (set by `create_app`)."""
    services: Services = connection.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _service(attribute: str) -> Callable[[Services], Awaitable[object]]:
    """A dependency handing an endpoint one of the services (its type is in the `...Dep`)."""

    async def get(services: ServicesDep) -> object:
        return getattr(services, attribute)

    get.__name__ = f"get_{attribute}"
    return get


def _request_session(connection: HTTPConnection) -> RequestSession:
    holder: RequestSession = connection.state.db
    return holder


async def get_session(connection: HTTPConnection) -> AsyncSession:
    """The request's session; `DatabaseSessionMiddleware` commits or rolls it back."""
    return _request_session(connection).get()


AfterCommit = Callable[[Callable[[], Awaitable[None]]], None]


async def get_after_commit(connection: HTTPConnection) -> AfterCommit:
    """Registers an action to run once the request's transaction has committed."""
    return _request_session(connection).after_commit


async def get_audit_trail(connection: HTTPConnection, services: ServicesDep) -> AuditTrail:
    """The audit trail of this request: its session, and where the request came from. The
    client address is kept as is (uvicorn takes it from `X-Forwarded-For` only behind a
    trusted proxy): knowing where an action came from is what the trail is for."""
    return AuditTrail(
        session=_request_session(connection).get(),
        clock=services.clock,
        request_id=current_request_id(),
        client_address=connection.client.host if connection.client else None,
    )


SettingsDep = Annotated[Settings, Depends(_service("settings"))]
DatabaseDep = Annotated[Database, Depends(_service("database"))]
ClockDep = Annotated[Clock, Depends(_service("clock"))]
PosConnectorDep = Annotated[PosConnector, Depends(_service("pos_connector"))]
HubDep = Annotated[Hub, Depends(_service("hub"))]
KioskKeyUsageDep = Annotated[KioskKeyUsage, Depends(_service("kiosk_key_usage"))]
KioskKeyReaderDep = Annotated[KioskKeyReader, Depends(_service("kiosk_key_reader"))]
KioskActivityDep = Annotated[KioskActivity, Depends(_service("kiosk_activity"))]
SignInThrottleDep = Annotated[SignInThrottle, Depends(_service("sign_in_throttle"))]
ApiRateLimitsDep = Annotated[ApiRateLimits, Depends(_service("api_rate_limits"))]
CatalogIndexesDep = Annotated[CatalogIndexCache, Depends(_service("catalog_indexes"))]
MetricsDep = Annotated[MetricsExposition, Depends(_service("metrics"))]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
AfterCommitDep = Annotated[AfterCommit, Depends(get_after_commit)]
AuditDep = Annotated[AuditTrail, Depends(get_audit_trail)]
