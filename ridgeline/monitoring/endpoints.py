"""Support's view of Ridgeline's own performance: this process's figures and every live
process's latest published report (docs/operations.md#performance). Platform admins only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.requests import HTTPConnection
from pydantic import BaseModel, Field

from ridgeline.api.dependencies import ClockDep, SessionDep
from ridgeline.api.schemas import Envelope, envelope
from ridgeline.auth.dependencies import PlatformAdminDep
from ridgeline.monitoring.performance import MONITOR_STATE, PerformanceMonitor, live_reports

router = APIRouter(prefix="/api/v1", tags=["system"])


def get_monitor(connection: HTTPConnection) -> PerformanceMonitor | None:
    """The monitor of the process answering this request (None: RIDGELINE_PERFORMANCE_MONITOR
    is off here)."""
    monitor = getattr(connection.state, MONITOR_STATE, None)
    return monitor if isinstance(monitor, PerformanceMonitor) else None


MonitorDep = Annotated[PerformanceMonitor | None, Depends(get_monitor)]


class ProcessReportOut(BaseModel):
    process_key: str
    role: str
    started_at: datetime
    updated_at: datetime
    report: dict[str, Any]


class SystemPerformance(BaseModel):
    process: dict[str, Any] | None = Field(
        description="This process's report, as of now (null: its monitor is turned off)."
    )
    processes: list[ProcessReportOut] = Field(
        description="Every process's latest published report, written within the last 60 s."
    )


@router.get("/system/performance")
async def system_performance(
    caller: PlatformAdminDep, session: SessionDep, clock: ClockDep, monitor: MonitorDep
) -> Envelope[SystemPerformance]:
    """This process's figures (request latency and 5xx rate over the last 5 minutes, CPU,
    memory, event-loop lag, database pool) and every live process's latest report: what the
    `api_latency_p95`, `api_error_rate`, `process_cpu`, `process_memory` and `event_loop_lag`
    alert rules judge."""
    processes = await live_reports(session, now=clock.now())
    return envelope(
        SystemPerformance(
            process=monitor.report() if monitor is not None else None,
            processes=[ProcessReportOut.model_validate(row) for row in processes],
        )
    )
