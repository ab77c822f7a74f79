"""Remote operations on kiosks over `/cable`: commands and remote disconnect.

A command is a `kiosk.command` message on the kiosk's own stream, written in the request's
transaction: a connected kiosk gets it at once on `KioskChannel`, one that is offline gets it
when it reconnects and replays its history. Presence (connected, since when, app version) is
shown on the kiosk lists (`GET /api/v1/stores/{id}/kiosks`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

import structlog
from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field, model_validator

from ridgeline.api.dependencies import ClockDep, SessionDep
from ridgeline.api.schemas import Envelope, RequestBody, envelope
from ridgeline.auth.dependencies import PlatformAdminDep, StoreManagerDep
from ridgeline.config import Settings
from ridgeline.realtime import protocol
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.streams import append, kiosk_stream
from ridgeline.stores import service as stores

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/v1", tags=["kiosks"])

MAX_CONFIG_BYTES = 16 * 1024


class KioskCommandType(StrEnum):
    RELOAD = "reload"
    SHOW_MESSAGE = "show_message"
    UPDATE_CONFIG = "update_config"


class KioskCommandIn(RequestBody):
    type: KioskCommandType
    message: str | None = Field(default=None, min_length=1, max_length=500)
    duration_s: int | None = Field(default=None, ge=1, le=86_400)
    config: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _fields_of_type(self) -> Self:
        if self.type is KioskCommandType.SHOW_MESSAGE and self.message is None:
            raise ValueError("show_message needs a message")
        if self.type is not KioskCommandType.SHOW_MESSAGE and (
            self.message is not None or self.duration_s is not None
        ):
            raise ValueError("message and duration_s belong to show_message")
        if self.type is KioskCommandType.UPDATE_CONFIG:
            if not self.config:
                raise ValueError("update_config needs a non-empty config object")
            if len(protocol.encode(self.config)) > MAX_CONFIG_BYTES:
                raise ValueError(f"config is larger than {MAX_CONFIG_BYTES} bytes")
        elif self.config is not None:
            raise ValueError("config belongs to update_config")
        return self


class KioskCommandOut(BaseModel):
    command_id: uuid.UUID
    kiosk_id: uuid.UUID
    type: KioskCommandType
    issued_at: datetime
    stream_id: str
    offset: int
    connected: bool | None  # None: presence unknown right now (Redis away)


class DisconnectIn(RequestBody):
    # False: the kiosk app is told not to reconnect (until it restarts).
    reconnect: bool = True


class DisconnectOut(BaseModel):
    kiosk_id: uuid.UUID
    connections: int | None  # open connections told to close; None: presence unknown
    reconnect: bool


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def _connected(hub: Hub, store_id: uuid.UUID, kiosk_id: uuid.UUID) -> int | None:
    """The kiosk's live connections, or None when presence cannot be read (Redis away): the
    command or disconnect still goes out, only the count is unknown."""
    try:
        entries = await hub.state.present(str(store_id))
    except Exception:
        log.exception("presence_read_failed", store_id=str(store_id))
        return None
    return sum(1 for entry in entries if entry.kiosk_id == str(kiosk_id))


@router.post("/kiosks/{kiosk_id}/commands", status_code=status.HTTP_202_ACCEPTED)
async def send_kiosk_command(
    kiosk_id: uuid.UUID,
    body: KioskCommandIn,
    caller: StoreManagerDep,
    session: SessionDep,
    clock: ClockDep,
    request: Request,
) -> Envelope[KioskCommandOut]:
    """Reload the kiosk app, show a message on it, or push it new configuration. Delivered on
    `KioskChannel` now if the kiosk is connected, else when it reconnects."""
    kiosk = await stores.get_kiosk(session, caller.scope, kiosk_id)
    command_id = uuid.uuid4()
    now = clock.now()
    data: dict[str, Any] = {
        "command_id": str(command_id),
        "command": body.type.value,
        "issued_by": str(caller.operator_id),
    }
    if body.message is not None:
        data["message"] = body.message
    if body.duration_s is not None:
        data["duration_s"] = body.duration_s
    if body.config is not None:
        data["config"] = body.config
    event_type = "kiosk.config" if body.type is KioskCommandType.UPDATE_CONFIG else "kiosk.command"
    placed = await append(session, kiosk_stream(kiosk.id), event_type, data, at=now)
    connected = await _connected(_hub(request), kiosk.store_id, kiosk.id)
    return envelope(
        KioskCommandOut(
            command_id=command_id,
            kiosk_id=kiosk.id,
            type=body.type,
            issued_at=now,
            stream_id=placed.stream_id,
            offset=placed.offset,
            connected=None if connected is None else connected > 0,
        )
    )


@router.post("/kiosks/{kiosk_id}/disconnect", status_code=status.HTTP_202_ACCEPTED)
async def disconnect_kiosk(
    kiosk_id: uuid.UUID,
    body: DisconnectIn,
    caller: StoreManagerDep,
    session: SessionDep,
    request: Request,
) -> Envelope[DisconnectOut]:
    """Close the kiosk's `/cable` connections on every server process (reason `remote`)."""
    kiosk = await stores.get_kiosk(session, caller.scope, kiosk_id)
    hub = _hub(request)
    connections = await _connected(hub, kiosk.store_id, kiosk.id)
    await hub.disconnect_kiosk(kiosk.id, reconnect=body.reconnect)
    return envelope(
        DisconnectOut(kiosk_id=kiosk.id, connections=connections, reconnect=body.reconnect)
    )


class CableStatusOut(BaseModel):
    node: str
    mode: str  # embedded (in-memory backplane) or scaled (Redis)
    backplane_connected: bool
    connections: int
    connections_by_protocol: dict[str, int]
    kiosk_connections: int
    operator_connections: int
    subscriptions_by_channel: dict[str, int]
    streams_followed: int
    ping_interval_s: float
    poll_interval_s: float
    send_queue_max: int
    allowed_origins: list[str]


@router.get("/realtime/status", tags=["realtime"])
async def cable_status(caller: PlatformAdminDep, request: Request) -> Envelope[CableStatusOut]:
    """This server process's `/cable`: its connections and subscriptions, and whether its
    backplane is connected (scaled mode: ask each process; the load balancer picks one)."""
    hub = _hub(request)
    settings: Settings = request.app.state.settings
    by_protocol: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    kiosks = 0
    for connection in hub.connections.values():
        by_protocol[connection.protocol_name] = by_protocol.get(connection.protocol_name, 0) + 1
        kiosks += connection.kiosk_id is not None
        for subscription in connection.subscriptions.values():
            by_channel[subscription.channel] = by_channel.get(subscription.channel, 0) + 1
    return envelope(
        CableStatusOut(
            node=hub.node,
            mode="embedded" if settings.embedded else "scaled",
            backplane_connected=hub.backplane.is_connected,
            connections=len(hub.connections),
            connections_by_protocol=by_protocol,
            kiosk_connections=kiosks,
            operator_connections=len(hub.connections) - kiosks,
            subscriptions_by_channel=by_channel,
            streams_followed=hub.streams_followed,
            ping_interval_s=hub.ping_interval_s,
            poll_interval_s=hub.poll_interval_s,
            send_queue_max=hub.queue_max,
            allowed_origins=settings.cable_allowed_origins,
        )
    )
