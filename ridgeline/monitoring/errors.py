"""Unexpected exceptions in the logs: one error line with the error, a short backtrace and the
context of the request, job or `/cable` connection it happened in.

Every path that catches an exception it did not expect (a request's 500, a job handler's crash,
a `/cable` command, a background loop) calls `log_unexpected` once. The line's shape comes from
`describe_exception`, a processor of the chain `configure_logging` builds, so a plain
`log.exception(...)` (ours or a library's) gets the same fields; the context comes from the
ids bound with `structlog.contextvars` by the request middleware, the worker and the `/cable`
session, plus what the caller passes.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from structlog.typing import EventDict, WrappedLogger

# As in the guide's `error.backtrace&.first(5)`: enough to see where and through what.
BACKTRACE_FRAMES = 5
# A message can embed a whole SQL statement or a response body: the headline is enough here.
MESSAGE_MAX_CHARS = 500

_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
_PACKAGE_ROOT = _PROJECT_ROOT / "ridgeline"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class ErrorLogger(Protocol):
    def error(self, event: str, *args: Any, **kw: Any) -> Any: ...


def log_unexpected(
    logger: ErrorLogger, event: str, error: BaseException, /, **context: Any
) -> None:
    """Logs `error` once, at error level, as `event` on `logger` (the caller's module logger):
    `error`, `error_type`, `backtrace` and, when chained, `cause`; `context` adds to the ids
    already bound (request_id, job_id, store_id, connection_id...). Secrets in any of it are
    masked by the chain's `redact_secrets`. Call it where the exception is handled for good,
    never also re-raise it to a layer that logs it again."""
    logger.error(event, exc_info=error, **context)


def headline(error: BaseException) -> str:
    """`Type: message`, the message cut to `MESSAGE_MAX_CHARS`."""
    message = str(error)
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[:MESSAGE_MAX_CHARS] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def backtrace(tb: TracebackType | None) -> list[str]:
    """Up to `BACKTRACE_FRAMES` frames as `path:line in function`, innermost first (the raise
    site leads, as in a Ruby backtrace).

    The innermost frames alone are often all library code (a driver error is five frames deep
    in SQLAlchemy), which says nothing about which of our calls failed. So the list is the
    raise site, then the innermost frames of our own package: the code that led there. A
    traceback with none of ours (uvicorn's own) falls back to its innermost frames."""
    frames = list(reversed(traceback.extract_tb(tb)))
    if not frames:
        return []
    ours = [f for f in frames[1:] if _is_ours(f.filename)]
    chosen = [frames[0], *ours] if ours or _is_ours(frames[0].filename) else frames
    return [f"{_short_path(f.filename)}:{f.lineno} in {f.name}" for f in chosen[:BACKTRACE_FRAMES]]


def describe_exception(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: turns `exc_info` into `error`, `error_type`, `backtrace` and `cause`, instead
    of the whole traceback: one short line per error, where nothing but the message (which
    `redact_secrets` masks) can carry data. A caller's own `error` field is kept."""
    exc_info = _exc_info(event_dict.pop("exc_info", None))
    if exc_info is None:
        return event_dict
    error_class, error, tb = exc_info
    event_dict.setdefault("error", headline(error))
    event_dict["error_type"] = _qualified_name(error_class)
    event_dict["backtrace"] = backtrace(tb)
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None:
        event_dict["cause"] = headline(cause)
    return event_dict


def _exc_info(value: object) -> ExcInfo | None:
    # The forms `exc_info` takes: True (inside `except`), an exception, or sys.exc_info()'s tuple.
    if value is True:
        value = sys.exc_info()
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return type(value[1]), value[1], value[2]
    return None


def _qualified_name(error_class: type[BaseException]) -> str:
    module = error_class.__module__
    if module == "builtins":
        return error_class.__qualname__
    return f"{module}.{error_class.__qualname__}"


def _is_ours(filename: str) -> bool:
    return Path(filename).is_relative_to(_PACKAGE_ROOT)


def _short_path(filename: str) -> str:
    """The path from its import root (`ridgeline/jobs/worker.py`, `sqlalchemy/engine/base.py`):
    where to look, without the machine's directories."""
    path = Path(filename)
    roots = [_PROJECT_ROOT, *(Path(entry) for entry in sys.path if entry)]
    for root in sorted(roots, key=lambda r: len(r.parts), reverse=True):
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.name
