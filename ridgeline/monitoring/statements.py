"""Slow database statements: every statement that took `threshold_ms` or longer is logged as
`db_slow_statement` with its shape (the SQL as sent, whitespace collapsed, cut at
`SHAPE_MAX` characters: values travel as bound parameters, which are never logged) and counted
in `ridgeline_db_slow_statements_total{operation}`."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

SLOW_STATEMENTS = Counter(
    "ridgeline_db_slow_statements_total",
    "Database statements that took at least RIDGELINE_SLOW_STATEMENT_MS, by operation.",
    ["operation"],
)
SHAPE_MAX = 1000
_STARTED = "ridgeline_statement_started"
_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"})
_SPACE = re.compile(r"\s+")


def shape(statement: str) -> str:
    return _SPACE.sub(" ", statement).strip()[:SHAPE_MAX]


def operation(statement: str) -> str:
    """The statement's first keyword when it is a common one, else `OTHER` (bounded labels)."""
    first = statement.lstrip().split(" ", 1)[0].upper()
    return first if first in _OPERATIONS else "OTHER"


def watch_statements(engine: AsyncEngine, threshold_ms: float) -> None:
    """Times every statement `engine` runs; statements on one connection run one at a time, so
    the connection keeps the start of the current one."""
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _started(conn: Connection, *_: Any) -> None:
        conn.info[_STARTED] = time.perf_counter()

    @event.listens_for(sync_engine, "after_cursor_execute")
    def _finished(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        started = conn.info.pop(_STARTED, None)
        if started is None:
            return
        elapsed_ms = (time.perf_counter() - started) * 1000
        if elapsed_ms < threshold_ms:
            return
        kind = operation(statement)
        SLOW_STATEMENTS.labels(kind).inc()
        log.warning(
            "db_slow_statement",
            duration_ms=round(elapsed_ms, 1),
            operation=kind,
            statement=shape(statement),
            executemany=executemany,
        )
