"""A real `ridgeline serve` judges the components on its own schedule, and what operators posted
on the status page survives a SIGKILL and restart."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Role
from tests.factories import PASSWORD, make_operator
from tests.net import free_port
from tests.test_server import running_server

FAST = {"RIDGELINE_STATUS_EVALUATE_INTERVAL_S": "1"}


async def until(check: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.3)


async def test_the_page_survives_a_killed_server(settings: Settings, database: Database) -> None:
    admin = await make_operator(database, Role.PLATFORM_ADMIN)
    port = free_port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

        async def evaluated() -> dict[str, Any] | None:
            data: dict[str, Any] = (await client.get("/api/v1/status")).json()["data"]
            return data if len(data["components"]) == 8 else None

        with running_server(settings, port, extra_env=FAST) as server:
            # Nobody asked: the schedule made and judged every component.
            data = await until(evaluated)
            assert {c["status"] for c in data["components"]} == {"operational"}
            token = (
                await client.post(
                    "/api/v1/auth/token", json={"email": admin.email, "password": PASSWORD}
                )
            ).json()["data"]["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            incident = await client.post(
                "/api/v1/status/incidents",
                json={
                    "name": "Delayed catalog updates",
                    "body": "Catalog changes reach kiosks late.",
                    "components": {"catalog_sync": "degraded_performance"},
                },
                headers=headers,
            )
            assert incident.status_code == 201, incident.text
            start = datetime.now(UTC) + timedelta(days=1)
            maintenance = await client.post(
                "/api/v1/status/maintenances",
                json={
                    "name": "Network upgrade",
                    "body": "Short interruptions possible.",
                    "components": ["realtime"],
                    "scheduled_for": start.isoformat(),
                    "scheduled_until": (start + timedelta(hours=1)).isoformat(),
                },
                headers=headers,
            )
            assert maintenance.status_code == 201, maintenance.text
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=10)

        with running_server(settings, port, extra_env=FAST):
            data = (await client.get("/api/v1/status")).json()["data"]
            (open_incident,) = data["incidents"]
            assert open_incident["id"] == incident.json()["data"]["id"]
            assert [u["body"] for u in open_incident["updates"]] == [
                "Catalog changes reach kiosks late."
            ]
            (upcoming,) = data["scheduled_maintenances"]
            assert upcoming["name"] == "Network upgrade"
            statuses = {c["key"]: c["status"] for c in data["components"]}
            assert statuses["catalog_sync"] == "degraded_performance"
            assert data["status"]["indicator"] == "minor"
