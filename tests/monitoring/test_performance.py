"""The performance monitor: its window's figures, the event loop's lag, the report each process
publishes, `GET /api/v1/system/performance`, and the platform rules that judge the published
reports (pending, firing after `for`, resolved when the figure drops or the process is gone)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ridgeline.alerts.evaluation import evaluate_rules
from ridgeline.alerts.platform import PLATFORM_SLUG
from ridgeline.alerts.rules import RULES
from ridgeline.alerts.tasks import run_notify
from ridgeline.clock import FakeClock
from ridgeline.db.engine import Database
from ridgeline.models import AdminNotification, Organization, ProcessReport, Role
from ridgeline.monitoring import repository
from ridgeline.monitoring.performance import PerformanceMonitor, RequestWindow, percentile
from tests.factories import make_operator, make_tenant, sign_in


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.95) is None


def test_the_window_gives_percentiles_and_error_rate_per_route_and_overall() -> None:
    ticks = Ticks()
    window = RequestWindow(300, monotonic=ticks)
    for n in range(1, 101):  # 10 ms .. 1 s
        window.observe("/api/v1/orders", 500 if n % 10 == 0 else 200, n / 100)
    for _ in range(100):
        window.observe("/healthz", 200, 0.001)
    summary = window.summary()
    orders = summary["routes"]["/api/v1/orders"]
    assert orders["count"] == 100
    assert orders["errors"] == 10
    assert orders["error_rate"] == pytest.approx(0.10)
    assert (orders["p50_s"], orders["p95_s"], orders["p99_s"]) == (0.5, 0.95, 0.99)
    overall = summary["overall"]
    assert overall["count"] == 200
    assert overall["error_rate"] == pytest.approx(0.05)
    assert overall["p50_s"] == 0.001
    assert overall["p99_s"] == 0.98


def test_the_window_forgets_old_requests_and_keeps_a_bounded_number() -> None:
    ticks = Ticks()
    window = RequestWindow(300, max_per_route=50, monotonic=ticks)
    for _ in range(80):
        window.observe("/slow", 503, 2.0)
    assert window.summary()["routes"]["/slow"]["count"] == 50
    ticks.now += 301
    window.observe("/fast", 200, 0.01)
    summary = window.summary()
    assert list(summary["routes"]) == ["/fast"]
    assert summary["overall"]["count"] == 1
    assert summary["overall"]["error_rate"] == 0.0


async def test_event_loop_lag_is_measured_when_the_loop_is_blocked(
    database: Database, clock: FakeClock
) -> None:
    monitor = PerformanceMonitor(database, clock, "api", lag_interval_s=0.02)

    async def blocking() -> None:
        time.sleep(0.3)  # noqa: ASYNC251 - the point: a coroutine that blocks the loop

    async with monitor.running():
        await asyncio.sleep(0.1)
        assert (monitor.report()["event_loop"]["lag_max_s"] or 0) < 0.2
        await blocking()
        await asyncio.sleep(0.1)
        loop = monitor.report()["event_loop"]
    assert loop["lag_max_s"] >= 0.2
    assert loop["lag_s"] is not None


async def test_the_report_is_published_and_read_back(database: Database, clock: FakeClock) -> None:
    monitor = PerformanceMonitor(database, clock, "worker", process_key="host:1:1")
    monitor.observe_request("/api/v1/orders", 200, 0.2)
    await monitor.publish()
    clock.advance(15)
    monitor.observe_request("/api/v1/orders", 500, 0.4)
    await monitor.publish()
    async with database.transaction(write=False) as session:
        [row] = await repository.reports_updated_since(session, clock.now())
    assert (row.process_key, row.role, row.updated_at) == ("host:1:1", "worker", clock.now())
    assert row.report["http"]["overall"]["count"] == 2
    assert row.report["http"]["overall"]["errors"] == 1
    assert row.report["process"]["rss_bytes"] > 0
    clock.advance(86400 + 1)
    await PerformanceMonitor(database, clock, "api", process_key="host:2:2").publish()
    async with database.transaction(write=False) as session:
        rows = await repository.reports_updated_since(session, clock.now() - timedelta(days=2))
    assert [r.process_key for r in rows] == ["host:2:2"]  # a day gone: deleted


async def test_the_endpoint_is_for_platform_admins(
    database: Database, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    tenant = await make_tenant(database)
    other = PerformanceMonitor(database, clock, "worker", process_key="elsewhere:7:1")
    await other.publish()
    response = await client.get(
        "/api/v1/system/performance", headers=await sign_in(client, tenant.admin)
    )
    assert response.status_code == 403
    admin = await make_operator(database, Role.PLATFORM_ADMIN)
    headers = await sign_in(client, admin)
    response = await client.get("/api/v1/system/performance", headers=headers)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["process"]["role"] == "api"
    # The refused call went through this process's window (this one has not finished yet).
    assert data["process"]["http"]["routes"]["/api/v1/system/performance"]["count"] == 1
    assert [p["process_key"] for p in data["processes"]] == ["elsewhere:7:1"]
    assert data["processes"][0]["report"]["role"] == "worker"


# --- the rules -----------------------------------------------------------------------------------

# rule -> (a report's figures over its threshold, under it)
OVER: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "api_latency_p95": ({"count": 60, "p95_s": 1.5}, {"count": 60, "p95_s": 0.2}),
    "api_error_rate": ({"count": 60, "error_rate": 0.1}, {"count": 60, "error_rate": 0.01}),
    "process_cpu": ({"cpu_percent": 97.0}, {"cpu_percent": 20.0}),
    "process_memory": ({"rss_bytes": 2_000_000_000}, {"rss_bytes": 300_000_000}),
    "event_loop_lag": ({"lag_max_s": 0.8}, {"lag_max_s": 0.01}),
}
KEY = "api-1:4242:1767225600"


def _report(figures: dict[str, Any]) -> dict[str, Any]:
    count = figures.get("count", 0)
    return {
        "process_key": KEY,
        "role": "api",
        "http": {
            "overall": {
                "count": count,
                "errors": 0,
                "error_rate": figures.get("error_rate", 0.0),
                "p50_s": 0.05 if count else None,
                "p95_s": figures.get("p95_s", 0.1) if count else None,
                "p99_s": 0.3 if count else None,
            },
            "routes": {},
        },
        "process": {
            "cpu_percent": figures.get("cpu_percent", 5.0),
            "rss_bytes": figures.get("rss_bytes", 200_000_000),
        },
        "event_loop": {"lag_s": 0.001, "lag_max_s": figures.get("lag_max_s", 0.002)},
        "db_pool": None,
    }


async def _write(database: Database, clock: FakeClock, figures: dict[str, Any]) -> None:
    async with database.transaction() as session:
        row = await session.scalar(select(ProcessReport).where(ProcessReport.process_key == KEY))
        if row is None:
            row = ProcessReport(process_key=KEY, role="api", started_at=clock.now())
            session.add(row)
        row.updated_at = clock.now()
        row.report = _report(figures)


async def _platform_alerts(database: Database) -> list[AdminNotification]:
    async with database.transaction(write=False) as session:
        organization = await session.scalar(
            select(Organization).where(Organization.slug == PLATFORM_SLUG)
        )
        if organization is None:
            return []
        return list(
            (
                await session.scalars(
                    select(AdminNotification).where(
                        AdminNotification.organization_id == organization.id
                    )
                )
            ).all()
        )


@pytest.mark.parametrize("ending", ["figure_drops", "report_goes_stale"])
@pytest.mark.parametrize("rule", list(OVER))
async def test_a_process_rule_goes_pending_fires_and_resolves(
    database: Database, clock: FakeClock, rule: str, ending: str
) -> None:
    over, under = OVER[rule]
    await _write(database, clock, under)
    await evaluate_rules(database, clock=clock)
    assert await _platform_alerts(database) == []  # quiet: no platform organization even

    await _write(database, clock, over)
    await evaluate_rules(database, clock=clock)
    [alert] = await _platform_alerts(database)
    assert (alert.kind, alert.state, alert.store_id) == (rule, "pending", None)
    assert alert.dedup_key == f"{rule}:{KEY}"
    assert alert.details["process_key"] == KEY

    clock.advance(RULES[rule].defaults.for_s)
    await _write(database, clock, over)
    await evaluate_rules(database, clock=clock)
    await run_notify(database, clock)
    [alert] = await _platform_alerts(database)
    assert alert.state == "firing"

    clock.advance(30)
    if ending == "figure_drops":
        await _write(database, clock, under)
        why = "back under the threshold"
    else:
        clock.advance(31)  # the last report is now over 60 s old
        why = "process gone: it has not reported for 60 s"
    await evaluate_rules(database, clock=clock)
    [alert] = await _platform_alerts(database)
    assert alert.state == "resolved"
    assert alert.details["resolution"] == why


async def test_request_rules_need_enough_requests(database: Database, clock: FakeClock) -> None:
    await _write(database, clock, {"count": 49, "p95_s": 5.0, "error_rate": 0.5})
    await evaluate_rules(database, clock=clock)
    assert await _platform_alerts(database) == []
    await _write(database, clock, {"count": 50, "p95_s": 5.0, "error_rate": 0.5})
    await evaluate_rules(database, clock=clock)
    assert sorted(a.kind for a in await _platform_alerts(database)) == [
        "api_error_rate",
        "api_latency_p95",
    ]
