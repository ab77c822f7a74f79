"""One store's circuit breaker driven from its own OS process, for the multi-process tests.

    RIDGELINE_DATABASE_URL=... python -m tests.resilience.breaker_process STORE_ID

It prints "ready" once it reached the database, then answers one JSON line on stdout for each
JSON command line on stdin:

    {"op": "at", "time": ISO}              set this process's (fake) clock
    {"op": "calls", "outcomes": "ffs"}     one call per letter (s ok, f failed): each is
                                           "recorded" or "refused" (CircuitOpen)
    {"op": "acquire", "count": N}          N acquires at once; granted permits are held
    {"op": "record_held", "success": B}    record every held permit
    {"op": "state"}                        the breaker's snapshot state

Logs go to stderr, so they never mix with the answers.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import datetime
from typing import Any

from ridgeline.clock import FakeClock
from ridgeline.config import Environment, LogFormat, Settings
from ridgeline.db.engine import Database
from ridgeline.monitoring.logging import configure_logging
from ridgeline.resilience import CircuitBreaker, CircuitOpen, Permit
from tests.resilience.factories import CONFIG


class Driver:
    def __init__(self, breaker: CircuitBreaker, clock: FakeClock) -> None:
        self.breaker = breaker
        self.clock = clock
        self.held: list[Permit] = []

    async def try_acquire(self) -> Permit | None:
        try:
            return await self.breaker.acquire()
        except CircuitOpen:
            return None

    async def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        op = command["op"]
        if op == "at":
            self.clock.advance(
                (datetime.fromisoformat(command["time"]) - self.clock.now()).total_seconds()
            )
            return {"now": self.clock.now().isoformat()}
        if op == "calls":
            results = []
            for letter in command["outcomes"]:
                permit = await self.try_acquire()
                if permit is None:
                    results.append("refused")
                    continue
                await permit.record(letter == "s", 0.1)
                results.append("recorded")
            return {"results": results}
        if op == "acquire":
            permits = await asyncio.gather(*(self.try_acquire() for _ in range(command["count"])))
            granted = [permit for permit in permits if permit is not None]
            self.held.extend(granted)
            return {"granted": len(granted), "refused": len(permits) - len(granted)}
        if op == "record_held":
            held, self.held = self.held, []
            for permit in held:
                await permit.record(bool(command["success"]), 0.1)
            return {"recorded": len(held)}
        if op == "state":
            return {"state": (await self.breaker.snapshot()).state.value}
        raise ValueError(f"unknown op {op!r}")


async def main(store_id: uuid.UUID) -> None:
    settings = Settings(env=Environment.TEST, log_format=LogFormat.JSON)
    configure_logging(settings)
    database = Database(settings.database_url)
    clock = FakeClock()
    driver = Driver(CircuitBreaker(store_id, CONFIG, database, clock), clock)
    loop = asyncio.get_running_loop()
    try:
        await driver.breaker.snapshot()
        print("ready", flush=True)  # noqa: T201
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            answer = await driver.handle(json.loads(line))
            print(json.dumps(answer), flush=True)  # noqa: T201
    finally:
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(uuid.UUID(sys.argv[1])))
