"""HTTP surface of alert notification channels: CRUD, a test notification, and each channel's
delivery log. Configs are answered redacted (secrets as `********`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from ridgeline.alerts import channels, delivery
from ridgeline.alerts.channel_schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelUpdate,
    DeliveryOut,
    QueuedTest,
)
from ridgeline.alerts.tasks import channel_cipher
from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep, SettingsDep
from ridgeline.api.pagination import PageDep
from ridgeline.api.schemas import Envelope, Page, PageMeta, envelope
from ridgeline.audit.service import AuditTrail
from ridgeline.auth.dependencies import OrgAdminDep, ViewerDep
from ridgeline.auth.principal import OperatorPrincipal

router = APIRouter(prefix="/api/v1", tags=["alert channels"])


@router.get("/alert-channels")
async def list_alert_channels(
    caller: ViewerDep, session: SessionDep, page: PageDep, settings: SettingsDep
) -> Page[ChannelOut]:
    """The organization's notification channels, oldest first, configs redacted."""
    items, next_cursor = await channels.list_channels(
        session, caller.scope, page, channel_cipher(settings)
    )
    return Page[ChannelOut](data=items, meta=PageMeta(next_cursor=next_cursor, count=len(items)))


@router.post("/alert-channels", status_code=status.HTTP_201_CREATED)
async def create_alert_channel(
    body: ChannelCreate,
    caller: OrgAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[ChannelOut]:
    """Add a channel: `webhook` (signed JSON), `slack` (incoming webhook), `pagerduty` (Events
    API v2), `email` (SMTP) or `ops` (the ops stream). The config is validated against the
    kind's model (docs/alerting.md), stored encrypted and never answered back in clear."""
    cipher = channel_cipher(settings)
    row = await channels.create_channel(session, caller, body, cipher=cipher, now=clock.now())
    after = channels.describe(row, cipher)
    await _record_channel(audit, caller, "alert_channel.create", after, after=after)
    return envelope(after)


@router.get("/alert-channels/{channel_id}")
async def get_alert_channel(
    channel_id: uuid.UUID, caller: ViewerDep, session: SessionDep, settings: SettingsDep
) -> Envelope[ChannelOut]:
    """One channel, config redacted."""
    row = await channels.get_channel(session, caller.scope, channel_id)
    return envelope(channels.describe(row, channel_cipher(settings)))


@router.put("/alert-channels/{channel_id}")
async def update_alert_channel(
    channel_id: uuid.UUID,
    body: ChannelUpdate,
    caller: OrgAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[ChannelOut]:
    """Replace the channel's name, config and `enabled` (its kind stays). A secret sent back
    as `********` keeps the stored one. A disabled channel gets no new notifications, and its
    queued deliveries end `dead` instead of being sent."""
    cipher = channel_cipher(settings)
    before = channels.describe(
        await channels.get_channel(session, caller.scope, channel_id), cipher
    )
    row = await channels.update_channel(
        session, caller.scope, channel_id, body, cipher=cipher, now=clock.now()
    )
    after = channels.describe(row, cipher)
    await _record_channel(audit, caller, "alert_channel.update", after, before=before, after=after)
    return envelope(after)


@router.delete("/alert-channels/{channel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_alert_channel(
    channel_id: uuid.UUID,
    caller: OrgAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    audit: AuditDep,
) -> Response:
    """Delete the channel and its delivery log; deliveries still queued are dropped."""
    row = await channels.get_channel(session, caller.scope, channel_id)
    before = channels.describe(row, channel_cipher(settings))
    await channels.delete_channel(session, caller.scope, channel_id)
    await _record_channel(audit, caller, "alert_channel.delete", before, before=before)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/alert-channels/{channel_id}/test", status_code=status.HTTP_202_ACCEPTED)
async def test_alert_channel(
    channel_id: uuid.UUID,
    caller: OrgAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[QueuedTest]:
    """Queue a test notification to the channel (even a disabled one). Follow it in
    `GET /api/v1/alert-channels/{id}/deliveries` by the `delivery_id` answered."""
    queued = await delivery.send_test(session, caller.scope, channel_id, clock=clock)
    row = await channels.get_channel(session, caller.scope, channel_id)
    await audit.record(
        caller,
        "alert_channel.test",
        organization_id=row.organization_id,
        target=channel_id,
        after=queued,
    )
    return envelope(queued)


async def _record_channel(
    audit: AuditTrail,
    caller: OperatorPrincipal,
    action: str,
    channel: ChannelOut,
    *,
    before: ChannelOut | None = None,
    after: ChannelOut | None = None,
) -> None:
    """A channel's event: its config as operators see it, secrets already masked."""
    await audit.record(
        caller,
        action,
        organization_id=channel.organization_id,
        target=channel.id,
        before=before,
        after=after,
    )


@router.get("/alert-channels/{channel_id}/deliveries")
async def list_alert_channel_deliveries(
    channel_id: uuid.UUID, caller: ViewerDep, session: SessionDep, page: PageDep
) -> Page[DeliveryOut]:
    """The channel's deliveries, newest first: status (`queued`, `sent`, `failed`: retrying,
    `dead`), the last attempt's result, and every attempt."""
    items, next_cursor = await delivery.list_deliveries(session, caller.scope, channel_id, page)
    return Page[DeliveryOut](data=items, meta=PageMeta(next_cursor=next_cursor, count=len(items)))
