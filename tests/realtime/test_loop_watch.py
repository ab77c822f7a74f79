"""The event loop watch catches a callback that blocks the loop, names it, reports no fast one."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Iterator

import pytest

from ridgeline.app import create_app
from ridgeline.cli.server import server_for
from ridgeline.config import Settings
from ridgeline.realtime.loop_watch import LoopWatch

THRESHOLD_S = 0.05


@pytest.fixture
def watch() -> Iterator[LoopWatch]:
    watch = LoopWatch(THRESHOLD_S)
    watch.install()
    try:
        yield watch
    finally:
        watch.uninstall()


def block_the_loop() -> None:
    time.sleep(THRESHOLD_S * 3)  # deliberately synchronous: the loop can run nothing else


async def a_task_that_blocks() -> None:
    await asyncio.sleep(0)
    block_the_loop()
    await asyncio.sleep(0)


async def test_a_blocking_callback_is_caught_and_named(watch: LoopWatch) -> None:
    loop = asyncio.get_running_loop()
    ran = loop.create_future()

    def blocking_callback() -> None:
        block_the_loop()
        ran.set_result(None)

    loop.call_soon(blocking_callback)
    await ran

    report = watch.report()

    assert report.over_threshold == 1
    assert report.longest_s >= THRESHOLD_S * 3
    assert "blocking_callback" in report.longest
    assert report.offenders[0].count == 1
    # It slept: the loop thread was blocked without computing (as when it waits for the GIL).
    assert report.longest_cpu_s < THRESHOLD_S
    assert report.offenders[0].cpu_s == report.longest_cpu_s


async def test_a_blocking_task_step_is_named_by_its_coroutine(watch: LoopWatch) -> None:
    await asyncio.create_task(a_task_that_blocks())

    report = watch.report()

    assert report.over_threshold == 1
    assert report.longest.startswith("task a_task_that_blocks -> ")
    assert "test_loop_watch.py:" in report.longest


async def test_fast_callbacks_are_counted_not_reported(watch: LoopWatch) -> None:
    for _ in range(200):
        await asyncio.sleep(0)

    report = watch.report()

    assert report.callbacks >= 200
    assert report.over_threshold == 0
    assert report.offenders == ()
    assert report.longest == ""
    assert report.longest_s < THRESHOLD_S


async def test_a_reset_starts_a_new_window(watch: LoopWatch) -> None:
    await asyncio.create_task(a_task_that_blocks())

    assert watch.report(reset=True).over_threshold == 1
    await asyncio.sleep(0)
    assert watch.report().over_threshold == 0


async def test_uninstalled_it_sees_nothing() -> None:
    watch = LoopWatch(THRESHOLD_S)
    watch.install()
    watch.uninstall()

    await asyncio.create_task(a_task_that_blocks())

    assert watch.report().callbacks == 0
    assert asyncio.events.Handle._run.__qualname__ == "Handle._run"


def test_one_watch_at_a_time(watch: LoopWatch) -> None:
    with pytest.raises(RuntimeError):
        LoopWatch(THRESHOLD_S).install()


def test_the_server_runs_on_asyncio_loop_when_watching(settings: Settings) -> None:
    watched = server_for(
        create_app(settings.model_copy(update={"loop_watch_ms": 100.0})), host="127.0.0.1", port=1
    )
    plain = server_for(create_app(settings), host="127.0.0.1", port=1)

    assert watched.config.loop == "asyncio"
    assert watched.loop_watch is not None
    assert watched.loop_watch.threshold_s == pytest.approx(0.1)
    assert plain.config.loop == "auto"
    assert plain.loop_watch is None


async def test_garbage_collections_are_timed_apart(watch: LoopWatch) -> None:
    loop = asyncio.get_running_loop()
    ran = loop.create_future()

    def collecting_callback() -> None:
        gc.collect()
        ran.set_result(None)

    loop.call_soon(collecting_callback)
    await ran

    report = watch.report()

    assert report.gc_collections >= 1
    assert report.longest_gc_s > 0
    assert report.longest_gc_generation == 2  # gc.collect() is a full pass
