"""What a worker knows how to run: a handler per job kind, and what a handler is given.

A domain registers its handlers on a `JobRegistry` (its own, merged by `ridgeline.tasks` with
`include`). A handler is `async def handler(ctx, payload) -> None`, registered with the pydantic
model of its payload: the registry parses the stored payload into it before the handler runs, and
a payload that does not fit makes the job dead at once with `bad <kind> payload: ...`, the same
for every kind. A handler registered without a model gets the payload as a dict.

- returning normally marks the job succeeded;
- raising `RetryLater(delay_s)` runs it again after the delay without using up an attempt (for
  "not now" answers such as an open circuit breaker or a POS rate limit);
- raising `PermanentFailure` makes it dead at once (a payload that can never work);
- raising anything else is a failure: it is retried with backoff until `max_attempts`.

Handlers run at least once and may run again after a crash or a lost lease, so they must be
idempotent. They get no session: they open their own transactions on `ctx.database`, committed
before the job is marked done (see `Worker`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ridgeline.clock import Clock
from ridgeline.db.engine import Database

T = TypeVar("T")


class RetryLater(Exception):
    """Raised by a handler: run this job again in `delay_s` seconds.

    The attempt is given back, so a job can be deferred any number of times; a handler that may
    defer forever should bound it itself (for example against `ctx.enqueued_at`).
    """

    def __init__(self, delay_s: float, reason: str = "") -> None:
        if delay_s < 0:
            raise ValueError(f"delay_s must be >= 0, got {delay_s}")
        self.delay_s = delay_s
        self.reason = reason
        super().__init__(reason or f"retry in {delay_s} s")

    def __repr__(self) -> str:
        return f"RetryLater(delay_s={self.delay_s!r}, reason={self.reason!r})"


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help; the job goes dead with this message."""


class HandlerTimedOut(Exception):
    """A handler ran past the timeout its kind was registered with; counted as a failure."""

    def __init__(self, kind: str, timeout_s: float) -> None:
        self.kind = kind
        self.timeout_s = timeout_s
        super().__init__(f"handler for {kind!r} timed out after {timeout_s} s")


class ServiceKey(Generic[T]):
    """A typed name for something handlers need, e.g. `ServiceKey[PosAdapters]("pos_adapters")`.

    Keys are compared by identity: a domain defines its key once, next to the type it names.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ServiceKey({self.name!r})"


class MissingService(LookupError):
    def __init__(self, key: ServiceKey[Any]) -> None:
        self.key = key
        super().__init__(f"no service provided for {key!r}; wire it where the worker is built")


class JobServices:
    """The long-lived objects handlers share (adapters, HTTP clients, settings), by typed key.

    Built once where the worker is built, so handlers never construct clients or read settings
    themselves.
    """

    def __init__(self) -> None:
        self._values: dict[ServiceKey[Any], object] = {}

    def provide(self, key: ServiceKey[T], value: T) -> None:
        if key in self._values:
            raise ValueError(f"{key!r} is already provided")
        self._values[key] = value

    def get(self, key: ServiceKey[T]) -> T:
        try:
            value = self._values[key]
        except KeyError:
            raise MissingService(key) from None
        return value  # type: ignore[return-value]  # provide() only stores a T under a key of T

    def __contains__(self, key: object) -> bool:
        return key in self._values


@dataclass(frozen=True, slots=True)
class JobContext:
    """Everything a handler may use besides its payload."""

    job_id: uuid.UUID
    kind: str
    attempt: int  # 1 on the first run; a lease lost to a crash counts as an attempt
    max_attempts: int
    enqueued_at: datetime
    worker_id: str
    database: Database
    clock: Clock
    services: JobServices

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


class JobPayload(BaseModel):
    """Base of every job payload model: a key the handler does not know is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoPayload(JobPayload):
    """The payload of a job that needs none (the periodic ones)."""


# The payload is the registered model, or a dict for a handler registered without one.
JobHandler = Callable[[JobContext, Any], Awaitable[None]]
H = TypeVar("H", bound=JobHandler)


@dataclass(frozen=True, slots=True)
class RegisteredHandler:
    kind: str
    handler: JobHandler
    # Wall time one run may take before it is cancelled and counted as a failure. Without it a
    # hung handler keeps its lease alive (the heartbeat goes on) and holds a worker slot forever.
    timeout_s: float | None = None
    payload_model: type[BaseModel] | None = None

    def parse(self, payload: Mapping[str, Any]) -> Any:
        """The stored payload as the handler takes it; `PermanentFailure` when it cannot be."""
        if self.payload_model is None:
            return dict(payload)
        try:
            return self.payload_model.model_validate(payload)
        except ValidationError as exc:
            raise PermanentFailure(f"bad {self.kind} payload: {exc}") from None


class JobRegistry:
    def __init__(self) -> None:
        self._handlers: dict[str, RegisteredHandler] = {}

    def register(
        self,
        kind: str,
        handler: JobHandler,
        *,
        timeout_s: float | None = None,
        payload: type[BaseModel] | None = None,
    ) -> None:
        if kind in self._handlers:
            raise ValueError(f"a handler for job kind {kind!r} is already registered")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self._handlers[kind] = RegisteredHandler(kind, handler, timeout_s, payload)

    def handler(
        self,
        kind: str,
        *,
        timeout_s: float | None = None,
        payload: type[BaseModel] | None = None,
    ) -> Callable[[H], H]:
        """Decorator form of `register`."""

        def decorate(handler: H) -> H:
            self.register(kind, handler, timeout_s=timeout_s, payload=payload)
            return handler

        return decorate

    def include(self, other: JobRegistry) -> None:
        """Adds every handler of another registry (a domain's own) to this one."""
        for registered in other._handlers.values():
            self.register(
                registered.kind,
                registered.handler,
                timeout_s=registered.timeout_s,
                payload=registered.payload_model,
            )

    def get(self, kind: str) -> RegisteredHandler | None:
        return self._handlers.get(kind)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._handlers

    def __repr__(self) -> str:
        return f"JobRegistry(kinds={sorted(self._handlers)!r})"
