"""Rules of the kiosk remote operations and of the `/cable` status summary.

A command is a `kiosk.command` (or `kiosk.config`) message on the kiosk's own stream, written in
the caller's transaction: a connected kiosk gets it at once on `KioskChannel`, one that is offline
gets it when it reconnects and replays its history. Like every service, these never commit.
"""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.realtime.hub import Hub
from ridgeline.realtime.schemas import (
    CableStatusOut,
    DisconnectOut,
    KioskCommandIn,
    KioskCommandOut,
    KioskCommandType,
)
from ridgeline.realtime.streams import append, kiosk_stream
from ridgeline.stores import service as stores

log = structlog.get_logger(__name__)


def kiosk_command(
    body: KioskCommandIn, *, command_id: uuid.UUID, issued_by: uuid.UUID
) -> tuple[str, dict[str, Any]]:
    """The event type and data of the message that carries a command to its kiosk: new
    configuration is a `kiosk.config`, anything else a `kiosk.command`."""
    data: dict[str, Any] = {
        "command_id": str(command_id),
        "command": body.type.value,
        "issued_by": str(issued_by),
    }
    if body.message is not None:
        data["message"] = body.message
    if body.duration_s is not None:
        data["duration_s"] = body.duration_s
    if body.config is not None:
        data["config"] = body.config
    event_type = "kiosk.config" if body.type is KioskCommandType.UPDATE_CONFIG else "kiosk.command"
    return event_type, data


async def connection_count(hub: Hub, store_id: uuid.UUID, kiosk_id: uuid.UUID) -> int | None:
    """The kiosk's live connections on every process, or None when presence cannot be read
    (Redis away): the command or disconnect still goes out, only the count is unknown."""
    try:
        entries = await hub.state.present(str(store_id))
    except Exception:
        log.exception("presence_read_failed", store_id=str(store_id))
        return None
    return sum(1 for entry in entries if entry.kiosk_id == str(kiosk_id))


async def send_kiosk_command(
    session: AsyncSession,
    caller: OperatorPrincipal,
    hub: Hub,
    kiosk_id: uuid.UUID,
    body: KioskCommandIn,
    *,
    clock: Clock,
) -> KioskCommandOut:
    kiosk = await stores.get_kiosk(session, caller.scope, kiosk_id)
    command_id = uuid.uuid4()
    now = clock.now()
    event_type, data = kiosk_command(body, command_id=command_id, issued_by=caller.operator_id)
    placed = await append(session, kiosk_stream(kiosk.id), event_type, data, at=now)
    connected = await connection_count(hub, kiosk.store_id, kiosk.id)
    return KioskCommandOut(
        command_id=command_id,
        kiosk_id=kiosk.id,
        type=body.type,
        issued_at=now,
        stream_id=placed.stream_id,
        offset=placed.offset,
        connected=None if connected is None else connected > 0,
    )


async def disconnect_kiosk(
    session: AsyncSession,
    caller: OperatorPrincipal,
    hub: Hub,
    kiosk_id: uuid.UUID,
    *,
    reconnect: bool,
) -> DisconnectOut:
    """Tells every process to close the kiosk's connections; the count is of those open now."""
    kiosk = await stores.get_kiosk(session, caller.scope, kiosk_id)
    connections = await connection_count(hub, kiosk.store_id, kiosk.id)
    await hub.disconnect_kiosk(kiosk.id, reconnect=reconnect)
    return DisconnectOut(kiosk_id=kiosk.id, connections=connections, reconnect=reconnect)


def cable_status(hub: Hub, settings: Settings) -> CableStatusOut:
    """This process's connections by protocol and kind, and its subscriptions by channel."""
    by_protocol: dict[str, int] = {}
    by_channel: dict[str, int] = {}
    kiosks = 0
    for connection in hub.connections.values():
        by_protocol[connection.protocol_name] = by_protocol.get(connection.protocol_name, 0) + 1
        kiosks += connection.key_of_kiosk is not None  # a doctor's too: it holds a kiosk key
        for subscription in connection.subscriptions.values():
            by_channel[subscription.channel] = by_channel.get(subscription.channel, 0) + 1
    return CableStatusOut(
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
