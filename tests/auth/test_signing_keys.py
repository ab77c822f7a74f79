"""Access token signing keys rotate without signing anyone out: the first key signs, every
listed key verifies, and a token whose key is no longer listed is refused like any bad token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from ridgeline.app import app_services, create_app
from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Operator
from tests.assertions import assert_error, data_of
from tests.factories import PASSWORD, bearer, make_tenant

OLD = "old:" + "o" * 40
NEW = "new:" + "n" * 40


@contextlib.asynccontextmanager
async def process(
    settings: Settings, database: Database, clock: FakeClock, signing_keys: list[str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app started with these signing keys (a deployment of the new setting)."""
    app: FastAPI = create_app(
        settings.model_copy(update={"signing_keys": signing_keys}), database=database, clock=clock
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await app_services(app).pos_connector.aclose()


async def sign_in(client: httpx.AsyncClient, operator: Operator) -> dict[str, Any]:
    body = {"email": operator.email, "password": PASSWORD}
    pair: dict[str, Any] = data_of(await client.post("/api/v1/auth/token", json=body))
    return pair


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/auth/me", headers=bearer(token))


def kid_of(token: str) -> str | None:
    kid = jwt.get_unverified_header(token).get("kid")
    return None if kid is None else str(kid)


async def test_tokens_verify_across_a_signing_key_rotation(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    operator = (await make_tenant(database)).admin
    async with process(settings, database, clock, [OLD]) as before:
        old_token = (await sign_in(before, operator))["access_token"]
        assert kid_of(old_token) == "old"

    # Step 1: the new key first, the old one still listed: new tokens are signed with the new
    # key, the old ones keep working.
    async with process(settings, database, clock, [NEW, OLD]) as during:
        pair = await sign_in(during, operator)
        assert kid_of(pair["access_token"]) == "new"
        assert (await me(during, old_token)).status_code == 200
        assert (await me(during, pair["access_token"])).status_code == 200
        # A refresh token is no JWT (stored as a hash): it outlives the rotation as it is.
        refreshed = data_of(
            await during.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        )
        assert kid_of(refreshed["access_token"]) == "new"

    # Step 2, once the old tokens have expired: the old key removed, its tokens are refused
    # like any token we did not sign.
    async with process(settings, database, clock, [NEW]) as after:
        assert (await me(after, pair["access_token"])).status_code == 200
        assert_error(await me(after, old_token), 401, "INVALID_TOKEN")


async def test_a_token_naming_an_unlisted_kid_is_invalid(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    operator = (await make_tenant(database)).admin
    async with process(settings, database, clock, [NEW]) as client:
        token = (await sign_in(client, operator))["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        _, secret = NEW.split(":", 1)
        # Signed with a listed secret, but naming a key that is not listed.
        other_kid = jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "gone"})
        assert_error(await me(client, other_kid), 401, "INVALID_TOKEN")
        # Signed with another secret under the listed kid.
        forged = jwt.encode(claims, "x" * 40, algorithm="HS256", headers={"kid": "new"})
        assert_error(await me(client, forged), 401, "INVALID_TOKEN")


async def test_tokens_without_a_kid_verify_against_the_default_key(
    settings: Settings, database: Database, clock: FakeClock
) -> None:
    """Tokens issued before keys had ids carry none: `RIDGELINE_SECRET_KEY` (kid `default`)
    verifies them while it is listed, and nothing else does."""
    operator = (await make_tenant(database)).admin
    async with process(settings, database, clock, []) as legacy:
        token = (await sign_in(legacy, operator))["access_token"]
        assert kid_of(token) == "default"
        claims = jwt.decode(token, options={"verify_signature": False})
        without_kid = jwt.encode(claims, settings.secret_key, algorithm="HS256")
        assert kid_of(without_kid) is None
        assert (await me(legacy, without_kid)).status_code == 200

    listed = f"default:{settings.secret_key}"
    async with process(settings, database, clock, [NEW, listed]) as during:
        assert (await me(during, without_kid)).status_code == 200
    async with process(settings, database, clock, [NEW]) as after:
        assert_error(await me(after, without_kid), 401, "INVALID_TOKEN")
