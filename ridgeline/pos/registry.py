"""Adapters by name: a store's `pos_provider` picks one."""

from __future__ import annotations

from typing import Any, TypeVar

from ridgeline.pos.base import PosAdapter

_ADAPTERS: dict[str, type[PosAdapter[Any]]] = {}

A = TypeVar("A", bound=type[PosAdapter[Any]])


def register(adapter: A) -> A:
    """Class decorator: make an adapter available under its `name`."""
    if adapter.name in _ADAPTERS and _ADAPTERS[adapter.name] is not adapter:
        raise ValueError(f"a POS adapter named {adapter.name!r} is already registered")
    _ADAPTERS[adapter.name] = adapter
    return adapter


def adapter_class(name: str) -> type[PosAdapter[Any]] | None:
    return _ADAPTERS.get(name)


def adapter_names() -> list[str]:
    return sorted(_ADAPTERS)
