"""Queries of the real-time domain besides the stream store (`streams.py`): what connections
write to kiosk rows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.models.kiosk import Kiosk


async def record_kiosks_seen(
    session: AsyncSession, changes: Mapping[uuid.UUID, Mapping[str, Any]]
) -> None:
    """Writes each kiosk's changed columns (kiosk id: column name to value). Kiosks that change
    the same columns share one statement run for all their rows at once (executemany): a
    statement per kiosk held SQLite's write lock for seconds after thousands of kiosks
    connected."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for kiosk_id, values in changes.items():
        row = {f"b_{column}": value for column, value in values.items()}
        groups[tuple(values)].append({"b_kiosk": kiosk_id, **row})
    connection = await session.connection()
    for columns, rows in groups.items():
        statement = (
            update(Kiosk)
            .where(Kiosk.id == bindparam("b_kiosk"))
            .values({column: bindparam(f"b_{column}") for column in columns})
        )
        await connection.execute(statement, rows)
