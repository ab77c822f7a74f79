"""Adapters by name: a store's `pos_provider` picks one from the listing in
`ridgeline.pos.adapters` (`ADAPTERS`), each checked here for capabilities that fit together.

Callers that need an optional capability ask for it here (`webhook_source`) or with `isinstance`
on the adapter they hold, never by the vendor's name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ridgeline.pos.adapters import ADAPTERS
from ridgeline.pos.base import Registration
from ridgeline.pos.capabilities import (
    OrderDedupe,
    OrderLookup,
    PosAdapter,
    WebhookRegistrar,
    WebhookSource,
)


def capability_problems(adapter: type[PosAdapter[Any]]) -> list[str]:
    """What in an adapter's capabilities would break a caller that relies on them."""
    problems = []
    if adapter.rate_limits.vendor != adapter.name:
        problems.append(f"its rate limits are named {adapter.rate_limits.vendor!r}")
    if not issubclass(adapter, OrderLookup | OrderDedupe):
        problems.append("it is neither an OrderLookup nor an OrderDedupe")
    registrar = issubclass(adapter, WebhookRegistrar)
    if registrar and not issubclass(adapter, WebhookSource):
        problems.append("it is a WebhookRegistrar but no WebhookSource")
    if issubclass(adapter, WebhookSource) and registrar != (
        adapter.webhook_registration is Registration.API
    ):
        problems.append(
            "a WebhookSource registers through the API if and only if it is a WebhookRegistrar"
        )
    return problems


def _by_name(adapters: Iterable[type[PosAdapter[Any]]]) -> dict[str, type[PosAdapter[Any]]]:
    found: dict[str, type[PosAdapter[Any]]] = {}
    for adapter in adapters:
        if adapter.name in found:
            raise ValueError(f"two POS adapters are named {adapter.name!r}")
        problems = capability_problems(adapter)
        if problems:
            raise TypeError(f"POS adapter {adapter.name!r}: {'; '.join(problems)}")
        found[adapter.name] = adapter
    return found


_ADAPTERS = _by_name(ADAPTERS)


def adapter_class(name: str) -> type[PosAdapter[Any]] | None:
    return _ADAPTERS.get(name)


def adapter_names() -> list[str]:
    return sorted(_ADAPTERS)


def display_name(name: str) -> str:
    """The vendor's own spelling of a provider's name (the name itself when none is installed)."""
    adapter = _ADAPTERS.get(name)
    return adapter.display_name if adapter is not None else name


def webhook_source(name: str) -> type[WebhookSource] | None:
    """The provider's adapter as a webhook source; None when its POS pushes nothing (or no
    adapter of that name is installed)."""
    adapter = _ADAPTERS.get(name)
    return adapter if adapter is not None and issubclass(adapter, WebhookSource) else None
