"""HTTP surface of operator alerts: list them, read, acknowledge and resolve one."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ridgeline.alerts import service
from ridgeline.alerts.lifecycle import AlertState
from ridgeline.alerts.schemas import AlertDetail, AlertOut
from ridgeline.api.dependencies import ClockDep, SessionDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.auth.dependencies import StoreManagerDep, ViewerDep

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts")
async def list_alerts(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    store_id: Annotated[uuid.UUID | None, Query(description="Only this store's alerts.")] = None,
    kind: Annotated[
        str | None, Query(max_length=64, description="Only this kind (`order_failed`, ...).")
    ] = None,
    state: Annotated[
        AlertState | None, Query(description="`pending`, `firing`, `acknowledged` or `resolved`.")
    ] = None,
) -> Page[AlertOut]:
    """The alerts of the stores the caller may see, newest first, cursor paged."""
    filters = service.AlertFilters(store_id=store_id, kind=kind, state=state)
    result = await service.list_alerts(session, caller.scope, page, filters)
    return Page[AlertOut](
        data=result.items, meta=PageMeta(next_cursor=result.next_cursor, count=len(result.items))
    )


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: uuid.UUID, caller: StoreManagerDep, session: SessionDep, clock: ClockDep
) -> Envelope[AlertOut]:
    """Marks the alert seen (`state` becomes `acknowledged`); again changes nothing."""
    return envelope(
        await service.acknowledge(
            session, caller.scope, alert_id, operator_id=caller.operator_id, at=clock.now()
        )
    )


@router.get("/alerts/{alert_id}")
async def get_alert(
    alert_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[AlertDetail]:
    """One alert, with how often it was raised while open, and its timeline: raised, each
    change of state, who made it and why."""
    return envelope(await service.get_alert(session, caller.scope, alert_id))


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    alert_id: uuid.UUID, caller: StoreManagerDep, session: SessionDep, clock: ClockDep
) -> Envelope[AlertOut]:
    """Marks the alert resolved (an operator dealt with its cause); again changes nothing. A
    condition seen again within the flap window fires it again; later, as a new alert. Alerts
    about a store's health and failed syncs resolve by themselves when their cause goes."""
    return envelope(
        await service.resolve(
            session, caller.scope, alert_id, operator_id=caller.operator_id, at=clock.now()
        )
    )
