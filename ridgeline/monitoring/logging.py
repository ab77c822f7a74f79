"""Structured logging: structlog for our events, the standard library's loggers routed through it.

Every line is one JSON object (or a readable console line on a TTY) carrying the request id of the
request it belongs to, bound in `RequestContextMiddleware`.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from ridgeline.config import LogFormat, Settings


def _renderer(log_format: LogFormat) -> Any:
    use_console = log_format is LogFormat.CONSOLE or (
        log_format is LogFormat.AUTO and sys.stderr.isatty()
    )
    if use_console:
        return structlog.dev.ConsoleRenderer()
    return structlog.processors.JSONRenderer()


def configure_logging(settings: Settings) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _renderer(settings.log_format),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log duplicates our `http_request_finished` line.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request's full URL at INFO: POS calls are logged as `pos_call_*` already,
    # and a URL can carry a secret (a webhook token, when the simulator pushes in-process).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    redact_server_logs()


_QUERY_SECRET = re.compile(r"((?:^|[?&])(?:token|sid)=)[^&\s\"']+")


class RedactQuerySecrets(logging.Filter):
    """uvicorn logs each WebSocket handshake with its path and query string, where a `/cable`
    client may carry its key (`?token=`) or session id (`?sid=`): they are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _QUERY_SECRET.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str):
            record.msg = _QUERY_SECRET.sub(r"\1[redacted]", record.msg)
        return True


def redact_server_logs() -> None:
    """Installs the filter on uvicorn's loggers (once)."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
            logger.addFilter(RedactQuerySecrets())
