"""The event loop watch: how long each callback the server's asyncio event loop runs takes.

A `/cable` process holds thousands of sockets on one event loop, so one callback that runs for
long (a reconnect storm's bookkeeping, a flush built in one go) delays every socket and request
behind it. A probe request only sees how long it waited, queueing included; this times each
callback alone. Opt-in (`RIDGELINE_LOOP_WATCH_MS`): it wraps `asyncio.Handle._run`, which
costs two clock reads per callback and needs asyncio's own loop (uvloop runs its callbacks in
C). asyncio's debug mode is not used: it captures a stack for every handle scheduled.

The report names the longest callback and the worst offenders: a task's step by its coroutine
and the line it reached, any other callback by its name (a transport read names its protocol).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import CoroutineType, FrameType
from typing import Any

# Offenders kept by description; beyond this many distinct ones the fastest are forgotten.
MAX_OFFENDERS = 64


@dataclass(frozen=True, slots=True)
class Offender:
    description: str
    count: int  # callbacks over the threshold with this description
    longest_s: float
    gc_s: float  # of the longest, the time the garbage collector ran within it
    cpu_s: float  # of the longest, the loop thread's CPU time (the rest it waited: GIL, OS)


@dataclass(frozen=True, slots=True)
class LoopWatchReport:
    callbacks: int  # callbacks run in the window
    longest_s: float  # the longest single callback
    longest: str  # its description ("" when no callback reached the threshold)
    longest_cpu_s: float  # the loop thread's CPU time during it
    over_threshold: int
    threshold_s: float
    window_s: float
    offenders: tuple[Offender, ...]  # worst first
    longest_gc_s: float  # the longest garbage collection (one pass, any generation)
    longest_gc_generation: int  # its generation (2: a full pass over every tracked object)
    gc_collections: int

    def as_log(self) -> dict[str, Any]:
        return {
            "callbacks": self.callbacks,
            "longest_ms": round(self.longest_s * 1000, 1),
            "longest": self.longest,
            "longest_cpu_ms": round(self.longest_cpu_s * 1000, 1),
            "over_threshold": self.over_threshold,
            "threshold_ms": round(self.threshold_s * 1000, 1),
            "window_s": round(self.window_s, 1),
            "longest_gc_ms": round(self.longest_gc_s * 1000, 1),
            "longest_gc_generation": self.longest_gc_generation,
            "gc_collections": self.gc_collections,
            "offenders": [
                {
                    "callback": o.description,
                    "count": o.count,
                    "longest_ms": round(o.longest_s * 1000, 1),
                    "gc_ms": round(o.gc_s * 1000, 1),
                    "cpu_ms": round(o.cpu_s * 1000, 1),
                }
                for o in self.offenders
            ],
        }


_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)


def _await_chain(coroutine: Any) -> list[FrameType]:
    """A suspended coroutine's await chain, outermost first, without asyncio's own frames (a
    step that ends in `asyncio.sleep(0)` is named by the code that slept)."""
    frames: list[FrameType] = []
    while coroutine is not None and len(frames) < 50:
        current = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "gi_frame", None)
        if current is not None and not current.f_code.co_filename.startswith(_ASYNCIO_DIR):
            frames.append(current)
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "gi_yieldfrom", None)
    return frames


def _where(frame: FrameType) -> str:
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno} {frame.f_code.co_name}"


def describe(handle: asyncio.Handle) -> str:
    """A callback in words: `task <coroutine> -> <file>:<line> <function> > ...` for a task's
    step (the await chain where the step ended, its last four frames), else the callback's
    qualified name and, for a transport's callback, its protocol's type."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coroutine = owner.get_coro()
        name = getattr(coroutine, "__qualname__", type(coroutine).__name__)
        chain = _await_chain(coroutine) if isinstance(coroutine, CoroutineType) else []
        if not chain:
            return f"task {name} (finished)"
        # Where the step ended, innermost last: what ran before it is between the step's start
        # and that line.
        return f"task {name} -> " + " > ".join(_where(frame) for frame in chain[-4:])
    name = getattr(callback, "__qualname__", None) or repr(callback)
    protocol = getattr(owner, "_protocol", None)
    if protocol is not None:
        return f"{name} ({type(protocol).__qualname__})"
    return str(name)[:200]


class LoopWatch:
    """Times every asyncio callback of this process while installed. One at a time."""

    _installed: LoopWatch | None = None

    def __init__(
        self,
        threshold_s: float,
        *,
        clock: Callable[[], float] = time.perf_counter,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self.threshold_s = threshold_s
        self._clock = clock
        # The loop thread's own CPU time: a callback slow on the clock but not in CPU waited
        # (for the GIL another thread held, or for a core on a busy machine).
        self._cpu_clock = cpu_clock
        self._original: Callable[[asyncio.Handle], None] | None = None
        self._gc_started = 0.0
        self._gc_total_s = 0.0  # every collection's time, ever: a callback's share is a difference
        self._reset()

    def _reset(self) -> None:
        self._began = self._clock()
        self._callbacks = 0
        self._longest_s = 0.0
        self._longest = ""
        self._longest_cpu_s = 0.0
        self._over = 0
        self._offenders: dict[str, tuple[int, float, float, float]] = {}
        self._gc_longest_s = 0.0
        self._gc_longest_generation = 0
        self._gc_collections = 0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        # The collector runs inside whichever callback allocated past its threshold: its passes
        # are timed apart so that a report says when the collector, not the callback, was slow.
        now = self._clock()
        if phase == "start":
            self._gc_started = now
            return
        took = now - self._gc_started
        self._gc_total_s += took
        self._gc_collections += 1
        if took > self._gc_longest_s:
            self._gc_longest_s = took
            self._gc_longest_generation = int(info.get("generation", 0))

    def install(self) -> None:
        if LoopWatch._installed is not None:
            raise RuntimeError("an event loop watch is already installed")
        original = asyncio.events.Handle._run
        clock = self._clock
        cpu = self._cpu_clock
        watch = self

        def _run(handle: asyncio.Handle) -> None:
            gc_before = watch._gc_total_s
            cpu_before = cpu()
            began = clock()
            try:
                original(handle)
            finally:
                took = clock() - began
                watch._observe(handle, took, watch._gc_total_s - gc_before, cpu() - cpu_before)

        self._original = original
        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]
        gc.callbacks.append(self._on_gc)
        LoopWatch._installed = self
        self._reset()

    def uninstall(self) -> None:
        if LoopWatch._installed is self and self._original is not None:
            asyncio.events.Handle._run = self._original  # type: ignore[method-assign,assignment]
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._on_gc)
            LoopWatch._installed = None
            self._original = None

    def _observe(self, handle: asyncio.Handle, took: float, gc_s: float, cpu_s: float) -> None:
        self._callbacks += 1
        if took < self.threshold_s:
            if took > self._longest_s:
                self._longest_s = took
            return
        self._over += 1
        description = describe(handle)
        if took > self._longest_s:
            self._longest_s, self._longest, self._longest_cpu_s = took, description, cpu_s
        count, longest, longest_gc, longest_cpu = self._offenders.get(
            description, (0, 0.0, 0.0, 0.0)
        )
        if took > longest:
            longest, longest_gc, longest_cpu = took, gc_s, cpu_s
        self._offenders[description] = (count + 1, longest, longest_gc, longest_cpu)
        if len(self._offenders) > MAX_OFFENDERS:
            fastest = min(self._offenders, key=lambda d: self._offenders[d][1])
            del self._offenders[fastest]

    def report(self, *, worst: int = 10, reset: bool = False) -> LoopWatchReport:
        """The window so far (since install or the last reset); `reset` starts a new one."""
        ranked = sorted(self._offenders.items(), key=lambda item: item[1][1], reverse=True)
        report = LoopWatchReport(
            callbacks=self._callbacks,
            longest_s=self._longest_s,
            longest=self._longest,
            over_threshold=self._over,
            threshold_s=self.threshold_s,
            window_s=self._clock() - self._began,
            longest_cpu_s=self._longest_cpu_s,
            offenders=tuple(Offender(d, c, s, g, u) for d, (c, s, g, u) in ranked[:worst]),
            longest_gc_s=self._gc_longest_s,
            longest_gc_generation=self._gc_longest_generation,
            gc_collections=self._gc_collections,
        )
        if reset:
            self._reset()
        return report
