"""Reading the audit trail. There is no route that changes or deletes an event: they leave
only by the retention purge (`audit.purge_events`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ridgeline.api.dependencies import SessionDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Page, PageMeta
from ridgeline.audit import service
from ridgeline.audit.repository import AuditFilter
from ridgeline.audit.schemas import AuditEventOut
from ridgeline.auth.dependencies import StoreManagerDep

router = APIRouter(prefix="/api/v1", tags=["audit"])


@router.get("/audit-events")
async def list_audit_events(
    caller: StoreManagerDep,
    session: SessionDep,
    page: PageDep,
    store_id: Annotated[uuid.UUID | None, Query()] = None,
    actor_id: Annotated[uuid.UUID | None, Query()] = None,
    action: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description='An action, or a prefix ending in "." for a family (`store.`).',
        ),
    ] = None,
    since: Annotated[datetime | None, Query(description="From this time, inclusive.")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
) -> Page[AuditEventOut]:
    """Operator actions that changed something, newest first: org admins see their
    organization's, store managers their stores', platform admins every one."""
    filters = AuditFilter(
        store_id=store_id, actor_id=actor_id, action=action, since=since, until=until
    )
    result, emails = await service.list_events(session, caller.scope, page, filters)
    events = [
        AuditEventOut.model_validate(event).model_copy(
            update={"actor_email": emails.get(event.actor_id)}
        )
        for event in result.items
    ]
    return Page[AuditEventOut](
        data=events, meta=PageMeta(next_cursor=result.next_cursor, count=len(events))
    )
