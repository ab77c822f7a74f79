"""Support's job endpoints: see the queue, find dead jobs and their errors, retry them."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import Job, JobStatus, Role
from tests.assertions import assert_error
from tests.factories import make_operator, make_organization, sign_in
from tests.jobs.factories import add_job


async def _kill(database: Database, job_id: object, error: str) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=JobStatus.DEAD, attempts=10, last_error=error)
        )


async def test_support_finds_a_dead_job_and_retries_it(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    healthy = await add_job(database, "test.noop", clock=clock)
    broken = await add_job(database, "test.noop", {"store": "x"}, clock=clock)
    await _kill(database, broken, "ConnectError: POS unreachable")

    summary = (await client.get("/api/v1/jobs/summary", headers=headers)).json()["data"]
    assert summary["counts"]["dead"] == 1
    assert summary["counts"]["queued"] == 1
    assert summary["counts_by_kind"] == {"test.noop": {"queued": 1, "dead": 1}}
    assert summary["due"] == 1
    assert summary["oldest_due_at"] is not None

    dead = (await client.get("/api/v1/jobs?status=dead", headers=headers)).json()["data"]
    assert [job["id"] for job in dead] == [str(broken)]
    assert dead[0]["last_error"] == "ConnectError: POS unreachable"

    retried = await client.post(f"/api/v1/jobs/{broken}/retry", headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["status"] == "queued"
    assert retried.json()["data"]["attempts"] == 0

    again = await client.post(f"/api/v1/jobs/{healthy}/retry", headers=headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"

    detail = await client.get(f"/api/v1/jobs/{broken}", headers=headers)
    assert detail.json()["data"]["status"] == "queued"


async def test_only_platform_admins_see_jobs(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    job_id = await add_job(database, "test.noop", clock=clock)
    admin = await make_operator(database, Role.ORG_ADMIN, await make_organization(database))
    headers = await sign_in(client, admin)
    for path in ("/api/v1/jobs", "/api/v1/jobs/summary", f"/api/v1/jobs/{job_id}"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "FORBIDDEN"


async def test_the_job_list_pages_newest_first_by_cursor(
    client: httpx.AsyncClient, database: Database, clock: FakeClock
) -> None:
    headers = await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))
    added = []
    for _ in range(5):
        added.append(str(await add_job(database, "test.noop", clock=clock)))
        clock.advance(1)
    await add_job(database, "other.kind", clock=clock)

    seen: list[str] = []
    cursor = None
    while True:
        query = "kind=test.noop&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = await client.get(f"/api/v1/jobs?{query}", headers=headers)
        body = response.json()
        assert response.status_code == 200, body
        assert body["meta"]["count"] == len(body["data"]) <= 2
        seen += [job["id"] for job in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert seen == added[::-1]

    bad = await client.get("/api/v1/jobs?cursor=not-a-cursor", headers=headers)
    assert_error(bad, 422, "VALIDATION_ERROR")
