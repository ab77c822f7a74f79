"""The four POS adapters. Importing this package registers each under its name."""

from __future__ import annotations

from ridgeline.pos.adapters.blaze import BlazeAdapter, BlazeConfig
from ridgeline.pos.adapters.dutchie import DutchieAdapter, DutchieConfig
from ridgeline.pos.adapters.flowhub import FlowhubAdapter, FlowhubConfig
from ridgeline.pos.adapters.treez import TreezAdapter, TreezConfig

__all__ = [
    "BlazeAdapter",
    "BlazeConfig",
    "DutchieAdapter",
    "DutchieConfig",
    "FlowhubAdapter",
    "FlowhubConfig",
    "TreezAdapter",
    "TreezConfig",
]
