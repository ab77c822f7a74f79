"""The public status page (`/status`): server-rendered HTML, refreshed live by a small script."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["status page"], include_in_schema=False)
