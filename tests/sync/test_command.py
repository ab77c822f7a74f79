"""`ridgeline sync STORE`: one run in-process, its counts printed."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models import SyncKind, SyncStatus
from ridgeline.pos.client import PosConnector
from ridgeline.sync.command import run_sync_command


async def test_the_command_runs_a_sync_and_prints_its_counts(
    settings: Settings, database: Database, connector: PosConnector, new_store: Any
) -> None:
    store = await new_store(7)
    output = io.StringIO()
    console = Console(file=output, width=160)
    run = await run_sync_command(settings, store.store_id, SyncKind.FULL, console)
    assert run.status is SyncStatus.SUCCEEDED
    assert run.created == 7
    printed = output.getvalue()
    assert "succeeded" in printed
    assert "created" in printed
    assert " 7 " in printed

    inventory = await run_sync_command(settings, store.store_id, SyncKind.INVENTORY, console)
    assert inventory.status is SyncStatus.SUCCEEDED
