"""No input of any shape gets a 500: random path values, query strings and bodies (well-formed
JSON of the wrong shape, fields of the right names with wrong values, raw bytes) against every
route, as a platform admin who may reach them all. Every answer is below 500 and every error
answer is the envelope."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ridgeline.app import app_services, create_app
from ridgeline.auth.credentials import issue_access_token
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import Operator, Role, TokenFamily
from tests.api.test_route_security import object_ids, walk
from tests.conftest import empty_all_tables
from tests.factories import _PASSWORD_HASH, make_tenant

_PARAM = re.compile(r"{(\w+)}")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
odd_path_values = st.one_of(
    st.uuids().map(str),
    st.text(max_size=40),
    st.sampled_from(["..", "%2e%2e", "/", "me", "0", "-1", "null", "\x00", "🙂", "a" * 500]),
)


def _body_fields(app: FastAPI) -> dict[tuple[str, str], list[str]]:
    """(method, path) -> the property names of its JSON body, from the OpenAPI schema."""
    schema = app.openapi()
    components = schema.get("components", {}).get("schemas", {})
    fields: dict[tuple[str, str], list[str]] = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            fields[(method.upper(), path)] = list(components.get(name, {}).get("properties", {}))
    return fields


@st.composite
def requests(
    draw: st.DrawFn, app: FastAPI, real_ids: dict[str, str]
) -> tuple[str, str, dict[str, Any]]:
    method, path, _ = draw(st.sampled_from(walk(app)))

    def path_value(match: re.Match[str]) -> str:
        # Mostly the id of a real object of that kind, so requests get past the lookup.
        real = real_ids.get(match.group(1))
        choices = (st.just(real) | st.just(real) | odd_path_values) if real else odd_path_values
        return quote(draw(choices), safe="")

    url = _PARAM.sub(path_value, path)
    if draw(st.booleans()):
        query = draw(
            st.dictionaries(
                st.sampled_from(
                    ["limit", "cursor", "status", "store_id", "organization_id", "kind"]
                ),
                st.text(max_size=30),
                max_size=3,
            )
        )
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    names = _body_fields(app).get((method, path), [])
    shape = draw(st.sampled_from(["fields", "json", "bytes"]))
    if shape == "fields" and names:
        body = draw(st.dictionaries(st.sampled_from(names), json_values, max_size=len(names)))
        content = json.dumps(body).encode()
    elif shape == "bytes":
        content = draw(st.binary(max_size=64))
    else:
        content = json.dumps(draw(json_values)).encode()
    return method, url, {"content": content, "headers": {"content-type": "application/json"}}


async def _admin_token(database: Database, secret_key: str) -> str:
    now = datetime.now(UTC)
    async with database.transaction() as session:
        admin = Operator(
            email=f"fuzz-{uuid.uuid4().hex[:6]}@example.com",
            role=Role.PLATFORM_ADMIN,
            password_hash=_PASSWORD_HASH,
        )
        session.add(admin)
        await session.flush()
        family = TokenFamily(operator_id=admin.id, created_at=now)
        session.add(family)
    token, _ = issue_access_token(
        secret_key=secret_key, operator_id=admin.id, family_id=family.id, now=now, ttl_s=3600
    )
    return token


async def _send(settings_: Settings, token: str, method: str, url: str, **kwargs: Any) -> None:
    database = Database(settings_.database_url)
    app = create_app(settings_, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
            headers = {**kwargs.pop("headers"), "Authorization": f"Bearer {token}"}
            response = await client.request(method, url, headers=headers, **kwargs)
    finally:
        await app_services(app).pos_connector.aclose()
        await database.dispose()
    assert response.status_code < 500, (method, url, response.status_code, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert body["status"] == "error", body
        assert re.fullmatch(r"[A-Z_]+", body["error"]["code"]), body


async def _tenant_ids(database: Database) -> dict[str, str]:
    tenant = await make_tenant(database)
    return {name: str(value) for name, value in object_ids(tenant).items()}


async def _prepare(settings: Settings) -> tuple[str, dict[str, str]]:
    database = Database(settings.database_url)
    try:
        return await _admin_token(database, settings.secret_key), await _tenant_ids(database)
    finally:
        await database.dispose()


@pytest.fixture
def fuzz_setup(settings: Settings) -> Any:
    token, ids = asyncio.run(_prepare(settings))
    yield settings, token, ids
    asyncio.run(_empty(settings.database_url))


async def _empty(url: str) -> None:
    database = Database(url)
    try:
        await empty_all_tables(database)
    finally:
        await database.dispose()


def test_no_input_gets_a_500(fuzz_setup: tuple[Settings, str, dict[str, str]]) -> None:
    settings_, token, ids = fuzz_setup
    app = create_app(settings_)

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(request=requests(app, ids))
    def check(request: tuple[str, str, dict[str, Any]]) -> None:
        method, url, kwargs = request
        asyncio.run(_send(settings_, token, method, url, **kwargs))

    check()
