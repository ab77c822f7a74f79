"""The POS adapters, listed: `ADAPTERS` is what the registry (`ridgeline.pos.registry`) offers
by name. A new adapter is a module beside these and one more entry here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ridgeline.pos.adapters.blaze import BlazeAdapter, BlazeConfig
from ridgeline.pos.adapters.dutchie import DutchieAdapter, DutchieConfig
from ridgeline.pos.adapters.flowhub import FlowhubAdapter, FlowhubConfig
from ridgeline.pos.adapters.treez import TreezAdapter, TreezConfig
from ridgeline.pos.capabilities import PosAdapter
from ridgeline.resilience.rate_limit import RateLimits

ADAPTERS: tuple[type[PosAdapter[Any]], ...] = (
    DutchieAdapter,
    TreezAdapter,
    BlazeAdapter,
    FlowhubAdapter,
)

# Every adapter's declared rate limits by name (the resilient client reads the store's adapter's).
VENDOR_LIMITS: Mapping[str, RateLimits] = {
    adapter.name: adapter.rate_limits for adapter in ADAPTERS
}

__all__ = [
    "ADAPTERS",
    "VENDOR_LIMITS",
    "BlazeAdapter",
    "BlazeConfig",
    "DutchieAdapter",
    "DutchieConfig",
    "FlowhubAdapter",
    "FlowhubConfig",
    "TreezAdapter",
    "TreezConfig",
]
