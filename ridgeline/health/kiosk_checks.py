"""`ridgeline doctor`'s checks of what kiosks rely on in the store: the kiosks online, a
real-time round trip to one of them, and the orders waiting for the POS (stuck ones).

The round trip issues the kiosk a diagnostic key valid for 120 s (its use is not the kiosk being
seen: a dead kiosk still looks dead however often the doctor runs), connects to the server's
`/cable` as that kiosk, commits one `kiosk.command` `doctor_ping` to its stream, times its
arrival, and revokes the key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ridgeline.auth import kiosk_keys
from ridgeline.auth.schemas import KioskKeyCreate
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.health import repository
from ridgeline.health.findings import Examination, Finding, Verdict, ago, iso
from ridgeline.health.reports import KIOSK_ONLINE_WITHIN
from ridgeline.models.kiosk import Kiosk, KioskKeyPurpose, KioskStatus
from ridgeline.models.order import Order, OrderStatus
from ridgeline.orders.queue import STRANDED_AFTER
from ridgeline.realtime.round_trip import RoundTrip, RoundTripFailed, cable_urls

STUCK_AFTER = timedelta(minutes=5)  # waiting longer than this: stuck, whatever the reason
LEASE_OVERDUE = timedelta(seconds=60)  # a submit lease this far past: its attempt died
ORDERS_READ = 200
ORDER_SAMPLE = 10
DOCTOR_PING = "doctor_ping"


class KioskChecks:
    def __init__(
        self, database: Database, clock: Clock, round_trip: RoundTrip, *, server_url: str
    ) -> None:
        self.database = database
        self.clock = clock
        self.round_trip = round_trip
        self.server_url = server_url

    async def kiosks(self, exam: Examination) -> Finding:
        now = self.clock.now()
        async with self.database.transaction(write=False) as session:
            kiosks = await repository.kiosks_of(session, exam.scope, exam.store.id)
        if not kiosks:
            return Finding(Verdict.SKIP, "the store has no kiosks")

        def online(kiosk: Kiosk) -> bool:
            seen = kiosk.last_seen_at
            return (
                kiosk.status is KioskStatus.ACTIVE
                and seen is not None
                and now - seen <= KIOSK_ONLINE_WITHIN
            )

        exam.online = sorted(
            (k for k in kiosks if online(k)), key=lambda k: k.last_seen_at or now, reverse=True
        )
        detail = {
            "kiosks": [
                {
                    "id": str(k.id),
                    "name": k.name,
                    "status": k.status.value,
                    "online": online(k),
                    "last_seen_at": iso(k.last_seen_at),
                    "app_version": k.app_version,
                }
                for k in kiosks
            ]
        }
        heartbeats = [k.last_seen_at for k in kiosks if k.last_seen_at is not None]
        last = f"last heartbeat {ago(now, max(heartbeats))} ago" if heartbeats else "never seen"
        offline = [k.name for k in kiosks if not online(k)]
        summary = f"{len(exam.online)} of {len(kiosks)} online (heartbeat within 90 s); {last}"
        if offline:
            summary += f"; offline: {', '.join(offline)}"
        if not exam.online:
            fix = (
                "check the kiosks' power, network and app; then a kiosk's /cable path: "
                f"ridgeline cable-check {self.server_url} --key <its key>"
            )
            return Finding(Verdict.WARN, summary, detail, fix)
        return Finding(Verdict.PASS, summary, detail)

    async def realtime_round_trip(self, exam: Examination) -> Finding:
        if not exam.online:
            return Finding(Verdict.SKIP, "no kiosk connected in the last 90 s to deliver to")
        kiosk = exam.online[0]
        _, ws_url = cable_urls(self.server_url)
        detail: dict[str, Any] = {"kiosk_id": str(kiosk.id), "kiosk": kiosk.name, "url": ws_url}
        async with self.database.transaction() as session:
            # A diagnostic key: the doctor's connection must not keep the kiosk looking online.
            key = await kiosk_keys.issue_key(
                session,
                exam.scope,
                kiosk.id,
                KioskKeyCreate(expires_in_s=kiosk_keys.DIAGNOSTIC_KEY_LIFETIME_S),
                now=self.clock.now(),
                purpose=KioskKeyPurpose.DIAGNOSTIC,
            )
        try:
            latency_ms = await self.round_trip.deliver(ws_url, key.key, kiosk.id, DOCTOR_PING)
        except RoundTripFailed as exc:
            fix = (
                f"check the /cable path: ridgeline cable-check {self.server_url} --key <a kiosk's "
                'key> (docs/operations.md, "Kiosks get no real-time updates")'
            )
            return Finding(Verdict.FAIL, str(exc), detail, fix)
        finally:
            async with self.database.transaction() as session:
                await kiosk_keys.revoke_key(
                    session, exam.scope, kiosk.id, key.id, now=self.clock.now()
                )
        detail["latency_ms"] = round(latency_ms, 1)
        summary = f"{DOCTOR_PING} reached {kiosk.name}'s channel in {latency_ms:.0f} ms"
        return Finding(Verdict.PASS, summary, detail)

    async def orders(self, exam: Examination) -> Finding:
        store, now = exam.store, self.clock.now()
        async with self.database.transaction(write=False) as session:
            waiting, oldest = await repository.waiting_orders(session, exam.scope, store.id)
            orders = await repository.waiting_orders_oldest_first(
                session, exam.scope, store.id, limit=ORDERS_READ
            )
        stuck = [(order, why) for order in orders if (why := is_stuck(order, now)) is not None]
        detail = {
            "waiting": waiting,
            "oldest_placed_at": iso(oldest),
            "stuck": len(stuck),
            "sample": [
                {
                    "reference": order.reference,
                    "status": order.status.value,
                    "placed_at": order.created_at.isoformat(),
                    "attempts": order.submit_attempts,
                    "deadline": iso(order.submit_deadline_at),
                    "last_error": order.failure_reason,
                    "why": why,
                }
                for order, why in stuck[:ORDER_SAMPLE]
            ],
        }
        if stuck:
            fix = (
                "orders leave the queue once the POS takes them: clear the failures above; "
                f"to send them now: POST /api/v1/stores/{store.id}/recovery (its drain_orders "
                f"step); the orders: GET /api/v1/stores/{store.id}/orders?status=queued"
            )
            first, why = stuck[0]
            summary = f"{len(stuck)} of {waiting} waiting order(s) stuck; {first.reference}: {why}"
            return Finding(Verdict.FAIL, summary, detail, fix)
        if waiting and oldest is not None:
            summary = f"{waiting} waiting for the POS, oldest placed {ago(now, oldest)} ago"
            return Finding(Verdict.PASS, summary, detail)
        return Finding(Verdict.PASS, "no order waits for the POS", detail)


def is_stuck(order: Order, now: datetime) -> str | None:
    """Why a waiting order is stuck, or None when it is waiting as it should."""
    if order.submit_lease_until is not None and now - order.submit_lease_until > LEASE_OVERDUE:
        return f"its submit attempt died: lease ran out at {order.submit_lease_until.isoformat()}"
    if order.status is OrderStatus.RECEIVED and now - order.created_at > STRANDED_AFTER:
        return f"received {ago(now, order.created_at)} ago and never sent"
    if now - order.created_at > STUCK_AFTER:
        return f"waiting for {ago(now, order.created_at)}"
    return None
