"""A store's POS connection through the API and the resilient client, against the simulator over
real HTTP: configure (validated, encrypted, redacted), test with a diagnosis, breaker commands,
and what retries, Retry-After, the breaker and the call log do with each injected fault."""

from __future__ import annotations

import itertools
import logging
import random
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from ridgeline.clock import FakeClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import PosCall, Store
from ridgeline.pos.adapters import DutchieConfig
from ridgeline.pos.base import EndpointClass, Headers, PosResponse, resolve_headers
from ridgeline.pos.client import PosConnector, ResilientTransport
from ridgeline.pos.credentials import CredentialCipher
from ridgeline.pos.errors import PosAuthFailed, PosUnavailable
from ridgeline.pos.http import PosServerError
from ridgeline.realtime import streams
from ridgeline.resilience import CircuitOpen, RetryPolicy
from tests.assertions import assert_error, data_of, field_locs
from tests.factories import Tenant, make_tenant, sign_in
from tests.pos.simulator import SimStore, create_store, serving_simulator

SECRET_FIELDS = {
    "dutchie": ["api_key", "consumer_key"],
    "treez": ["private_key_pem"],
    "blaze": ["partner_key", "api_key"],
    "flowhub": ["api_key", "oauth_client_secret"],
}


@pytest.fixture(scope="module")
def control() -> Iterator[httpx.Client]:
    with serving_simulator(seed=99) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


@dataclass
class Configured:
    tenant: Tenant
    headers: dict[str, str]
    sim: SimStore

    @property
    def pos_url(self) -> str:
        return f"/api/v1/stores/{self.tenant.store.id}/pos"


async def configure(
    client: httpx.AsyncClient, database: Database, sim: SimStore, **changes: Any
) -> Configured:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    configured = Configured(tenant, headers, sim)
    body = {"provider": sim.dialect, "config": {**sim.config, **changes}}
    data_of(await client.put(configured.pos_url, json=body, headers=headers))
    return configured


@pytest.fixture
async def dutchie(
    client: httpx.AsyncClient, database: Database, control: httpx.Client
) -> Configured:
    return await configure(
        client, database, create_store(control, "dutchie", 5), timeout_s=0.5, connect_timeout_s=0.5
    )


@pytest.fixture
async def connector(
    settings: Settings, database: Database, clock: FakeClock
) -> AsyncIterator[PosConnector]:
    # FakeClock: retry waits and Retry-After advance it instead of sleeping.
    policy = RetryPolicy(
        max_attempts=3, base_s=0.5, cap_s=2, max_elapsed_s=60, max_retry_after_s=30
    )
    connector = PosConnector(settings, database, clock, rng=random.Random(7), policy=policy)
    yield connector
    await connector.aclose()


async def load_store(database: Database, configured: Configured) -> Store:
    async with database.transaction(write=False) as session:
        store = await session.get(Store, configured.tenant.store.id)
        assert store is not None
        return store


async def call_log(database: Database, store_id: object) -> list[PosCall]:
    async with database.transaction(write=False) as session:
        statement = select(PosCall).where(PosCall.store_id == store_id).order_by(PosCall.at)
        return list((await session.scalars(statement)).all())


def auth_requests(sim: SimStore) -> int:
    return sum(1 for r in sim.requests() if r["endpoint"] == "auth")


# Configuration


@pytest.mark.parametrize("dialect", ["dutchie", "treez", "blaze", "flowhub"])
async def test_credentials_are_stored_encrypted_and_never_shown(
    client: httpx.AsyncClient, database: Database, control: httpx.Client, dialect: str
) -> None:
    sim = create_store(control, dialect, 5)
    configured = await configure(client, database, sim)
    shown = data_of(await client.get(configured.pos_url, headers=configured.headers))
    assert shown["provider"] == dialect
    assert shown["config"]["base_url"] == sim.config["base_url"]
    secrets = [str(sim.config[name]) for name in SECRET_FIELDS[dialect]]
    for name in SECRET_FIELDS[dialect]:
        assert shown["config"][name] == "********"
    store = await load_store(database, configured)
    assert store.pos_config_encrypted is not None
    for secret in secrets:
        assert secret not in store.pos_config_encrypted
        assert secret[:40] not in str(shown)


async def test_unknown_provider_and_bad_config_are_refused_without_echoing_secrets(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    url = f"/api/v1/stores/{tenant.store.id}/pos"
    unknown = await client.put(url, json={"provider": "squareup", "config": {}}, headers=headers)
    assert field_locs(assert_error(unknown, 422, "VALIDATION_ERROR")) == [["body", "provider"]]
    secret = "sk-very-secret-value-123"
    bad = await client.put(
        url,
        json={
            "provider": "dutchie",
            "config": {"api_key": secret, "base_url": "not a url", "x": 1},
        },
        headers=headers,
    )
    body = assert_error(bad, 422, "VALIDATION_ERROR")
    assert ["body", "config", "base_url"] in field_locs(body)
    assert secret not in bad.text
    shown = data_of(await client.get(url, headers=headers))
    assert shown["provider"] is None  # nothing was stored


async def test_a_store_without_a_pos_cannot_be_tested(
    client: httpx.AsyncClient, database: Database
) -> None:
    tenant = await make_tenant(database)
    headers = await sign_in(client, tenant.admin)
    response = await client.post(f"/api/v1/stores/{tenant.store.id}/pos/test", headers=headers)
    assert_error(response, 409, "POS_NOT_CONFIGURED")


# Connection test and its diagnosis


async def test_a_good_connection_tests_ok_and_is_logged(
    client: httpx.AsyncClient, dutchie: Configured
) -> None:
    result = data_of(await client.post(f"{dutchie.pos_url}/test", headers=dutchie.headers))
    assert result["ok"] is True
    assert result["diagnosis"] == "ok"
    assert result["location_name"]
    shown = data_of(await client.get(dutchie.pos_url, headers=dutchie.headers))
    assert shown["breaker"]["state"] == "closed"
    assert shown["recent_calls"][0]["endpoint"] == "auth"
    assert shown["recent_calls"][0]["outcome"] == "success"


async def test_wrong_credentials_are_diagnosed(
    client: httpx.AsyncClient, database: Database, control: httpx.Client
) -> None:
    sim = create_store(control, "dutchie", 5)
    configured = await configure(client, database, sim, api_key="wrong-key")
    result = data_of(await client.post(f"{configured.pos_url}/test", headers=configured.headers))
    assert (result["ok"], result["diagnosis"]) == (False, "bad_credentials")
    assert "regenerate" in result["message"]


async def test_an_unreachable_pos_is_diagnosed(
    client: httpx.AsyncClient, database: Database, control: httpx.Client
) -> None:
    sim = create_store(control, "dutchie", 5)
    configured = await configure(client, database, sim, base_url="http://127.0.0.1:9/dutchie")
    result = data_of(await client.post(f"{configured.pos_url}/test", headers=configured.headers))
    assert (result["ok"], result["diagnosis"]) == (False, "unreachable")


async def test_a_forced_open_breaker_stops_every_call(
    client: httpx.AsyncClient, dutchie: Configured
) -> None:
    forced = await client.post(
        f"{dutchie.pos_url}/breaker", json={"action": "force_open"}, headers=dutchie.headers
    )
    assert data_of(forced)["state"] == "forced_open"
    before = auth_requests(dutchie.sim)
    result = data_of(await client.post(f"{dutchie.pos_url}/test", headers=dutchie.headers))
    assert (result["ok"], result["diagnosis"]) == (False, "circuit_open")
    assert auth_requests(dutchie.sim) == before  # nothing reached the POS
    reset = await client.post(
        f"{dutchie.pos_url}/breaker", json={"action": "reset"}, headers=dutchie.headers
    )
    assert data_of(reset)["state"] == "closed"
    result = data_of(await client.post(f"{dutchie.pos_url}/test", headers=dutchie.headers))
    assert result["ok"] is True


# The resilient client, fault by fault, for every dialect


@pytest.fixture(params=["dutchie", "treez", "blaze", "flowhub"])
async def connected(
    request: pytest.FixtureRequest,
    client: httpx.AsyncClient,
    database: Database,
    control: httpx.Client,
) -> Configured:
    sim = create_store(control, request.param, 5)
    return await configure(client, database, sim, timeout_s=0.3, connect_timeout_s=0.3)


async def inventory_calls(
    database: Database, configured: Configured
) -> list[tuple[int, int | None, str]]:
    calls = await call_log(database, configured.tenant.store.id)
    return [(c.attempt, c.status, c.outcome) for c in calls if c.endpoint == "inventory"]


async def test_server_errors_are_retried_until_the_pos_answers(
    database: Database, connected: Configured, connector: PosConnector
) -> None:
    connected.sim.add_fault("inventory", "status", status=503, count=2)
    adapter = connector.adapter_for(await load_store(database, connected))
    assert len(await adapter.fetch_inventory()) > 0
    assert await inventory_calls(database, connected) == [
        (1, 503, "POS_SERVER_ERROR"),
        (2, 503, "POS_SERVER_ERROR"),
        (3, 200, "success"),
    ]


async def test_retry_after_is_honoured(
    database: Database, connected: Configured, connector: PosConnector, clock: FakeClock
) -> None:
    # 3 s: Treez's simulator refuses tokens signed more than 5 s ahead of its own clock.
    connected.sim.add_fault("inventory", "rate_limit", retry_after_s=3, count=1)
    adapter = connector.adapter_for(await load_store(database, connected))
    started = clock.now()
    await adapter.fetch_inventory()
    assert (clock.now() - started).total_seconds() >= 3
    outcomes = [outcome for _, _, outcome in await inventory_calls(database, connected)]
    assert outcomes == ["POS_RATE_LIMITED", "success"]


async def test_a_429_without_retry_after_is_retried_with_jitter(
    database: Database, connected: Configured, connector: PosConnector
) -> None:
    connected.sim.add_fault("inventory", "rate_limit", retry_after_s=None, count=1)
    adapter = connector.adapter_for(await load_store(database, connected))
    await adapter.fetch_inventory()
    outcomes = [outcome for _, _, outcome in await inventory_calls(database, connected)]
    assert outcomes == ["POS_RATE_LIMITED", "success"]


async def test_connection_resets_are_retried(
    database: Database, connected: Configured, connector: PosConnector
) -> None:
    connected.sim.add_fault("inventory", "reset", count=1)
    adapter = connector.adapter_for(await load_store(database, connected))
    await adapter.fetch_inventory()
    outcomes = [outcome for _, _, outcome in await inventory_calls(database, connected)]
    assert outcomes == ["POS_CONNECTION_FAILED", "success"]


async def test_a_pos_that_never_answers_times_out_and_gives_up(
    database: Database, connected: Configured, connector: PosConnector
) -> None:
    connected.sim.add_fault("inventory", "timeout")
    adapter = connector.adapter_for(await load_store(database, connected))
    with pytest.raises(PosUnavailable):
        await adapter.fetch_inventory()
    outcomes = [outcome for _, _, outcome in await inventory_calls(database, connected)]
    assert outcomes == ["POS_TIMEOUT"] * 3


@pytest.mark.parametrize("kind", ["unauthorized", "forbidden"])
async def test_refused_credentials_are_not_retried(
    database: Database, connected: Configured, connector: PosConnector, kind: str
) -> None:
    connected.sim.add_fault("inventory", kind, count=5)
    adapter = connector.adapter_for(await load_store(database, connected))
    with pytest.raises(PosAuthFailed):
        await adapter.fetch_inventory()
    assert [outcome for _, _, outcome in await inventory_calls(database, connected)] == [
        "POS_AUTH_FAILED"
    ]


async def test_the_breaker_opens_and_then_fails_fast(
    database: Database, connected: Configured, connector: PosConnector
) -> None:
    connected.sim.add_fault("*", "status", status=503)
    adapter = connector.adapter_for(await load_store(database, connected))
    opened = False
    for _ in range(20):
        try:
            await adapter.fetch_inventory()
        except CircuitOpen:
            opened = True
            break
        except PosUnavailable:
            continue
    assert opened
    before = len(connected.sim.requests())
    with pytest.raises(CircuitOpen):
        await adapter.fetch_products()
    assert len(connected.sim.requests()) == before  # failed fast: nothing reached the POS
    async with database.transaction(write=False) as session:
        rejected = await session.scalar(
            select(func.count()).select_from(PosCall).where(PosCall.outcome == "CIRCUIT_OPEN")
        )
    assert rejected is not None
    assert rejected >= 1


class _Collecting(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("dialect", ["dutchie", "treez", "blaze", "flowhub"])
async def test_credentials_never_reach_the_logs(
    client: httpx.AsyncClient,
    database: Database,
    control: httpx.Client,
    dialect: str,
) -> None:
    handler = _Collecting()
    records = handler.records
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        await _exercise_store(client, database, control, dialect, records)
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


async def _exercise_store(
    client: httpx.AsyncClient,
    database: Database,
    control: httpx.Client,
    dialect: str,
    records: list[logging.LogRecord],
) -> None:
    sim = create_store(control, dialect, 5)
    sim.add_fault("*", "status", status=503, count=1)
    configured = await configure(client, database, sim)
    await client.post(f"{configured.pos_url}/test", headers=configured.headers)
    await client.get(configured.pos_url, headers=configured.headers)
    logged = "\n".join(f"{record.msg!r} {record.getMessage()}" for record in records)
    assert "pos_call_finished" in logged  # the calls were logged...
    for name in SECRET_FIELDS[dialect]:
        secret = str(sim.config[name])
        assert secret[:40] not in logged  # ...without any secret


class _FailsOnce:
    """Stands in for the HTTP exchange: 503 the first time, then 200, noting the headers sent."""

    def __init__(self) -> None:
        self.sent: list[Mapping[str, str] | None] = []

    async def request(
        self,
        endpoint: EndpointClass,
        method: str,
        url: str,
        *,
        headers: Headers | None = None,
        **_: Any,
    ) -> PosResponse:
        self.sent.append(resolve_headers(headers))
        if len(self.sent) == 1:
            raise PosServerError("the POS answered 503", endpoint=endpoint, status=503)
        return PosResponse(status=200, headers={}, body=b"{}")


async def test_a_retry_signs_its_headers_afresh(
    database: Database, dutchie: Configured, connector: PosConnector
) -> None:
    """Per-request signatures (Treez's 30-second JWT) must not be replayed by a retry."""
    transport = connector.adapter_for(await load_store(database, dutchie)).transport
    assert isinstance(transport, ResilientTransport)
    exchange = _FailsOnce()
    transport.inner = exchange  # type: ignore[assignment]
    signed = itertools.count(1)
    await transport.request(
        EndpointClass.AUTH,
        "GET",
        "http://pos.invalid/whoami",
        idempotent=True,
        headers=lambda: {"Authorization": f"token-{next(signed)}"},
    )
    assert [h["Authorization"] for h in exchange.sent if h] == ["token-1", "token-2"]


async def test_credentials_no_key_can_read_are_diagnosed(
    client: httpx.AsyncClient, database: Database, dutchie: Configured
) -> None:
    other_key = CredentialCipher([Fernet.generate_key().decode()])
    config = DutchieConfig(base_url="http://127.0.0.1:9", api_key="k", consumer_key="c")
    async with database.transaction() as session:
        store = await session.get(Store, dutchie.tenant.store.id)
        assert store is not None
        store.pos_config_encrypted = other_key.encrypt(config)  # saved under a key since dropped
    result = data_of(await client.post(f"{dutchie.pos_url}/test", headers=dutchie.headers))
    assert (result["ok"], result["diagnosis"]) == (False, "credentials_unreadable")
    shown = data_of(await client.get(dutchie.pos_url, headers=dutchie.headers))
    assert shown["provider"] == "dutchie"
    assert shown["config"] is None


async def test_each_breaker_transition_lands_on_the_operators_and_the_store_stream(
    client: httpx.AsyncClient, database: Database, dutchie: Configured
) -> None:
    ops = streams.ops_stream(dutchie.tenant.organization.id)
    for action in ("force_open", "reset", "disable", "reset"):
        data_of(
            await client.post(
                f"{dutchie.pos_url}/breaker", json={"action": action}, headers=dutchie.headers
            )
        )
    async with database.transaction(write=False) as session:
        position = await streams.position(session, ops)
        everything = await streams.read_since(session, ops, epoch=position.epoch, offset=0)
    # The ops stream also carries the alert the forced-open breaker raised and resolved.
    entries = [e for e in everything if e.message["type"] == "store.status"]
    changes = [
        (e.message["data"]["circuit_breaker"]["to"], e.message["data"]["state"]) for e in entries
    ]
    assert changes == [
        ("forced_open", "error"),
        ("closed", "connected"),
        ("disabled", "connected"),
        ("closed", "connected"),
    ]
    assert entries[0].message["data"]["cause"] == "breaker_forced_open"
    assert entries[0].message["data"]["ordering"] == "queued"
    assert entries[0].message["data"]["store_id"] == str(dutchie.tenant.store.id)
    assert entries[0].message["data"]["circuit_breaker"]["actor"].startswith("operator:")
    # The store's kiosks hear the same transitions on their store stream.
    store_stream = streams.store_stream(dutchie.tenant.store.id)
    async with database.transaction(write=False) as session:
        position = await streams.position(session, store_stream)
        kiosk_view = await streams.read_since(session, store_stream, epoch=position.epoch, offset=0)
    assert [e.message for e in kiosk_view] == [e.message for e in entries]
