"""Faults injected per store and endpoint class, on demand, through `POST /_sim/stores/{id}/faults`.

A request draws its faults in two phases. Before the handler runs: every matching `latency`
fault adds its delay, then at most one of timeout, reset, status, rate_limit, unauthorized or
forbidden (oldest first) replaces the answer. After the handler: at most one of malformed_json,
bad_records, short_page, duplicate_page (list responses only) or drop_response_after_accept. A
fault with `count` is used up after that many requests it applied to; `probability` draws from
the store's seeded generator, so a run with the same seed and requests fails the same way.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from ridgeline.possim.model import iso_ms


class EndpointClass(StrEnum):
    """Classes of dialect endpoints (docs/pos/README.md), used by rate limits, faults and logs."""

    AUTH = "auth"
    PRODUCTS = "products"
    PRODUCTS_CHANGED = "products_changed"
    INVENTORY = "inventory"
    ORDER_SUBMIT = "order_submit"
    ORDER_LOOKUP = "order_lookup"
    ORDER_STATUS = "order_status"
    ORDER_CANCEL = "order_cancel"
    # Not in the adapter interface: BLAZE's /webHooks registration.
    WEBHOOKS = "webhooks"


ANY_ENDPOINT = "*"


class FaultKind(StrEnum):
    LATENCY = "latency"
    TIMEOUT = "timeout"
    RESET = "reset"
    STATUS = "status"
    RATE_LIMIT = "rate_limit"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    MALFORMED_JSON = "malformed_json"
    BAD_RECORDS = "bad_records"
    SHORT_PAGE = "short_page"
    DUPLICATE_PAGE = "duplicate_page"
    DROP_RESPONSE_AFTER_ACCEPT = "drop_response_after_accept"


PRE_HANDLER_KINDS = frozenset(
    {
        FaultKind.TIMEOUT,
        FaultKind.RESET,
        FaultKind.STATUS,
        FaultKind.RATE_LIMIT,
        FaultKind.UNAUTHORIZED,
        FaultKind.FORBIDDEN,
    }
)
LIST_KINDS = frozenset({FaultKind.BAD_RECORDS, FaultKind.SHORT_PAGE, FaultKind.DUPLICATE_PAGE})
DEFAULT_LATENCY_MS = 1000
DEFAULT_TIMEOUT_HOLD_MS = 60_000


@dataclass
class Fault:
    id: str
    endpoint: str
    kind: FaultKind
    latency_ms: int | None
    status: int | None
    retry_after_s: float | None
    count: int | None
    probability: float
    created_at: datetime
    hits: int = 0

    @property
    def active(self) -> bool:
        return self.count is None or self.hits < self.count

    @property
    def delay_s(self) -> float:
        default = DEFAULT_TIMEOUT_HOLD_MS if self.kind is FaultKind.TIMEOUT else DEFAULT_LATENCY_MS
        return (self.latency_ms if self.latency_ms is not None else default) / 1000

    def matches(self, classes: Iterable[str]) -> bool:
        return self.active and (self.endpoint == ANY_ENDPOINT or self.endpoint in classes)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "kind": self.kind.value,
            "latency_ms": self.latency_ms,
            "status": self.status,
            "retry_after_s": self.retry_after_s,
            "count": self.count,
            "probability": self.probability,
            "hits": self.hits,
            "remaining": None if self.count is None else max(0, self.count - self.hits),
            "active": self.active,
            "created_at": iso_ms(self.created_at),
        }


class FaultBook:
    """One store's faults, in the order they were added."""

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(f"possim-faults:{seed}")  # noqa: S311 - reproducible fault draws
        self._faults: dict[str, Fault] = {}
        self._next_id = 1

    @property
    def rng(self) -> random.Random:
        return self._rng

    def add(
        self,
        *,
        endpoint: str,
        kind: FaultKind,
        created_at: datetime,
        latency_ms: int | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
        count: int | None = None,
        probability: float = 1.0,
    ) -> Fault:
        fault = Fault(
            id=f"f{self._next_id}",
            endpoint=endpoint,
            kind=kind,
            latency_ms=latency_ms,
            status=status,
            retry_after_s=retry_after_s,
            count=count,
            probability=probability,
            created_at=created_at,
        )
        self._next_id += 1
        self._faults[fault.id] = fault
        return fault

    def in_order(self) -> list[Fault]:
        return list(self._faults.values())

    def get(self, fault_id: str) -> Fault | None:
        return self._faults.get(fault_id)

    def remove(self, fault_id: str) -> bool:
        return self._faults.pop(fault_id, None) is not None

    def clear(self) -> None:
        self._faults.clear()

    def _fires(self, fault: Fault) -> bool:
        if fault.probability < 1.0 and self._rng.random() >= fault.probability:
            return False
        fault.hits += 1
        return True

    def latencies(self, classes: frozenset[str]) -> list[Fault]:
        return [
            f
            for f in self.in_order()
            if f.kind is FaultKind.LATENCY and f.matches(classes) and self._fires(f)
        ]

    def before_handler(self, classes: frozenset[str]) -> Fault | None:
        return self._first(classes, lambda kind: kind in PRE_HANDLER_KINDS)

    def after_handler(self, classes: frozenset[str], *, has_records: bool) -> Fault | None:
        def eligible(kind: FaultKind) -> bool:
            if kind in LIST_KINDS:
                return has_records
            return kind in (FaultKind.MALFORMED_JSON, FaultKind.DROP_RESPONSE_AFTER_ACCEPT)

        return self._first(classes, eligible)

    def _first(
        self, classes: frozenset[str], eligible: Callable[[FaultKind], bool]
    ) -> Fault | None:
        for fault in self.in_order():
            if eligible(fault.kind) and fault.matches(classes) and self._fires(fault):
                return fault
        return None


FieldPath = tuple[str, ...]


@dataclass
class RecordList:
    """The records of a list response, kept apart from their envelope until faults have run."""

    records: list[dict[str, Any]]
    wrap: Callable[[list[dict[str, Any]]], Any]
    id_path: FieldPath
    name_path: FieldPath
    price_path: FieldPath | None = None
    # The page before this one, for `duplicate_page` on paged lists (None: first page or one-shot).
    previous_page: Callable[[], list[dict[str, Any]]] | None = None
    paged: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self) -> Any:
        return self.wrap(self.records)


def _parent(record: dict[str, Any], path: FieldPath) -> dict[str, Any] | None:
    node: Any = record
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def break_records(listing: RecordList, rng: random.Random) -> None:
    """Make about one record in ten violate the schema: a missing id, a negative price, a name of
    the wrong type, or an id of the wrong type."""
    records = listing.records
    if not records:
        return
    chosen = sorted(rng.sample(range(len(records)), k=max(1, len(records) // 10)))
    for n, index in enumerate(chosen):
        record = copy.deepcopy(records[index])
        breakage = n % 4
        if breakage == 1 and listing.price_path is not None:
            parent = _parent(record, listing.price_path)
            if parent is not None:
                parent[listing.price_path[-1]] = -abs(parent.get(listing.price_path[-1]) or 1)
        elif breakage == 2:
            parent = _parent(record, listing.name_path)
            if parent is not None:
                parent[listing.name_path[-1]] = 12345
        elif breakage == 3:
            parent = _parent(record, listing.id_path)
            if parent is not None:
                parent[listing.id_path[-1]] = {"unexpected": True}
        else:
            parent = _parent(record, listing.id_path)
            if parent is not None:
                parent.pop(listing.id_path[-1], None)
        records[index] = record


def shorten_page(listing: RecordList) -> None:
    """Serve half the records (none of one)."""
    del listing.records[len(listing.records) // 2 :]


def duplicate_page(listing: RecordList) -> None:
    """Serve the previous page again; on a first page, the first half twice; on a one-shot list,
    the first half of the records appended a second time."""
    records = listing.records
    previous = listing.previous_page() if listing.previous_page else []
    if previous:
        records[:] = previous
    elif listing.paged:
        half = records[: (len(records) + 1) // 2]
        records[:] = (half + half)[: len(records)]
    else:
        records.extend(copy.deepcopy(records[: max(1, len(records) // 2)]))
