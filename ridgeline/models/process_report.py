from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ridgeline.db.base import Base, IdMixin


class ProcessReport(IdMixin, Base):
    """The latest performance figures of one Ridgeline process (an API server, a worker, or one
    running both), written every `PUBLISH_EVERY_S` by its `PerformanceMonitor`.

    A system table, not a tenant's: the platform alert rules read every live process's row
    (`updated_at` recent) and judge its figures; rows of processes gone for a day are deleted.
    """

    __tablename__ = "process_reports"

    # "{hostname}:{pid}:{start timestamp}": one row per process run, never reused.
    process_key: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # api, worker, embedded
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(index=True)
    report: Mapped[dict[str, Any]]  # PerformanceMonitor.report()
