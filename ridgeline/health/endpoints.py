"""Process liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from ridgeline import __version__
from ridgeline.api.dependencies import DatabaseDep
from ridgeline.api.schemas import Envelope, envelope
from ridgeline.auth.dependencies import PUBLIC
from ridgeline.db.migrate import current_revision, head_revision
from ridgeline.errors import NotReady
from ridgeline.health import repository

router = APIRouter()
log = structlog.get_logger(__name__)


@router.get("/healthz", tags=["health"], openapi_extra=PUBLIC)
async def healthz() -> Envelope[dict[str, str]]:
    """The process is alive (says nothing about its dependencies)."""
    return envelope({"state": "alive", "version": __version__})


@router.get("/readyz", tags=["health"], openapi_extra=PUBLIC)
async def readyz(database: DatabaseDep) -> Envelope[dict[str, Any]]:
    """Ready for traffic: the database answers and its schema is at the latest migration.
    Answers 503 `NOT_READY` with the failing check otherwise."""
    head = head_revision()
    try:
        async with database.engine.connect() as connection:
            await repository.ping(connection)
            current = await current_revision(connection)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("readiness_check_failed", check="database", error=type(exc).__name__)
        raise NotReady(
            "The database is unreachable.",
            details={"database": "unreachable", "error": type(exc).__name__},
        ) from exc
    if current != head:
        raise NotReady(
            "Database migrations are behind; run `ridgeline migrate`.",
            details={"database": "ok", "migrations": {"current": current, "head": head}},
        )
    return envelope(
        {"state": "ready", "database": "ok", "migrations": {"current": current, "head": head}}
    )


@router.get("/metrics", tags=["health"], openapi_extra=PUBLIC, response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
