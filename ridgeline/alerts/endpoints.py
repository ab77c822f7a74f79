"""HTTP surface of operator alerts: list them, read, acknowledge and resolve one; list the
notification groups and acknowledge a whole group."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ridgeline.alerts import service
from ridgeline.alerts.lifecycle import AlertState
from ridgeline.alerts.rules import Severity
from ridgeline.alerts.schemas import AlertDetail, AlertGroupOut, AlertOut
from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.audit.service import AuditTrail
from ridgeline.auth.dependencies import StoreManagerDep, ViewerDep
from ridgeline.auth.principal import OperatorPrincipal

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts")
async def list_alerts(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    store_id: Annotated[uuid.UUID | None, Query(description="Only this store's alerts.")] = None,
    kind: Annotated[
        str | None,
        Query(max_length=64, description="Only this rule's alerts (`order_failed`, ...)."),
    ] = None,
    rule: Annotated[
        str | None, Query(max_length=64, description="The same as `kind`; wins over it.")
    ] = None,
    state: Annotated[
        AlertState | None, Query(description="`pending`, `firing`, `acknowledged` or `resolved`.")
    ] = None,
    severity: Annotated[
        Severity | None, Query(description="`info`, `warning` or `critical`.")
    ] = None,
    group_id: Annotated[
        uuid.UUID | None, Query(description="Only the alerts of this notification group.")
    ] = None,
) -> Page[AlertOut]:
    """The alerts of the stores the caller may see, newest first, cursor paged."""
    filters = service.AlertFilters(
        store_id=store_id, kind=rule or kind, state=state, severity=severity, group_id=group_id
    )
    result = await service.list_alerts(session, caller.scope, page, filters)
    return Page[AlertOut](
        data=result.items, meta=PageMeta(next_cursor=result.next_cursor, count=len(result.items))
    )


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[AlertOut]:
    """Marks the alert seen (`state` becomes `acknowledged`); again changes nothing."""
    before = await service.get_alert(session, caller.scope, alert_id)
    after = await service.acknowledge(
        session, caller.scope, alert_id, operator_id=caller.operator_id, at=clock.now()
    )
    await _record_alert(audit, caller, "alert.acknowledge", before, after)
    return envelope(after)


@router.get("/alerts/{alert_id}")
async def get_alert(
    alert_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[AlertDetail]:
    """One alert, with how often it was raised while open, and its timeline: raised, each
    change of state, who made it and why."""
    return envelope(await service.get_alert(session, caller.scope, alert_id))


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    alert_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[AlertOut]:
    """Marks the alert resolved (an operator dealt with its cause); again changes nothing. A
    condition seen again within the flap window fires it again; later, as a new alert. Alerts
    about a store's health and failed syncs resolve by themselves when their cause goes."""
    before = await service.get_alert(session, caller.scope, alert_id)
    after = await service.resolve(
        session, caller.scope, alert_id, operator_id=caller.operator_id, at=clock.now()
    )
    await _record_alert(audit, caller, "alert.resolve", before, after)
    return envelope(after)


@router.get("/alert-groups")
async def list_alert_groups(
    caller: ViewerDep,
    session: SessionDep,
    page: PageDep,
    open_only: Annotated[
        bool, Query(alias="open", description="Only groups not yet closed (the default).")
    ] = True,
) -> Page[AlertGroupOut]:
    """Notification groups, newest first: alerts told together (one organization's alerts of
    one rule), with their counts by state, who heard and where escalation stands."""
    items, next_cursor = await service.list_groups(session, caller.scope, page, open_only=open_only)
    return Page[AlertGroupOut](data=items, meta=PageMeta(next_cursor=next_cursor, count=len(items)))


@router.get("/alert-groups/{group_id}")
async def get_alert_group(
    group_id: uuid.UUID, caller: ViewerDep, session: SessionDep
) -> Envelope[AlertGroupOut]:
    """One notification group (its alerts: GET /api/v1/alerts?group_id=...)."""
    return envelope(await service.get_group(session, caller.scope, group_id))


@router.post("/alert-groups/{group_id}/acknowledge")
async def acknowledge_alert_group(
    group_id: uuid.UUID,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[AlertGroupOut]:
    """Acknowledges every firing alert of the group the caller may see (a regional outage in
    one call); escalation stops at the next flush. Again changes nothing."""
    before = await service.get_group(session, caller.scope, group_id)
    after = await service.acknowledge_group(
        session, caller.scope, group_id, operator_id=caller.operator_id, at=clock.now()
    )
    await audit.record(
        caller, "alert_group.acknowledge", target=group_id, before=before, after=after
    )
    return envelope(after)


async def _record_alert(
    audit: AuditTrail, caller: OperatorPrincipal, action: str, before: AlertOut, after: AlertOut
) -> None:
    """The alert's event: its fields, not its timeline (`before` is the detailed view)."""
    fields = set(AlertOut.model_fields)
    await audit.record(
        caller,
        action,
        store_id=after.store_id,
        target=after.id,
        before=before.model_dump(include=fields),
        after=after.model_dump(include=fields),
    )
