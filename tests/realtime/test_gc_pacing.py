"""The collector pacer (realtime/gc_pacing.py): what survives a full pass is frozen, so the next
passes skip it; a frozen object is still freed when nothing refers to it; frozen cycles are
collected by a thaw once memory grew enough and stopped surging, and never before.

These tests freeze this test process's own heap: each thaws it all again when it ends."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import structlog
from prometheus_client import REGISTRY

from ridgeline.app import create_app
from ridgeline.cli.server import server_for
from ridgeline.config import Settings
from ridgeline.realtime.gc_pacing import FULL_PASS_EVERY, MIB, CollectorPacer
from tests.net import free_port
from tests.test_server import running_server


class Node:
    """A tracked object that can be put in a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed_after() -> Iterator[None]:
    try:
        yield
    finally:
        gc.unfreeze()


def full_passes_observed() -> float:
    return REGISTRY.get_sample_value("ridgeline_gc_full_pass_seconds_count") or 0.0


def tracked_unfrozen_ids() -> set[int]:
    return {id(thing) for thing in gc.get_objects()}


async def frozen_by_the_loop() -> None:
    """A few turns of the event loop: the pacer's follow-up pass runs from it."""
    for _ in range(3):
        await asyncio.sleep(0)


class Memory:
    """The resident memory the pacer reads, set by the test (MiB)."""

    def __init__(self) -> None:
        self.mib = 100

    def __call__(self) -> int:
        return self.mib * MIB


@contextlib.asynccontextmanager
async def pacing(**options: Any) -> AsyncIterator[CollectorPacer]:
    """A pacer over this process, its periodic check out of the way (tests call it)."""
    gc.collect()
    gc.freeze()  # as `ridgeline serve` does after start-up
    pacer = CollectorPacer(check_every_s=3600, **options)
    async with pacer.running():
        yield pacer


async def test_what_survives_a_full_pass_is_frozen_out_of_the_next_ones() -> None:
    async with pacing():
        kept = [Node() for _ in range(2_000)]
        assert id(kept[0]) in tracked_unfrozen_ids()
        before, passes = gc.get_freeze_count(), full_passes_observed()
        gc.collect()
        await frozen_by_the_loop()
        assert gc.get_freeze_count() >= before + len(kept)
        assert not {id(node) for node in kept} & tracked_unfrozen_ids()
        # That pass, and the pacer's own short one after it (which resets CPython's count).
        assert full_passes_observed() == passes + 2

        # A younger pass freezes nothing: only a full pass's survivors are long lived.
        younger = [Node() for _ in range(100)]
        gc.collect(generation=1)
        await frozen_by_the_loop()
        assert id(younger[0]) in tracked_unfrozen_ids()


async def test_a_frozen_object_is_freed_as_soon_as_nothing_refers_to_it() -> None:
    async with pacing():
        node = Node()
        gone = weakref.ref(node)
        gc.collect()
        await frozen_by_the_loop()
        assert id(node) not in tracked_unfrozen_ids()
        del node
        assert gone() is None  # reference counting, no pass needed


def frozen_cycles(count: int) -> weakref.ref[Node]:
    """`count` pairs of objects referring to each other, frozen by a full pass, then dropped:
    garbage only a pass over the frozen objects can find. A reference to one of them."""
    garbage = [Node() for _ in range(2 * count)]
    for first, second in zip(garbage[::2], garbage[1::2], strict=True):
        first.other, second.other = second, first
    gc.collect()
    gc.freeze()  # what the pacer does at the end of that pass
    return weakref.ref(garbage[0])


async def test_frozen_cycles_wait_for_a_thaw_once_memory_grew_and_stopped_surging() -> None:
    memory = Memory()  # 100 MiB at the start
    async with pacing(growth=1.25, min_growth=64 * MIB, memory=memory) as pacer:
        gone = frozen_cycles(20_000)
        gc.collect()
        assert gone() is not None  # frozen: no full pass reaches it

        memory.mib = 160  # a quarter more, but not 64 MiB more
        assert not pacer.thaw_if_due()
        memory.mib = 180  # both; and 20 MiB since the last look: surging (16 MiB or more)
        assert not pacer.thaw_if_due()
        assert gone() is not None

        memory.mib = 190  # the next look: 10 MiB more, steady enough
        thaws = REGISTRY.get_sample_value("ridgeline_gc_thaws_total") or 0.0
        with structlog.testing.capture_logs() as logs:
            assert pacer.thaw_if_due()
        assert gone() is None
        assert pacer.thaws == 1
        assert REGISTRY.get_sample_value("ridgeline_gc_thaws_total") == thaws + 1
        [thawed] = [entry for entry in logs if entry["event"] == "gc_thawed"]
        assert thawed["collected"] >= 40_000
        assert thawed["memory_before_mib"] == 190

        # The new baseline is the memory after the thaw: growth is counted from there.
        memory.mib = 250  # a quarter more than 190, but not 64 MiB
        assert not pacer.thaw_if_due()
        memory.mib = 256  # both, and steady
        assert pacer.thaw_if_due()


async def test_a_thaw_waits_for_a_surge_to_end_for_so_long_only() -> None:
    memory = Memory()
    async with pacing(memory=memory, max_defer_s=0.0) as pacer:
        gone = frozen_cycles(20_000)
        memory.mib = 400  # surging, but it may not wait any longer
        assert pacer.thaw_if_due()
        assert gone() is None


async def test_turned_off_it_only_times_the_full_passes() -> None:
    memory = Memory()
    thresholds = gc.get_threshold()
    async with pacing(freeze_survivors=False, memory=memory) as pacer:
        assert gc.get_threshold() == thresholds  # CPython's own
        before, passes = gc.get_freeze_count(), full_passes_observed()
        kept = [Node() for _ in range(2_000)]
        gc.collect()
        await frozen_by_the_loop()
        assert id(kept[0]) in tracked_unfrozen_ids()
        assert gc.get_freeze_count() <= before  # (frozen objects freed meanwhile: fewer)
        assert full_passes_observed() == passes + 1
        memory.mib = 1_000
        assert not pacer.thaw_if_due()
        assert not pacer.thaw_if_due()


async def test_the_pacer_stops_with_its_context() -> None:
    thresholds = gc.get_threshold()
    async with pacing() as pacer:
        assert gc.get_threshold() == (*thresholds[:2], FULL_PASS_EVERY)
    assert gc.get_threshold() == thresholds
    assert pacer._on_collection not in gc.callbacks
    before = gc.get_freeze_count()
    gc.collect()
    await frozen_by_the_loop()
    assert gc.get_freeze_count() <= before  # nothing newly frozen


def test_ridgeline_serve_exposes_its_collector_figures(settings: Settings) -> None:
    port = free_port()
    with running_server(settings, port):
        response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert "ridgeline_gc_full_pass_seconds_count " in response.text
    assert "ridgeline_gc_thaws_total " in response.text


@pytest.mark.parametrize("on", [True, False])
def test_the_pacer_is_on_unless_turned_off(settings: Settings, on: bool) -> None:
    settings = settings.model_copy(update={"gc_freeze_survivors": on})
    server = server_for(create_app(settings), host="127.0.0.1", port=0, freeze_after_startup=True)
    assert server.pacer is not None  # it times the full passes either way
    assert server.pacer.freeze_survivors is on
    # Servers started inside a test run freeze nothing, so never pace.
    assert server_for(create_app(settings), host="127.0.0.1", port=0).pacer is None
