"""`ridgeline demo`'s seeding: a store per POS dialect connected to the simulator, idempotent."""

from __future__ import annotations

from rich.console import Console
from sqlalchemy import func, select

from ridgeline.cli.demo import check_connections, run_demo, seed_demo, serving, simulator_stores
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Kiosk, Store
from tests.net import free_port


async def test_demo_connects_a_store_to_each_simulated_pos(
    settings: Settings, database: Database
) -> None:
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    simulator, pos_stores = simulator_stores(root, products=20)
    info = await seed_demo(settings, pos_stores, root)
    assert sorted(store["pos_provider"] for store in info["stores"]) == [
        "blaze",
        "dutchie",
        "flowhub",
        "treez",
    ]
    assert all(kiosk["api_key"].startswith("rk_live_") for kiosk in info["kiosks"])
    async with serving(simulator, "127.0.0.1", port):
        await check_connections(settings, info)
    assert {store["pos_connection"] for store in info["stores"]} == {"ok"}


async def test_running_the_demo_again_reuses_its_tenant(
    settings: Settings, database: Database
) -> None:
    quiet = Console(file=None, quiet=True)
    first = await run_demo(settings, quiet, serve=False, simulator_port=3100, products=10)
    second = await run_demo(settings, quiet, serve=False, simulator_port=3100, products=10)
    assert [s["id"] for s in first["stores"]] == [s["id"] for s in second["stores"]]
    assert first["kiosks"][0]["api_key"] != second["kiosks"][0]["api_key"]  # a fresh key
    async with database.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Store)) == 4
        assert await session.scalar(select(func.count()).select_from(Kiosk)) == 4
