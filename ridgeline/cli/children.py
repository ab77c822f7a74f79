"""Stopping a child process: what the scaled demo, the chaos run and the tests that start
servers, workers, nginx and Redis all need the same way."""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def stop_process(
    process: asyncio.subprocess.Process, *, signum: int = signal.SIGTERM, timeout_s: float
) -> None:
    """Sends `signum` (SIGKILL for a crash) and waits for the process to end; kills it if it
    has not ended within `timeout_s`. Nothing happens to a process that already ended."""
    if process.returncode is None:
        process.send_signal(signum)
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    await process.wait()
