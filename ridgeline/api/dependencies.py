"""FastAPI dependencies every domain's endpoints share: settings, database session, clock."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.api.middleware import RequestSession
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_session(request: Request) -> AsyncSession:
    """The request's session; `DatabaseSessionMiddleware` commits or rolls it back."""
    holder: RequestSession = request.state.db
    return holder.get()


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
