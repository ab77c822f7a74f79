"""The readiness probe's query (the schema revision is read by `db.migrate.current_revision`)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def ping(connection: AsyncConnection) -> None:
    """One round trip: raises what the driver raises when the database does not answer."""
    await connection.execute(text("SELECT 1"))
