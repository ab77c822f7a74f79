"""`ridgeline sync STORE [--full|--inventory]`: one sync, in this process, with a progress bar."""

from __future__ import annotations

import uuid

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ridgeline.clock import SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.models.sync import SyncKind, SyncRun, SyncTrigger
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.backplane import announcing_commits, backplane_for
from ridgeline.sync.service import run_sync


async def run_sync_command(
    settings: Settings, store_id: uuid.UUID, kind: SyncKind, console: Console
) -> SyncRun:
    """Runs one operator sync of `store_id` and prints its counts; returns the finished run
    (a failed run is returned, with its error printed). `NotFound` / `SyncInProgress` raise."""
    database = Database.from_settings(settings)
    clock = SystemClock()
    connector = PosConnector(settings, database, clock)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    # Scaled mode: kiosks on the servers hear of this process's changes through Redis at once
    # (embedded mode: the server's poll of stream positions finds them within seconds).
    announcer = announcing_commits(database, backplane_for(settings.redis_url))
    try:
        async with announcer:
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task(f"{kind.value} sync: fetching", total=None)

                def progress(total: int, done: int) -> None:
                    bar.update(
                        task,
                        description=f"{kind.value} sync: writing",
                        total=total,
                        completed=done,
                    )

                run = await run_sync(
                    database,
                    connector,
                    store_id,
                    kind,
                    SyncTrigger.OPERATOR,
                    clock=clock,
                    progress=progress,
                )
    finally:
        await connector.aclose()
        await database.dispose()
    console.print(describe_run(run))
    if run.error:
        console.print(f"[red]error:[/red] {run.error}")
    return run


def describe_run(run: SyncRun) -> Table:
    table = Table(title=f"Sync run {run.id} ({run.kind.value}): {run.status.value}")
    for name in ("fetched", "created", "updated", "deactivated", "unchanged", "invalid"):
        table.add_column(name, justify="right")
    table.add_column("duration_ms", justify="right")
    table.add_row(
        *(
            str(value)
            for value in (
                run.fetched,
                run.created,
                run.updated,
                run.deactivated,
                run.unchanged,
                run.invalid,
                run.duration_ms,
            )
        )
    )
    return table
