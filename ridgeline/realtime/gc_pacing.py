"""Short garbage-collector pauses for a server holding thousands of sockets.

CPython's cyclic collector runs on whichever callback allocates past its thresholds, so on the
event loop. A full pass walks every object it tracks: each `/cable` connection holds about 100,
and a pass over 5,000 connections' objects blocks the loop for half a second or more, several
times in a reconnect storm (the heap grows by a quarter, a full pass follows).

`CollectorPacer` freezes what survived each full pass (`gc.freeze`): those objects are long
lived by now, and a frozen object is skipped by later passes, which then walk only what came
since the last one. An object that is frozen is still freed the moment nothing refers to it;
only objects in reference cycles wait for the collector, and a frozen cycle is never collected.
Our closed connections leave none (tests/realtime/test_connection_cycles.py), but the libraries
leave a few, so what is frozen grows beyond what is alive, and the process's memory with it.
The pacer thaws it all (`gc.unfreeze`, one full pass, frozen again) once the resident memory
grew by a quarter since the last thaw, not while it still surges (a storm under way: the thaw
waits for the next look, `MAX_DEFER_S` at most). That one pass is as long as every full pass
was without the pacer, and comes far more rarely. (Memory, not `gc.get_freeze_count()`:
counting the frozen objects walks them all, as long as a full pass.)

`ridgeline serve` runs it, freezing unless `RIDGELINE_GC_FREEZE_SURVIVORS` is false (then it
only times the full passes); tests and the worker do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import psutil
import structlog
from prometheus_client import Counter, Histogram

log = structlog.get_logger(__name__)

MIB = 1024 * 1024
# A thaw when the resident memory is this many times what it was after the last thaw, and at
# least `THAW_MIN_GROWTH` more (frozen cycles are few: on asyncio's own loop a closed socket's
# transport, 5 objects; request handling left none in a probe of 13,808 catalog requests).
THAW_GROWTH = 1.25
THAW_MIN_GROWTH = 64 * MIB
# How often the memory is looked at. A thaw that is due waits while it grew by a quarter of
# `THAW_MIN_GROWTH` or more since the last look (a storm's new connections), `MAX_DEFER_S` at
# most.
CHECK_EVERY_S = 30.0
MAX_DEFER_S = 300.0
# A full pass after this many passes over the younger generations (CPython's default: 10). Over
# only what came since the last freeze, more often means each walks less: in a 5,000-kiosk storm
# the longest walked 112,000 objects (72 ms) instead of 146,000 (102 ms).
FULL_PASS_EVERY = 4

FULL_PASS_SECONDS = Histogram(
    "ridgeline_gc_full_pass_seconds",
    "How long each full pass of the garbage collector took (it blocks the event loop).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
THAWS = Counter(
    "ridgeline_gc_thaws_total",
    "Times the frozen objects were handed back to the collector for one full pass.",
)


def resident_memory() -> int:
    """This process's resident memory, in bytes."""
    return int(psutil.Process().memory_info().rss)


class CollectorPacer:
    """Freezes the survivors of each full collection; thaws when memory grew too much.
    `running()` on the event loop whose pauses it shortens. With `freeze_survivors` false it
    only times the full passes (`ridgeline_gc_full_pass_seconds`)."""

    def __init__(
        self,
        *,
        freeze_survivors: bool = True,
        growth: float = THAW_GROWTH,
        min_growth: int = THAW_MIN_GROWTH,
        check_every_s: float = CHECK_EVERY_S,
        max_defer_s: float = MAX_DEFER_S,
        memory: Callable[[], int] = resident_memory,
    ) -> None:
        self.freeze_survivors = freeze_survivors
        self.growth = growth
        self.min_growth = min_growth
        self.check_every_s = check_every_s
        self.max_defer_s = max_defer_s
        self.memory = memory
        self.thaws = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reset_due = False
        self._resetting = False
        self._pass_started = 0.0
        self._baseline = self._last_look = 0
        self._due_since: float | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._loop = asyncio.get_running_loop()
        self._baseline = self._last_look = self.memory()
        gc.callbacks.append(self._on_collection)
        thresholds = gc.get_threshold()
        checks = None
        if self.freeze_survivors:
            gc.set_threshold(thresholds[0], thresholds[1], FULL_PASS_EVERY)
            gc.freeze()
            self._reset()  # the count start-up's big pass left, as after any pass
            checks = asyncio.create_task(self._check_periodically(), name="gc-pacer")
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            if checks is not None:
                checks.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await checks
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_collection)
            self._loop = None

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        """gc's callback, in whichever thread collected: a full pass is timed and what survived
        it frozen at once (a loop busy in one long callback may see several passes)."""
        if info["generation"] != 2:
            return
        now = time.perf_counter()
        if phase == "start":
            self._pass_started = now
            return
        FULL_PASS_SECONDS.observe(now - self._pass_started)
        if not self.freeze_survivors:
            return
        gc.freeze()
        loop = self._loop
        if loop is None or self._resetting or self._reset_due:
            return
        self._reset_due = True
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self._reset)

    def _reset(self) -> None:
        """CPython starts a full pass only once a quarter as many objects as the last one left
        were promoted since: after a big pass (its survivors, now frozen), a big one again. A
        pass now, over what came since that one (from inside a collection it cannot run), leaves
        that count small: full passes then come every `FULL_PASS_EVERY` younger ones, each over
        what came since."""
        self._reset_due = False
        self._resetting = True
        try:
            gc.collect()
        finally:
            self._resetting = False

    async def _check_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            self.thaw_if_due()

    def thaw_if_due(self) -> bool:
        """One full pass over everything frozen, frozen again after, when memory grew by
        `growth` (and `min_growth` bytes) since the last thaw, unless it still surges (a quarter
        of `min_growth` or more since the last look) and has not waited `max_defer_s` yet."""
        if not self.freeze_survivors:
            return False
        memory = self.memory()
        surging = memory - self._last_look >= self.min_growth / 4
        self._last_look = memory
        growth = memory - self._baseline
        if memory < self._baseline * self.growth or growth < self.min_growth:
            self._due_since = None
            return False
        now = time.monotonic()
        if self._due_since is None:
            self._due_since = now
        if surging and now - self._due_since < self.max_defer_s:
            return False
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        self._baseline = self._last_look = self.memory()
        self._due_since = None
        THAWS.inc()
        self.thaws += 1
        log.info(
            "gc_thawed",
            memory_before_mib=round(memory / MIB, 1),
            collected=collected,
            memory_after_mib=round(self._baseline / MIB, 1),
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return True
