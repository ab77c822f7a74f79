"""Structured logging: structlog for our events, the standard library's loggers routed through it.

Every line is one JSON object (or a readable console line on a TTY) carrying the ids bound with
`structlog.contextvars` where it was logged: the request id (`RequestContextMiddleware`), the job
(the worker), the `/cable` connection. An exception is logged as a short backtrace
(`monitoring/errors.py`), and `redact_secrets` masks secrets in every line, ours or a library's.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from ridgeline.config import LogFormat, Settings
from ridgeline.monitoring.errors import describe_exception


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
            # An exception becomes a short backtrace, not the whole traceback (see errors.py),
            # in both formats: a console renderer's traceback would print unmasked messages.
            describe_exception,
            redact_secrets,
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


REDACTED = "[redacted]"

# Names whose values are secrets, as a field of a log line or `name=value` inside a text.
_MASKED_NAMES = (
    r"[\w.-]*?(?:password|passwd|passphrase|secret|token|api[_-]?key|authorization"
    r"|credentials?|cookie|private[_-]?key|signature)[\w.-]*|sid"
)
_MASKED_FIELD = re.compile(rf"(?:{_MASKED_NAMES})", re.IGNORECASE)
# In text, a secret appears as `name=value` (a query string), `name: value` (a header), or a
# quoted mapping entry (`"password": "..."`, a dict's repr in an error message).
_TEXT_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
        REDACTED,
    ),
    (re.compile(r"\b((?i:bearer)|Basic)\s+[A-Za-z0-9._~+/-]+=*"), rf"\1 {REDACTED}"),
    # `scheme://user:password@host`: a database or broker URL in a connection error.
    (re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    (
        re.compile(
            rf"\b({_MASKED_NAMES})\b([\"']?\s*[:=]\s*)"
            # Not again over what is masked already (`Authorization: Bearer [redacted]`).
            r"(?:\"[^\"]*\"|'[^']*'|(?!\[redacted\]|\w+ \[redacted\])[^\s&\"',;)}\]]+)",
            re.IGNORECASE,
        ),
        rf"\1\2{REDACTED}",
    ),
    # SQLAlchemy puts a failed statement's bound values in its message: any of them may be a
    # secret (a key hash, encrypted credentials). Up to the line's end, as the message is cut.
    (re.compile(r"\[parameters: [^\n]*"), f"[parameters: {REDACTED}]"),
)


def redact_text(text: str) -> str:
    """`text` with every secret pattern masked (see `_TEXT_SECRETS`)."""
    for pattern, replacement in _TEXT_SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: object) -> object:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {key: _redact_field(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def _redact_field(name: str, value: object) -> object:
    # A flag or an absent value says nothing secret (`token_valid=False`); keep it readable.
    if _MASKED_FIELD.fullmatch(name) and value is not None and not isinstance(value, bool):
        return REDACTED
    return _redact(value)


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor, last before rendering, for our lines and every library's: the value of any
    field named like a secret (password, token, api_key, authorization, cookie...), at any
    depth, and secrets inside any text (`?api_key=...`, `Bearer ...`, `user:pass@` in a URL,
    a private key block, SQL parameters) become `[redacted]`."""
    return {key: _redact_field(key, value) for key, value in event_dict.items()}


class RedactQuerySecrets(logging.Filter):
    """uvicorn logs each WebSocket handshake with its path and query string, where a `/cable`
    client may carry its key (`?token=`) or session id (`?sid=`): they are masked, here as well
    as by `redact_secrets`, for a server whose records reach another handler first."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_text(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg)
        return True


def redact_server_logs() -> None:
    """Installs the filter on uvicorn's loggers (once)."""
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQuerySecrets) for f in logger.filters):
            logger.addFilter(RedactQuerySecrets())
