from __future__ import annotations

from typing import Any

import pytest

from ridgeline.jobs import (
    JobContext,
    JobRegistry,
    JobServices,
    MissingService,
    RetryLater,
    ServiceKey,
)


async def noop(ctx: JobContext, payload: dict[str, Any]) -> None:
    return None


class PosClient:
    pass


POS_CLIENT = ServiceKey[PosClient]("pos_client")


def test_a_kind_has_one_handler() -> None:
    registry = JobRegistry()
    registry.register("sync.catalog", noop, timeout_s=30)
    with pytest.raises(ValueError, match="already registered"):
        registry.register("sync.catalog", noop)
    registered = registry.get("sync.catalog")
    assert registered is not None
    assert (registered.handler, registered.timeout_s) == (noop, 30)
    assert registry.get("orders.submit") is None
    assert "sync.catalog" in registry


def test_the_decorator_registers_and_returns_the_handler() -> None:
    registry = JobRegistry()

    @registry.handler("orders.submit", timeout_s=10)
    async def submit(ctx: JobContext, payload: dict[str, Any]) -> None:
        return None

    registered = registry.get("orders.submit")
    assert registered is not None
    assert registered.handler is submit


def test_include_merges_a_domains_registry_and_refuses_clashes() -> None:
    sync = JobRegistry()
    sync.register("sync.catalog", noop)
    orders = JobRegistry()
    orders.register("orders.submit", noop)
    combined = JobRegistry()
    combined.include(sync)
    combined.include(orders)
    assert combined.kinds == {"sync.catalog", "orders.submit"}
    with pytest.raises(ValueError, match="already registered"):
        combined.include(sync)


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        JobRegistry().register("x", noop, timeout_s=0)


def test_services_are_found_by_typed_key() -> None:
    services = JobServices()
    client = PosClient()
    services.provide(POS_CLIENT, client)
    assert services.get(POS_CLIENT) is client
    assert POS_CLIENT in services
    with pytest.raises(ValueError, match="already provided"):
        services.provide(POS_CLIENT, PosClient())


def test_a_missing_service_names_its_key() -> None:
    with pytest.raises(MissingService, match="pos_client"):
        JobServices().get(POS_CLIENT)


def test_retry_later_refuses_a_negative_delay() -> None:
    assert repr(RetryLater(5, "circuit open")) == "RetryLater(delay_s=5, reason='circuit open')"
    with pytest.raises(ValueError, match="delay_s"):
        RetryLater(-1)
