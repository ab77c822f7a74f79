"""HTTP surface of the remote operations on kiosks over `/cable` (commands, remote disconnect)
and of this process's `/cable` status. The rules are in service.py.

Presence (connected, since when, app version) is shown on the kiosk lists
(`GET /api/v1/stores/{id}/kiosks`).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from ridgeline.api.dependencies import ClockDep, HubDep, SessionDep, SettingsDep
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

router = APIRouter(prefix="/api/v1", tags=["kiosks"])


@router.post("/kiosks/{kiosk_id}/commands", status_code=status.HTTP_202_ACCEPTED)
async def send_kiosk_command(
    kiosk_id: uuid.UUID,
    body: KioskCommandIn,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    hub: HubDep,
) -> Envelope[KioskCommandOut]:
    """Reload the kiosk app, show a message on it, or push it new configuration. Delivered on
    `KioskChannel` now if the kiosk is connected, else when it reconnects."""
    return envelope(
        await service.send_kiosk_command(session, caller, hub, kiosk_id, body, clock=clock)
    )


@router.post("/kiosks/{kiosk_id}/disconnect", status_code=status.HTTP_202_ACCEPTED)
async def disconnect_kiosk(
    kiosk_id: uuid.UUID,
    body: DisconnectIn,
    caller: StoreManagerDep,
    session: SessionDep,
    hub: HubDep,
) -> Envelope[DisconnectOut]:
    """Close the kiosk's `/cable` connections on every server process (reason `remote`)."""
    return envelope(
        await service.disconnect_kiosk(session, caller, hub, kiosk_id, reconnect=body.reconnect)
    )


@router.get("/realtime/status", tags=["realtime"])
async def cable_status(
    caller: PlatformAdminDep, hub: HubDep, settings: SettingsDep
) -> Envelope[CableStatusOut]:
    """This server process's `/cable`: its connections and subscriptions, and whether its
    backplane is connected (scaled mode: ask each process; the load balancer picks one)."""
    return envelope(service.cable_status(hub, settings))
