"""Statuspage's public API (`/api/v2/*.json`) and the incident feed: the status page's data in
the exact shapes that monitoring bots, chat integrations and status aggregators already read."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["status"])
