"""The light chaos run (bench/chaos.py; `make chaos` runs the full one): kiosks of a store per
POS dialect place orders through a real `ridgeline serve` process, against the POS simulator in
its own process injecting 30% faults of every class into the order endpoints, while the server
is killed with SIGKILL and restarted, once per dialect. Afterwards every accepted order exists
exactly once here and at the POS (none for a rejected, failed or cancelled one), none is lost,
none is left `received` or `queued`, and the POS holds nothing that is not ours.

On the database this run selects (`--db`): the server process uses the same database.
"""

from __future__ import annotations

from pathlib import Path

from bench.chaos import DIALECTS, ChaosConfig, run_chaos
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
    problems = report.all_problems
    assert not problems, (
        f"{len(problems)} problem(s):\n" + "\n".join(problems[:50]) + f"\n{summary}"
    )
    for dialect in report.dialects:
        assert dialect.keys == ORDERS_PER_DIALECT, summary
        assert dialect.no_answer == 0, summary
        assert dialect.duplicates == 0, summary
    # The faults really were injected, of every class. Over all dialects: a store whose queue
    # waits (a lease left by a killed server, its breaker open) makes few POS calls meanwhile.
    requests = sum(d.order_requests for d in report.dialects)
    faults = sum(d.faults for d in report.dialects)
    assert requests >= 100, summary
    assert 0.15 <= faults / requests <= 0.45, summary
    kinds = {kind for d in report.dialects for kind, hits in d.fault_hits.items() if hits}
    assert {"timeout", "reset", "rate_limit", "drop_response_after_accept"} <= kinds, summary
    assert any(kind.startswith("status:") for kind in kinds), summary
