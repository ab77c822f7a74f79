from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, JSONDocument, StrEnumType, store_column


class CircuitState(StrEnum):
    CLOSED = "closed"  # calls pass; outcomes fill the sliding window
    OPEN = "open"  # calls fail fast until `open_until`
    HALF_OPEN = "half_open"  # a few probe calls pass; their outcomes decide
    FORCED_OPEN = "forced_open"  # an operator stopped all calls; only an operator ends it
    DISABLED = "disabled"  # an operator let all calls pass, unrecorded; only an operator ends it


class CircuitBreakerState(Base):
    """One store's circuit breaker, shared by every process through this row.

    Each decision (admit a call, record an outcome, an operator command) runs in a short write
    transaction holding the row lock, so processes never disagree about it. `generation` grows
    by one on every transition; a permit remembers the generation it was issued in, and an
    outcome reported after the breaker moved on is discarded.
    """

    __tablename__ = "circuit_breakers"

    store_id: Mapped[uuid.UUID] = store_column(primary_key=True)
    state: Mapped[CircuitState] = mapped_column(
        StrEnumType(CircuitState, 16), default=CircuitState.CLOSED
    )
    generation: Mapped[int] = mapped_column(default=0)
    # The last N outcomes in CLOSED, oldest first: bit 1 = failed, bit 2 = slow.
    window: Mapped[list[int]] = mapped_column(JSONDocument, default=list)
    state_changed_at: Mapped[datetime]
    last_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    last_actor: Mapped[str | None] = mapped_column(String(200), default=None)
    opened_at: Mapped[datetime | None] = mapped_column(default=None)
    open_until: Mapped[datetime | None] = mapped_column(default=None)
    # The wait of the current (or next) OPEN period; it grows on each failed recovery.
    wait_ms: Mapped[int]
    half_open_started_at: Mapped[datetime | None] = mapped_column(default=None)
    probes_issued: Mapped[int] = mapped_column(default=0)
    probes_succeeded: Mapped[int] = mapped_column(default=0)
    probes_failed: Mapped[int] = mapped_column(default=0, server_default="0")
    probes_slow: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
