"""The light chaos run (bench/chaos.py; `make chaos` runs the full one): kiosks of a store per
POS dialect place orders through a real `ridgeline serve` process, against the POS simulator in
its own process injecting 30% faults of every class into the order endpoints, while the server
is killed with SIGKILL and restarted, once per dialect. Afterwards every accepted order exists
exactly once here and at the POS (none for a rejected, failed or cancelled one), none is lost,
none is left `received` or `queued`, and the POS holds nothing that is not ours.

On the database this run selects (`--db`): the server process uses the same database.

The scaled run (PostgreSQL only) does the same through scaled mode as deployed: nginx in front of
two `ridgeline serve` processes, two `ridgeline worker` processes and a private Redis, while a
server and a worker are each SIGKILLed and restarted and Redis is killed and restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chaos import DIALECTS, ChaosConfig, ChaosReport, run_chaos
from ridgeline.db.engine import Database

ORDERS_PER_DIALECT = 40
KIOSKS_PER_STORE = 8
# A bound, not a wait: a server killed mid-submission leaves its order's lease (10 s in the
# harness) and a request's idempotency key (10 s) to run out before they are taken over.
SETTLE_TIMEOUT_S = 240.0


async def test_chaos_every_accepted_order_exactly_once_at_the_pos(
    database_url: str, database: Database, tmp_path: Path
) -> None:
    # `database` empties the tables afterwards; the server process is stopped before that.
    lines: list[str] = []
    config = ChaosConfig(
        orders_per_dialect=ORDERS_PER_DIALECT,
        dialects=DIALECTS,
        database_url=database_url,
        kiosks_per_store=KIOSKS_PER_STORE,
        fault_rate=0.3,
        seed=11,
        kills=len(DIALECTS),
        kill_window=0.2,
        cancel_rate=0.05,
        products=20,
        fault_phase_timeout_s=90.0,
        settle_timeout_s=SETTLE_TIMEOUT_S,
        worker_concurrency=8,
        work_dir=tmp_path,
        log=lines.append,
    )
    report = await run_chaos(config)

    summary = report.table() + "\n" + "\n".join(lines)
    print(summary)  # noqa: T201 - the figures, shown with -s or -rP
    assert report.kills == len(DIALECTS), summary
    assert_every_order_exactly_once(report, ORDERS_PER_DIALECT, summary)
    # The faults really were injected, of every class. Over all dialects: a store whose queue
    # waits (a lease left by a killed server, its breaker open) makes few POS calls meanwhile.
    requests = sum(d.order_requests for d in report.dialects)
    faults = sum(d.faults for d in report.dialects)
    assert requests >= 100, summary
    assert 0.15 <= faults / requests <= 0.45, summary
    kinds = {kind for d in report.dialects for kind, hits in d.fault_hits.items() if hits}
    assert {"timeout", "reset", "rate_limit", "drop_response_after_accept"} <= kinds, summary
    assert any(kind.startswith("status:") for kind in kinds), summary


SCALED_ORDERS_PER_DIALECT = 25


async def test_chaos_scaled_every_accepted_order_exactly_once_at_the_pos(
    request: pytest.FixtureRequest, database_url: str, database: Database, tmp_path: Path
) -> None:
    if request.config.getoption("--db") != "postgresql":
        pytest.skip(
            "scaled mode (servers and workers in several processes on one database) needs "
            "PostgreSQL; runs in the `--db postgresql` pass"
        )
    lines: list[str] = []
    config = ChaosConfig(
        orders_per_dialect=SCALED_ORDERS_PER_DIALECT,
        dialects=DIALECTS,
        database_url=database_url,
        kiosks_per_store=5,
        fault_rate=0.3,
        seed=13,
        kills=1,  # of a server and of a worker, and Redis once between them
        kill_window=0.6,
        cancel_rate=0.05,
        products=20,
        fault_phase_timeout_s=60.0,
        settle_timeout_s=SETTLE_TIMEOUT_S,
        worker_concurrency=4,
        work_dir=tmp_path,
        log=lines.append,
        scaled=True,
    )
    report = await run_chaos(config)

    summary = report.table() + "\n" + "\n".join(lines)
    print(summary)  # noqa: T201 - the figures, shown with -s or -rP
    assert (report.kills, report.worker_kills, report.redis_restarts) == (1, 1, 1), summary
    assert_every_order_exactly_once(report, SCALED_ORDERS_PER_DIALECT, summary)


def assert_every_order_exactly_once(report: ChaosReport, orders: int, summary: str) -> None:
    problems = report.all_problems
    assert not problems, (
        f"{len(problems)} problem(s):\n" + "\n".join(problems[:50]) + f"\n{summary}"
    )
    for dialect in report.dialects:
        assert dialect.keys == orders, summary
        assert dialect.no_answer == 0, summary
        assert dialect.duplicates == 0, summary
