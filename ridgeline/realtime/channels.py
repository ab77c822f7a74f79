"""The channels a `/cable` client may subscribe to, and who may.

Each subscription follows exactly one stream. A refusal is a `reject_subscription` with nothing
said about why on the wire (the reason is logged), so a kiosk cannot probe other stores.

- `StoreChannel {store_id}`: the kiosks of that store.
- `KioskChannel {}`: the calling kiosk's own commands; its `heartbeat` action.
- `OrderChannel {order_id}`: status changes of an order the calling kiosk took.
- `OpsChannel {organization_id}`: operators of that organization with organization-wide access
  (platform admins: any).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ridgeline.auth.principal import KioskPrincipal, OperatorPrincipal, Principal
from ridgeline.db.engine import Database
from ridgeline.models.operator import Role
from ridgeline.orders import repository as orders_repository
from ridgeline.realtime.streams import kiosk_stream, ops_stream, order_stream, store_stream

STORE_CHANNEL = "StoreChannel"
KIOSK_CHANNEL = "KioskChannel"
ORDER_CHANNEL = "OrderChannel"
OPS_CHANNEL = "OpsChannel"
CHANNELS = (STORE_CHANNEL, KIOSK_CHANNEL, ORDER_CHANNEL, OPS_CHANNEL)


class SubscriptionRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Grant:
    channel: str
    stream_id: str
    order_id: uuid.UUID | None = None  # OrderChannel: ownership is checked in the database


def _uuid_param(params: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(params.get(name)))
    except ValueError:
        raise SubscriptionRefused(f"{name} is not a valid id") from None


def authorize(principal: Principal, params: dict[str, Any]) -> Grant:
    """The stream this caller may follow for these identifier params, or `SubscriptionRefused`."""
    channel = params.get("channel")
    if channel == STORE_CHANNEL:
        store_id = _uuid_param(params, "store_id")
        if not isinstance(principal, KioskPrincipal) or principal.store_id != store_id:
            raise SubscriptionRefused("StoreChannel is for the kiosks of that store")
        return Grant(STORE_CHANNEL, store_stream(store_id))
    if channel == KIOSK_CHANNEL:
        if not isinstance(principal, KioskPrincipal):
            raise SubscriptionRefused("KioskChannel is for kiosks")
        return Grant(KIOSK_CHANNEL, kiosk_stream(principal.kiosk_id))
    if channel == ORDER_CHANNEL:
        order_id = _uuid_param(params, "order_id")
        if not isinstance(principal, KioskPrincipal):
            raise SubscriptionRefused("OrderChannel is for the kiosk that took the order")
        return Grant(ORDER_CHANNEL, order_stream(order_id), order_id)
    if channel == OPS_CHANNEL:
        organization_id = _uuid_param(params, "organization_id")
        if not isinstance(principal, OperatorPrincipal):
            raise SubscriptionRefused("OpsChannel is for operators")
        if principal.role is not Role.PLATFORM_ADMIN and principal.organization_id != (
            organization_id
        ):
            raise SubscriptionRefused("OpsChannel of another organization")
        if principal.store_ids is not None:
            # The organization's stream carries every store's health: not for a manager
            # restricted to some stores.
            raise SubscriptionRefused("OpsChannel needs organization-wide access")
        return Grant(OPS_CHANNEL, ops_stream(organization_id))
    raise SubscriptionRefused(f"unknown channel {channel!r}")


async def authorize_subscription(
    database: Database, principal: Principal, params: dict[str, Any]
) -> Grant:
    """`authorize`, plus the database check some channels need (an order is the kiosk's own)."""
    grant = authorize(principal, params)
    if grant.order_id is not None:
        assert isinstance(principal, KioskPrincipal)
        async with database.transaction(write=False) as session:
            owned = await orders_repository.order(
                session, principal.scope, grant.order_id, kiosk_id=principal.kiosk_id
            )
        if owned is None:
            raise SubscriptionRefused("not an order of this kiosk")
    return grant
