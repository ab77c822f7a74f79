"""Sign-in, access tokens, refresh-token rotation and revocation, as an API client sees them."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Operator, Role
from ridgeline.models.operator import TokenFamily
from tests.assertions import assert_error, data_of
from tests.factories import PASSWORD, bearer, make_operator, make_tenant

TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
REVOKE = "/api/v1/auth/revoke"
ME = "/api/v1/auth/me"
PASSWORD_CHANGE = "/api/v1/auth/password"


async def request_token(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(TOKEN, json={"email": email, "password": password})


async def token_pair(client: httpx.AsyncClient, operator: Operator) -> dict[str, Any]:
    pair: dict[str, Any] = data_of(await request_token(client, operator.email))
    return pair


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


async def me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get(ME, headers=bearer(access_token))


async def family_revocations(database: Database, operator: Operator) -> Counter[str | None]:
    """How many of the operator's sign-ins were revoked for each reason (None: still valid)."""
    async with database.transaction(write=False) as session:
        rows = await session.scalars(
            select(TokenFamily.revoked_reason).where(TokenFamily.operator_id == operator.id)
        )
        return Counter(rows.all())


@contextlib.asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling from `address` (the sign-in throttle counts per address too)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def operator(database: Database) -> Operator:
    return (await make_tenant(database)).admin


# Sign-in


async def test_sign_in_returns_a_token_pair(
    client: httpx.AsyncClient, operator: Operator, settings: Settings, clock: FakeClock
) -> None:
    pair = await token_pair(client, operator)

    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == settings.access_token_ttl_s
    access_expires = datetime.fromisoformat(pair["access_token_expires_at"])
    refresh_expires = datetime.fromisoformat(pair["refresh_token_expires_at"])
    assert (access_expires - clock.now()).total_seconds() == settings.access_token_ttl_s
    assert (refresh_expires - clock.now()).total_seconds() == settings.refresh_token_ttl_s
    assert pair["access_token_expires_at"].endswith("Z")
    assert pair["refresh_token"].startswith("rt_")
    assert pair["access_token"] != pair["refresh_token"]
    signed_in = data_of(await me(client, pair["access_token"]))
    assert signed_in["id"] == str(operator.id)
    assert datetime.fromisoformat(signed_in["last_login_at"]) == clock.now()


async def test_sign_in_ignores_the_case_of_the_email(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    response = await request_token(client, operator.email.upper())

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("email", "password"),
    [("known", "wrong password, long enough"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
async def test_bad_credentials_are_refused_alike(
    client: httpx.AsyncClient, operator: Operator, email: str, password: str
) -> None:
    response = await request_token(client, operator.email if email == "known" else email, password)

    body = assert_error(response, 401, "INVALID_CREDENTIALS")
    # The same answer either way, so that sign-in does not reveal which emails exist.
    assert body["error"]["message"] == "The email or password is wrong."
    assert "access_token" not in response.text


async def test_an_inactive_operator_cannot_sign_in(
    client: httpx.AsyncClient, database: Database, operator: Operator
) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(Operator).where(Operator.id == operator.id).values(is_active=False)
        )

    assert_error(await request_token(client, operator.email), 401, "INVALID_CREDENTIALS")


# Sign-in throttling


async def test_ten_failures_for_one_email_lock_it_for_the_window(
    app: FastAPI, operator: Operator, clock: FakeClock
) -> None:
    async with client_at(app, "10.0.0.1") as first, client_at(app, "10.0.0.2") as second:
        for _ in range(10):
            assert_error(
                await request_token(first, operator.email, "not the password"),
                401,
                "INVALID_CREDENTIALS",
            )

        # Even the right password, and from another address: the email is locked.
        locked = await request_token(second, operator.email)
        body = assert_error(locked, 429, "RATE_LIMITED")
        assert locked.headers["Retry-After"] == "300"
        assert body["error"]["details"]["retry_after_s"] == 300
        assert "access_token" not in locked.text

        clock.advance(299)
        assert_error(await request_token(second, operator.email), 429, "RATE_LIMITED")
        clock.advance(1)
        assert (await request_token(second, operator.email)).status_code == 200


async def test_a_successful_sign_in_clears_the_email_failures(
    app: FastAPI, operator: Operator
) -> None:
    async with client_at(app, "10.0.1.1") as first, client_at(app, "10.0.1.2") as second:
        for _ in range(9):
            await request_token(first, operator.email, "not the password")
        assert (await request_token(first, operator.email)).status_code == 200

        # Without the reset these would be failures 10 and 11, and the second one a 429.
        for _ in range(2):
            assert_error(
                await request_token(second, operator.email, "not the password"),
                401,
                "INVALID_CREDENTIALS",
            )
        assert (await request_token(second, operator.email)).status_code == 200


async def test_fifty_failures_from_one_address_lock_that_address(
    app: FastAPI, operator: Operator
) -> None:
    async with client_at(app, "10.0.2.1") as guesser, client_at(app, "10.0.2.2") as other:
        for n in range(50):
            assert_error(
                await request_token(guesser, f"guess-{n}@example.com", "not the password"),
                401,
                "INVALID_CREDENTIALS",
            )

        assert_error(await request_token(guesser, operator.email), 429, "RATE_LIMITED")
        assert (await request_token(other, operator.email)).status_code == 200


# Bearer authentication


async def test_a_request_without_credentials_needs_authentication(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get(ME), 401, "AUTHENTICATION_REQUIRED")
    assert_error(
        await client.get(ME, headers={"Authorization": "Basic dXNlcjpwYXNz"}),
        401,
        "AUTHENTICATION_REQUIRED",
    )


@pytest.mark.parametrize(
    "token", ["garbage", "a.b.c", "rk_live_not-a-real-key", "rt_not-an-access-token"]
)
async def test_a_malformed_token_is_invalid(client: httpx.AsyncClient, token: str) -> None:
    assert_error(await me(client, token), 401, "INVALID_TOKEN")


async def test_a_refresh_token_is_not_an_access_token(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    pair = await token_pair(client, operator)

    assert_error(await me(client, pair["refresh_token"]), 401, "INVALID_TOKEN")


async def test_a_token_signed_with_another_key_is_invalid(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    pair = await token_pair(client, operator)
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-key-of-a-decent-length!", algorithm="HS256")
    unsigned = jwt.encode(claims, "", algorithm="none")

    assert_error(await me(client, forged), 401, "INVALID_TOKEN")
    assert_error(await me(client, unsigned), 401, "INVALID_TOKEN")


async def test_an_access_token_expires_after_its_ttl(
    client: httpx.AsyncClient, operator: Operator, settings: Settings, clock: FakeClock
) -> None:
    pair = await token_pair(client, operator)

    clock.advance(settings.access_token_ttl_s - 1)
    assert (await me(client, pair["access_token"])).status_code == 200
    clock.advance(1)
    assert_error(await me(client, pair["access_token"]), 401, "TOKEN_EXPIRED")

    # The refresh token outlives it: that is how the client recovers.
    fresh = data_of(await refresh(client, pair["refresh_token"]))
    assert (await me(client, fresh["access_token"])).status_code == 200


# Refresh rotation


async def test_a_refresh_returns_a_new_working_pair(
    client: httpx.AsyncClient, operator: Operator
) -> None:
    first = await token_pair(client, operator)

    second = data_of(await refresh(client, first["refresh_token"]))

    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert (await me(client, second["access_token"])).status_code == 200
    third = data_of(await refresh(client, second["refresh_token"]))
    assert (await me(client, third["access_token"])).status_code == 200


async def test_a_reuse_within_the_grace_window_gets_a_pair_without_revoking(
    client: httpx.AsyncClient,
    database: Database,
    operator: Operator,
    settings: Settings,
    clock: FakeClock,
) -> None:
    first = await token_pair(client, operator)
    second = data_of(await refresh(client, first["refresh_token"]))

    clock.advance(settings.refresh_reuse_grace_s)  # a client retrying after a lost response
    retried = data_of(await refresh(client, first["refresh_token"]))

    for access in (first, second, retried):
        assert (await me(client, access["access_token"])).status_code == 200
    assert (await refresh(client, second["refresh_token"])).status_code == 200
    assert await family_revocations(database, operator) == {None: 1}


async def test_a_reuse_after_the_grace_window_revokes_the_whole_family(
    client: httpx.AsyncClient,
    database: Database,
    operator: Operator,
    settings: Settings,
    clock: FakeClock,
) -> None:
    stolen = await token_pair(client, operator)
    other_sign_in = await token_pair(client, operator)
    rotated = data_of(await refresh(client, stolen["refresh_token"]))
    newest = data_of(await refresh(client, rotated["refresh_token"]))

    clock.advance(settings.refresh_reuse_grace_s + 1)
    reused = await refresh(client, stolen["refresh_token"])

    assert_error(reused, 401, "TOKEN_REVOKED")
    assert_error(await refresh(client, newest["refresh_token"]), 401, "TOKEN_REVOKED")
    for pair in (stolen, rotated, newest):
        assert_error(await me(client, pair["access_token"]), 401, "TOKEN_REVOKED")
    # The operator's other sign-in is another family: untouched.
    assert (await me(client, other_sign_in["access_token"])).status_code == 200
    assert (await refresh(client, other_sign_in["refresh_token"])).status_code == 200
    assert await family_revocations(database, operator) == {"refresh_token_reused": 1, None: 1}


async def test_an_expired_refresh_token_answers_token_expired(
    client: httpx.AsyncClient, operator: Operator, settings: Settings, clock: FakeClock
) -> None:
    pair = await token_pair(client, operator)

    clock.advance(settings.refresh_token_ttl_s)

    assert_error(await refresh(client, pair["refresh_token"]), 401, "TOKEN_EXPIRED")


async def test_an_unknown_refresh_token_is_invalid(client: httpx.AsyncClient) -> None:
    assert_error(await refresh(client, "rt_" + uuid.uuid4().hex), 401, "INVALID_TOKEN")


# Revocation


async def test_revoking_a_refresh_token_ends_its_sign_in_at_once(
    client: httpx.AsyncClient, database: Database, operator: Operator
) -> None:
    pair = await token_pair(client, operator)
    other_sign_in = await token_pair(client, operator)

    response = await client.post(REVOKE, json={"refresh_token": pair["refresh_token"]})

    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_error(await me(client, pair["access_token"]), 401, "TOKEN_REVOKED")
    assert_error(await refresh(client, pair["refresh_token"]), 401, "TOKEN_REVOKED")
    assert (await me(client, other_sign_in["access_token"])).status_code == 200
    assert await family_revocations(database, operator) == {"signed_out": 1, None: 1}


async def test_revoking_an_unknown_token_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(REVOKE, json={"refresh_token": "rt_" + uuid.uuid4().hex})

    assert response.status_code == 204, response.text


async def test_a_new_password_signs_the_operator_out_everywhere(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    admin = await token_pair(client, tenant.admin)
    sessions = [await token_pair(client, viewer) for _ in range(2)]

    new_password = "a brand new passphrase"
    changed = await client.patch(
        f"/api/v1/operators/{viewer.id}",
        json={"password": new_password},
        headers=bearer(admin["access_token"]),
    )

    assert changed.status_code == 200, changed.text
    for pair in sessions:
        assert_error(await me(client, pair["access_token"]), 401, "TOKEN_REVOKED")
        assert_error(await refresh(client, pair["refresh_token"]), 401, "TOKEN_REVOKED")
    assert_error(await request_token(client, viewer.email), 401, "INVALID_CREDENTIALS")
    assert (await request_token(client, viewer.email, new_password)).status_code == 200
    assert (await me(client, admin["access_token"])).status_code == 200
    assert await family_revocations(database, viewer) == {"password_changed": 2, None: 1}


async def test_an_operator_changes_their_own_password_and_is_signed_out_everywhere(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    sessions = [await token_pair(client, viewer) for _ in range(2)]
    headers = bearer(sessions[0]["access_token"])
    new_password = "a brand new passphrase"

    wrong = await client.post(
        PASSWORD_CHANGE,
        json={"current_password": "not the password", "new_password": new_password},
        headers=headers,
    )
    body = assert_error(wrong, 422, "VALIDATION_ERROR")
    assert "current_password" in str(body["error"]["details"])
    assert await family_revocations(database, viewer) == {None: 2}

    changed = await client.post(
        PASSWORD_CHANGE,
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    for pair in sessions:
        assert_error(await me(client, pair["access_token"]), 401, "TOKEN_REVOKED")
        assert_error(await refresh(client, pair["refresh_token"]), 401, "TOKEN_REVOKED")
    assert_error(await request_token(client, viewer.email), 401, "INVALID_CREDENTIALS")
    assert (await request_token(client, viewer.email, new_password)).status_code == 200
    assert await family_revocations(database, viewer) == {"password_changed": 2, None: 1}


async def test_guessing_the_current_password_is_throttled_like_sign_in(
    app: FastAPI, operator: Operator
) -> None:
    async with client_at(app, "10.0.3.1") as http:
        headers = bearer((await token_pair(http, operator))["access_token"])
        guess = {"current_password": "not the password", "new_password": "x" * 20}
        for _ in range(10):
            response = await http.post(PASSWORD_CHANGE, json=guess, headers=headers)
            assert_error(response, 422, "VALIDATION_ERROR")
        right = {"current_password": PASSWORD, "new_password": "x" * 20}
        response = await http.post(PASSWORD_CHANGE, json=right, headers=headers)
        assert_error(response, 429, "RATE_LIMITED")


async def test_deactivating_an_operator_signs_them_out(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    viewer = await make_operator(database, Role.VIEWER, tenant.organization)
    admin = await token_pair(client, tenant.admin)
    session = await token_pair(client, viewer)

    deactivated = await client.patch(
        f"/api/v1/operators/{viewer.id}",
        json={"is_active": False},
        headers=bearer(admin["access_token"]),
    )

    assert data_of(deactivated)["is_active"] is False
    assert_error(await me(client, session["access_token"]), 401, "TOKEN_REVOKED")
    assert_error(await refresh(client, session["refresh_token"]), 401, "TOKEN_REVOKED")
    assert_error(await request_token(client, viewer.email), 401, "INVALID_CREDENTIALS")
    assert await family_revocations(database, viewer) == {"deactivated": 1}
