from __future__ import annotations

import httpx

from ridgeline.db.engine import Database
from tests.factories import make_tenant, sign_in


async def test_health_and_store_listing(client: httpx.AsyncClient, database: Database) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    response = await client.get("/api/v1/stores", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success"
    assert [s["id"] for s in body["data"]] == [str(tenant.store.id)]
    assert body["meta"] == {"next_cursor": None, "count": 1}
