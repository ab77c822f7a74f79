"""`ridgeline cable-check` against a real server: every step passes, or the failing one is named."""

from __future__ import annotations

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.kiosk import Kiosk
from ridgeline.realtime.check import CableCheck
from tests.factories import make_tenant
from tests.realtime.conftest import LiveServer, start_server


async def test_a_healthy_kiosk_passes_every_step(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    steps = await CableCheck(live.base_url, tenant.kiosk_key).run()
    assert [(s.name, s.ok) for s in steps] == [
        ("kiosk key over HTTP", True),
        ("WebSocket handshake", True),
        ("authentication", True),
        ("StoreChannel", True),
        ("KioskChannel", True),
        ("heartbeat", True),
        ("server pings", True),
    ]
    assert "actioncable-v1-ext-json" in steps[1].detail
    assert str(tenant.store.id) in steps[0].detail


async def test_a_refused_key_stops_at_the_first_step(live: LiveServer, database: Database) -> None:
    tenant = await make_tenant(database)
    async with database.transaction() as session:
        kiosk = await session.get(Kiosk, tenant.kiosk.id)
        assert kiosk is not None
        kiosk.status = kiosk.status.DISABLED
    steps = await CableCheck(live.base_url, tenant.kiosk_key).run()
    assert [(s.name, s.ok) for s in steps] == [("kiosk key over HTTP", False)]
    assert "401" in steps[0].detail


async def test_an_origin_outside_the_list_fails_the_handshake(
    cable_settings: Settings, database: Database, clock: FakeClock
) -> None:
    settings = cable_settings.model_copy(update={"cable_allowed_origins": ["https://kiosk.test"]})
    live = await start_server(settings, database, clock)
    try:
        tenant = await make_tenant(database)
        steps = await CableCheck(live.base_url, tenant.kiosk_key, origin="https://x.test").run()
    finally:
        await live.stop()
    assert [(s.name, s.ok) for s in steps] == [
        ("kiosk key over HTTP", True),
        ("WebSocket handshake", False),
    ]
    assert "403" in steps[1].detail
    assert "RIDGELINE_CABLE_ALLOWED_ORIGINS" in steps[1].detail


async def test_nothing_listening_is_reported_as_unreachable() -> None:
    steps = await CableCheck("http://127.0.0.1:9", "rk_live_x").run()
    assert len(steps) == 1
    assert not steps[0].ok
    assert "unreachable" in steps[0].detail
