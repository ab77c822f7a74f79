"""Two OS processes share one store's breaker through the database."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ridgeline.config import Settings
from tests.resilience.factories import CONFIG

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 20.0


class BreakerProcess:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def ask(self, op: str, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **arguments}).encode() + b"\n")
        await self.process.stdin.drain()
        line = await asyncio.wait_for(self.process.stdout.readline(), ANSWER_TIMEOUT_S)
        assert line, "the breaker process died; see its log"
        answer: dict[str, Any] = json.loads(line)
        return answer


@asynccontextmanager
async def breaker_processes(
    database_url: str, store_id: uuid.UUID, log_dir: Path, count: int
) -> AsyncIterator[list[BreakerProcess]]:
    processes: list[asyncio.subprocess.Process] = []
    env = {**os.environ, "RIDGELINE_DATABASE_URL": database_url}
    try:
        for n in range(count):
            with (log_dir / f"breaker-process-{n}.log").open("wb") as log:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "tests.resilience.breaker_process",
                        str(store_id),
                        cwd=REPO_ROOT,
                        env=env,
                        stdin=asyncio.subprocess.PIPE,
                        stdout=asyncio.subprocess.PIPE,
                        stderr=log,
                    )
                )
        for process in processes:
            assert process.stdout is not None
            ready = await asyncio.wait_for(process.stdout.readline(), STARTUP_TIMEOUT_S)
            assert ready == b"ready\n", f"a breaker process failed to start; see {log_dir}"
        yield [BreakerProcess(process) for process in processes]
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()


async def at_time(processes: list[BreakerProcess], when: datetime) -> None:
    await asyncio.gather(*(p.ask("at", time=when.isoformat()) for p in processes))


async def test_failures_in_one_process_open_the_breaker_for_the_other(
    settings: Settings, store_id: uuid.UUID, tmp_path: Path
) -> None:
    start = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
    async with breaker_processes(settings.database_url, store_id, tmp_path, 2) as (a, b):
        await at_time([a, b], start)
        assert await b.ask("calls", outcomes="ff") == {"results": ["recorded"] * 2}
        # A's three failures complete the window B started: 5 failures of 5 calls.
        assert await a.ask("calls", outcomes="fff") == {"results": ["recorded"] * 3}
        assert await b.ask("state") == {"state": "open"}
        assert await b.ask("calls", outcomes="s") == {"results": ["refused"]}
        assert await a.ask("calls", outcomes="s") == {"results": ["refused"]}


async def test_in_half_open_two_processes_together_get_exactly_p_probes(
    settings: Settings, store_id: uuid.UUID, tmp_path: Path
) -> None:
    start = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
    probes = CONFIG.permitted_calls_in_half_open
    async with breaker_processes(settings.database_url, store_id, tmp_path, 2) as (a, b):
        await at_time([a, b], start)
        await a.ask("calls", outcomes="fffff")
        now, wait = start, CONFIG.wait_in_open_s
        for _ in range(3):  # three rounds of racing for the probes, each failing them
            now += timedelta(seconds=wait)
            await at_time([a, b], now)
            answers = await asyncio.gather(a.ask("acquire", count=8), b.ask("acquire", count=8))
            assert sum(answer["granted"] for answer in answers) == probes, answers
            assert sum(answer["refused"] for answer in answers) == 16 - probes
            await asyncio.gather(
                a.ask("record_held", success=False), b.ask("record_held", success=False)
            )
            assert await a.ask("state") == {"state": "open"}
            wait = min(wait * CONFIG.wait_multiplier, CONFIG.max_wait_in_open_s)
        now += timedelta(seconds=wait)
        await at_time([a, b], now)
        answers = await asyncio.gather(a.ask("acquire", count=8), b.ask("acquire", count=8))
        assert sum(answer["granted"] for answer in answers) == probes
        await asyncio.gather(a.ask("record_held", success=True), b.ask("record_held", success=True))
        assert await b.ask("state") == {"state": "closed"}
