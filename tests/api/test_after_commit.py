"""Actions a request registers with `AfterCommitDep` run once its transaction has committed, and
never when it rolls back: a side effect outside the database must not act on an undone change."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from ridgeline.api.dependencies import AfterCommitDep, SessionDep
from ridgeline.db.engine import Database
from ridgeline.errors import ValidationFailed
from ridgeline.models import Organization
from tests.assertions import assert_error


async def _org_named(database: Database, slug: str) -> Organization | None:
    async with database.transaction(write=False) as session:
        return await session.scalar(select(Organization).where(Organization.slug == slug))


async def test_an_action_runs_after_the_commit_and_sees_the_change(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    seen: list[Organization | None] = []

    async def create(session: SessionDep, after_commit: AfterCommitDep) -> dict[str, str]:
        session.add(Organization(name="After", slug="after-commit"))
        await session.flush()

        async def look() -> None:  # a new transaction: sees only what was committed
            seen.append(await _org_named(database, "after-commit"))

        after_commit(look)
        return {"ok": "yes"}

    app.add_api_route("/test/after-commit", create, methods=["POST"])
    response = await client.post("/test/after-commit")
    assert response.status_code == 200
    assert len(seen) == 1
    assert seen[0] is not None


async def test_an_action_does_not_run_when_the_request_fails(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    ran: list[str] = []

    async def create_then_fail(session: SessionDep, after_commit: AfterCommitDep) -> None:
        session.add(Organization(name="Undone", slug="undone"))
        await session.flush()

        async def act() -> None:
            ran.append("ran")

        after_commit(act)
        raise ValidationFailed("no")

    app.add_api_route("/test/after-rollback", create_then_fail, methods=["POST"])
    response = await client.post("/test/after-rollback")
    assert_error(response, 422, "VALIDATION_ERROR")
    assert ran == []
    assert await _org_named(database, "undone") is None


async def test_a_failing_action_does_not_undo_the_committed_answer(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    async def create(session: SessionDep, after_commit: AfterCommitDep) -> dict[str, str]:
        session.add(Organization(name="Kept", slug="kept"))

        async def broken() -> None:
            raise RuntimeError("the backplane is away")

        after_commit(broken)
        return {"ok": "yes"}

    app.add_api_route("/test/after-commit-fails", create, methods=["POST"])
    response = await client.post("/test/after-commit-fails")
    assert response.status_code == 200
    assert await _org_named(database, "kept") is not None
