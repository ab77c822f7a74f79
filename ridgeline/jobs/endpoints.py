"""Support's view of background work: the queue's health, dead jobs and their errors, retry.

Jobs span every tenant, so these endpoints are for platform admins.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from ridgeline.api.dependencies import AuditDep, ClockDep, SessionDep
from ridgeline.api.pagination import PageRequest, page_of
from ridgeline.api.schemas import Envelope, Page, envelope
from ridgeline.auth.dependencies import PlatformAdminDep
from ridgeline.jobs import service
from ridgeline.jobs.schemas import JobOut, JobQueueSummary
from ridgeline.models.job import JobStatus

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs")
async def list_jobs(
    caller: PlatformAdminDep,
    session: SessionDep,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIST_LIMIT)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`meta.next_cursor` of the previous page.")
    ] = None,
) -> Page[JobOut]:
    """The most recent jobs, newest first; `?status=dead` lists what needs attention."""
    page = PageRequest(limit=limit, cursor=cursor)
    return page_of(await service.list_jobs(session, page, status=status, kind=kind), JobOut)


@router.get("/jobs/summary")
async def job_summary(
    caller: PlatformAdminDep, session: SessionDep, clock: ClockDep
) -> Envelope[JobQueueSummary]:
    """How many jobs are in each status and of each kind, and how many are due unstarted."""
    return envelope(await service.queue_summary(session, clock.now()))


@router.get("/jobs/{job_id}")
async def get_job(
    job_id: uuid.UUID, caller: PlatformAdminDep, session: SessionDep
) -> Envelope[JobOut]:
    return envelope(JobOut.model_validate(await service.get_job(session, job_id)))


@router.post("/jobs/{job_id}/retry")
async def retry_job(
    job_id: uuid.UUID,
    caller: PlatformAdminDep,
    session: SessionDep,
    clock: ClockDep,
    audit: AuditDep,
) -> Envelope[JobOut]:
    """Queue a dead job again now, with all its attempts back (409 `CONFLICT` if not dead)."""
    before = JobOut.model_validate(await service.get_job(session, job_id))
    after = JobOut.model_validate(await service.retry_dead(session, job_id, clock=clock))
    # A job belongs to the platform, not to a tenant: the event has no organization.
    await audit.record(caller, "job.retry", target=job_id, before=before, after=after)
    return envelope(after)
