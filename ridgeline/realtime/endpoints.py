"""HTTP surface of the remote operations on kiosks over `/cable` (commands, remote disconnect)
and of this process's `/cable` status. The rules are in service.py.

Presence (connected, since when, app version) is shown on the kiosk lists
(`GET /api/v1/stores/{id}/kiosks`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ridgeline.api.dependencies import AuditDep, ClockDep, HubDep, SessionDep, SettingsDep
from ridgeline.api.schemas import Envelope, envelope
from ridgeline.auth.dependencies import PlatformAdminDep, StoreManagerDep
from ridgeline.realtime import service
from ridgeline.realtime.schemas import (
    CableStatusOut,
    DisconnectIn,
    DisconnectOut,
    KioskCommandIn,
    KioskCommandOut,
)
from ridgeline.stores.service import get_kiosk

router = APIRouter(prefix="/api/v1", tags=["kiosks"])


@router.post("/kiosks/{kiosk_id}/commands", status_code=status.HTTP_202_ACCEPTED)
async def send_kiosk_command(
    kiosk_id: uuid.UUID,
    body: KioskCommandIn,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    hub: HubDep,
    audit: AuditDep,
) -> Envelope[KioskCommandOut]:
    """Reload the kiosk app, show a message on it, or push it new configuration. Delivered on
    `KioskChannel` now if the kiosk is connected, else when it reconnects."""
    sent = await service.send_kiosk_command(session, caller, hub, kiosk_id, body, clock=clock)
    kiosk = await get_kiosk(session, caller.scope, kiosk_id)
    after = {**body.model_dump(), **sent.model_dump()}
    await audit.record_kiosk(caller, "kiosk.command", kiosk, after=after)
    return envelope(sent)


@router.post("/kiosks/{kiosk_id}/disconnect", status_code=status.HTTP_202_ACCEPTED)
async def disconnect_kiosk(
    kiosk_id: uuid.UUID,
    body: DisconnectIn,
    caller: StoreManagerDep,
    session: SessionDep,
    hub: HubDep,
    audit: AuditDep,
) -> Envelope[DisconnectOut]:
    """Close the kiosk's `/cable` connections on every server process (reason `remote`)."""
    done = await service.disconnect_kiosk(session, caller, hub, kiosk_id, reconnect=body.reconnect)
    kiosk = await get_kiosk(session, caller.scope, kiosk_id)
    await audit.record_kiosk(caller, "kiosk.disconnect", kiosk, after=done.model_dump())
    return envelope(done)


@router.get("/realtime/status", tags=["realtime"])
async def cable_status(
    caller: PlatformAdminDep, hub: HubDep, settings: SettingsDep
) -> Envelope[CableStatusOut]:
    """This server process's `/cable`: its connections and subscriptions, and whether its
    backplane is connected (scaled mode: ask each process; the load balancer picks one)."""
    return envelope(service.cable_status(hub, settings))
