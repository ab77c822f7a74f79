"""`ridgeline doctor STORE | --all`: the guide's checks for one store or every store, with a
progress display on stderr, then a table per store (or with `--json` one JSON document, the only
thing written to stdout). Exit code: 0 when every store is healthy, 1 when a check failed, 2 for
a usage error such as an unknown store."""

from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ridgeline.clock import Clock, SystemClock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound
from ridgeline.health.doctor import CHECKS, Doctor, StoreReport
from ridgeline.health.findings import Verdict
from ridgeline.pos.client import PosConnector
from ridgeline.realtime.backplane import announcing_commits, backplane_for

HEALTHY, UNHEALTHY, USAGE = 0, 1, 2
STYLES = {
    Verdict.PASS: "[green]pass[/green]",
    Verdict.WARN: "[yellow]warn[/yellow]",
    Verdict.FAIL: "[bold red]FAIL[/bold red]",
    Verdict.SKIP: "[dim]skip[/dim]",
}


@dataclass(frozen=True, slots=True)
class DoctorTools:
    """What the doctor works with; built from the settings unless given (tests)."""

    database: Database
    connector: PosConnector
    clock: Clock


async def run_doctor_command(
    settings: Settings,
    store_id: uuid.UUID | None,
    *,
    as_json: bool,
    server_url: str | None,
    console: Console,
    out: TextIO | None = None,
    tools: DoctorTools | None = None,
) -> int:
    """Examines `store_id` (None: every store) and prints the reports; returns the exit code."""
    out = out or sys.stdout
    own = tools is None
    if tools is None:
        database = Database.from_settings(settings)
        clock = SystemClock()
        tools = DoctorTools(database, PosConnector(settings, database, clock), clock)
    doctor = Doctor(settings, tools.database, tools.connector, tools.clock, server_url=server_url)
    # The round trip's message must reach the servers' kiosks at once in scaled mode (Redis),
    # as `ridgeline sync`'s do; in embedded mode the server's poll finds it within seconds.
    announcer = announcing_commits(tools.database, backplane_for(settings.redis_url))
    try:
        async with announcer:
            store_ids = [store_id] if store_id is not None else await doctor.store_ids()
            reports = await _examine(doctor, store_ids, console, every=store_id is None)
    except NotFound:
        console.print(f"[red]No store with id {store_id}[/red] (ids: GET /api/v1/stores)")
        return USAGE
    finally:
        if own:
            await tools.connector.aclose()
            await tools.database.dispose()
    if as_json:
        document = reports[0].as_json() if store_id is not None else fleet_document(reports)
        out.write(json.dumps(document, indent=2) + "\n")
    else:
        printer = Console(file=out)
        for report in reports:
            printer.print(report_table(report))
            for line in fixes(report):
                printer.print(line, highlight=False)
            printer.print()
        if store_id is None:
            printer.print(fleet_line(reports))
    return HEALTHY if all(report.healthy for report in reports) else UNHEALTHY


async def _examine(
    doctor: Doctor, store_ids: list[uuid.UUID], console: Console, *, every: bool
) -> list[StoreReport]:
    """The stores' reports, with a progress bar per store. `NotFound` for an unknown store,
    unless examining every store (one deleted meanwhile is left out)."""
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    reports = []
    with Progress(*columns, console=console, transient=True) as bar:
        for position, store_id in enumerate(store_ids, start=1):
            store = f"store {position}/{len(store_ids)}"
            task = bar.add_task(f"{store}: starting", total=len(CHECKS))

            def progress(
                name: str, index: int, total: int, task: Any = task, store: str = store
            ) -> None:
                bar.update(task, description=f"{store}: {name}", completed=index, total=total)

            try:
                reports.append(await doctor.examine(store_id, progress=progress))
            except NotFound:
                if not every:
                    raise
            bar.update(task, completed=len(CHECKS))
    return reports


def report_table(report: StoreReport) -> Table:
    """The checks in order with their verdict and finding; the fixes follow the table
    (`fixes`), where a long command or URL reads whole."""
    failed = [check.name for check in report.checks if check.verdict is Verdict.FAIL]
    verdict = "healthy" if report.healthy else f"UNHEALTHY ({len(failed)} failed)"
    table = Table(
        title=f"{report.store_name} ({report.store_id}): {verdict}",
        caption=f"state {report.state} ({report.cause}), checked {report.checked_at.isoformat()}",
        title_justify="left",
        caption_justify="left",
    )
    table.add_column("check", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("finding", overflow="fold")
    for check in report.checks:
        table.add_row(check.name, STYLES[check.verdict], check.summary)
    return table


def fixes(report: StoreReport) -> list[str]:
    return [
        f"{STYLES[check.verdict]} {check.name}: {check.fix}"
        for check in report.checks
        if check.fix is not None
    ]


def fleet_document(reports: list[StoreReport]) -> dict[str, Any]:
    failing = Counter(
        check.name for report in reports for check in report.checks if check.verdict is Verdict.FAIL
    )
    healthy = sum(1 for report in reports if report.healthy)
    return {
        "healthy": healthy == len(reports),
        "summary": {
            "stores": len(reports),
            "healthy": healthy,
            "unhealthy": len(reports) - healthy,
            "failed_checks": dict(failing),
        },
        "stores": [report.as_json() for report in reports],
    }


def fleet_line(reports: list[StoreReport]) -> str:
    sick = [report for report in reports if not report.healthy]
    line = f"{len(reports)} store(s): {len(reports) - len(sick)} healthy, {len(sick)} unhealthy"
    for report in sick:
        failed = ", ".join(c.name for c in report.checks if c.verdict is Verdict.FAIL)
        line += f"\n  {report.store_name} ({report.store_id}): {failed}"
    return line
