"""One sync in its own OS process, for the cross-process lock test: prints `ready`, waits for a
line on stdin, runs a full sync of the store, prints the outcome (`succeeded`, `in_progress`)."""

from __future__ import annotations

import asyncio
import sys
import uuid

from ridgeline.clock import SystemClock
from ridgeline.config import Environment, Settings
from ridgeline.db.engine import Database
from ridgeline.errors import SyncInProgress
from ridgeline.models import SyncKind, SyncTrigger
from ridgeline.pos.client import PosConnector
from ridgeline.sync.service import run_sync


async def main(database_url: str, store_id: uuid.UUID) -> str:
    settings = Settings(env=Environment.TEST, database_url=database_url)
    database = Database(database_url)
    connector = PosConnector(settings, database, SystemClock())
    try:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        try:
            run = await run_sync(
                database,
                connector,
                store_id,
                SyncKind.FULL,
                SyncTrigger.OPERATOR,
                clock=SystemClock(),
            )
        except SyncInProgress:
            return "in_progress"
        return run.status.value
    finally:
        await connector.aclose()
        await database.dispose()


if __name__ == "__main__":
    sys.stdout.write(asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]))) + "\n")
    sys.stdout.flush()
