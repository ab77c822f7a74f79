"""Every failure answers with the error envelope, the right status and a stable code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from ridgeline.api.dependencies import SessionDep
from ridgeline.app import app_services
from ridgeline.db.engine import Database
from ridgeline.errors import Conflict
from ridgeline.models import Organization, Role
from tests.assertions import assert_error, field_locs
from tests.factories import make_operator, make_organization, sign_in


async def admin_headers(client: httpx.AsyncClient, database: Database) -> dict[str, str]:
    return await sign_in(client, await make_operator(database, Role.PLATFORM_ADMIN))


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing-here"), 404, "ROUTE_NOT_FOUND")


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/v1/auth/token", json={})
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        content=b'{"email": "a@b.c", "password":',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "MALFORMED_JSON")


async def test_body_that_is_not_utf8_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        content=b'{"email": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_non_json_body_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/api/v1/auth/token", content=b"email=a", headers=headers)
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_charset_and_vendor_types_is_accepted(client: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(
            "/api/v1/auth/token",
            content=b'{"email": "nobody@example.com", "password": "x"}',
            headers={"content-type": content_type},
        )
        assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_oversized_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app_services(app).settings.max_body_bytes
    body = assert_error(
        await client.post("/api/v1/auth/token", json={"email": "x" * (limit + 1)}),
        413,
        "PAYLOAD_TOO_LARGE",
    )
    assert body["error"]["details"]["max_bytes"] == limit


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient, app: FastAPI) -> None:
    limit = app_services(app).settings.max_body_bytes

    async def chunks() -> Any:
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    response = await client.post(
        "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")


async def test_validation_error_lists_the_failing_fields(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    response = await client.post(
        "/api/v1/organizations",
        json={"name": "", "slug": "Not A Slug", "colour": "red"},
        headers=headers,
    )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    failing = {tuple(loc) for loc in field_locs(body)}
    assert failing == {("body", "name"), ("body", "slug"), ("body", "colour")}


async def test_bad_path_and_query_parameters_are_422(
    client: httpx.AsyncClient, database: Database
) -> None:
    headers = await admin_headers(client, database)
    assert_error(
        await client.get("/api/v1/stores/not-a-uuid", headers=headers), 422, "VALIDATION_ERROR"
    )
    assert_error(
        await client.get("/api/v1/stores?limit=0", headers=headers), 422, "VALIDATION_ERROR"
    )
    assert_error(
        await client.get("/api/v1/stores?limit=201", headers=headers), 422, "VALIDATION_ERROR"
    )
    assert_error(
        await client.get("/api/v1/stores?cursor=%%%", headers=headers), 422, "VALIDATION_ERROR"
    )


async def test_crash_is_500_without_internals(app: FastAPI, client: httpx.AsyncClient) -> None:
    async def explode() -> None:
        raise RuntimeError("secret-internal-detail at /srv/ridgeline/thing.py line 12")

    app.add_api_route("/test/explode", explode)
    response = await client.get("/test/explode")
    assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


async def test_failed_commit_is_500_and_changes_nothing(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    async def duplicate_slugs(session: SessionDep) -> dict[str, str]:
        # Nothing is flushed here: the unique violation surfaces only at commit.
        session.add(Organization(name="A", slug="same-slug"))
        session.add(Organization(name="B", slug="same-slug"))
        return {"ok": "yes"}

    app.add_api_route("/test/duplicate", duplicate_slugs, methods=["POST"])
    response = await client.post("/test/duplicate")
    assert_error(response, 500, "INTERNAL_ERROR")
    async with database.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 0


async def test_error_response_rolls_back_the_transaction(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    async def add_then_fail(session: SessionDep) -> None:
        session.add(Organization(name="A", slug="rolled-back"))
        await session.flush()
        raise Conflict("no")

    app.add_api_route("/test/add-then-fail", add_then_fail, methods=["POST"])
    assert_error(await client.post("/test/add-then-fail"), 409, "CONFLICT")
    async with database.transaction(write=False) as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 0


async def test_request_id_is_echoed_when_sane(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "edge-1234"})
    assert response.headers["x-request-id"] == "edge-1234"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 300})
    assert hostile.headers["x-request-id"] != "a b\tc" + "x" * 300
    assert len(hostile.headers["x-request-id"]) == 32


async def test_success_envelope(client: httpx.AsyncClient) -> None:
    body = (await client.get("/healthz")).json()
    assert body == {"status": "success", "data": {"state": "alive", "version": "0.1.0"}}


async def test_nul_in_a_body_string_is_422_not_a_database_error(
    client: httpx.AsyncClient, database: Database
) -> None:
    # PostgreSQL cannot store NUL in text; the schema fuzz found it reaching the database.
    admin = await make_operator(database, Role.ORG_ADMIN, await make_organization(database))
    response = await client.post(
        "/api/v1/alert-channels",
        json={"kind": "ops", "name": "on\x00call"},
        headers=await sign_in(client, admin),
    )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert field_locs(body) == [["body", "name"]]
