"""What the adapters share about POS answers: status classification, shape checks, paging.

The transport has already turned 401/403, 429 and 5xx into `PosError`s; what reaches an adapter is
a 2xx, or a 4xx the POS chose (a refused order, an unknown id). These helpers turn the second
kind into `PosRejected` / `PosNotFound` with the POS's own message, and check that a 2xx body has
the shape the dialect promises (`PosProtocolError` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ridgeline.pos.adapters.mapping import optional_number
from ridgeline.pos.base import EndpointClass, PosResponse
from ridgeline.pos.canonical import dollars_to_cents
from ridgeline.pos.errors import (
    PosError,
    PosNotFound,
    PosProtocolError,
    PosRejected,
    RecordInvalid,
)

# 4xx answers that mean "understood, and refused": the caller must not send the same again.
_REFUSAL_STATUSES = frozenset({400, 402, 409, 410, 412, 422})


def succeeded(response: PosResponse) -> bool:
    return 200 <= response.status < 300


def vendor_message(response: PosResponse, keys: Sequence[str]) -> str:
    """The POS's explanation: the first of `keys` in a JSON object body, else a short excerpt."""
    try:
        body = response.json()
    except PosProtocolError:
        body = None
    if isinstance(body, Mapping):
        for key in keys:
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    text = response.body[:200].decode("utf-8", errors="replace").strip()
    return text or f"HTTP {response.status}"


def failure(response: PosResponse, endpoint: EndpointClass, message: str) -> PosError:
    """The error for a non-2xx answer the transport let through."""
    if response.status == 404:
        return PosNotFound(message, endpoint=endpoint, status=404)
    if response.status in _REFUSAL_STATUSES:
        return PosRejected(message, endpoint=endpoint, status=response.status)
    return PosProtocolError(
        f"unexpected HTTP {response.status}: {message}", endpoint=endpoint, status=response.status
    )


def expect_object(value: object, what: str, endpoint: EndpointClass) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PosProtocolError(f"{what} is not a JSON object", endpoint=endpoint)
    return value


def expect_records(value: object, what: str, endpoint: EndpointClass) -> list[Mapping[str, Any]]:
    """A JSON array of objects. A non-object element means the list itself is broken (not one
    bad record), so the whole answer is refused."""
    if not isinstance(value, list):
        raise PosProtocolError(f"{what} is not a JSON array", endpoint=endpoint)
    for item in value:
        if not isinstance(item, Mapping):
            raise PosProtocolError(f"{what} holds a {type(item).__name__}", endpoint=endpoint)
    return value


def expect_text_id(value: object, what: str, endpoint: EndpointClass) -> str:
    """An id in an answer (orders, carts, tickets), as a string."""
    if isinstance(value, bool) or value is None:
        raise PosProtocolError(f"{what} is missing", endpoint=endpoint)
    if isinstance(value, int) or (isinstance(value, str) and value.strip()):
        return str(value).strip()
    raise PosProtocolError(f"{what} is not an id: {value!r}", endpoint=endpoint)


def expect_count(value: object, what: str, endpoint: EndpointClass) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PosProtocolError(f"{what} is not a count: {value!r}", endpoint=endpoint)
    return value


class CatalogPages:
    """Collects the records of a listing, one per id (a record seen twice keeps its latest copy:
    an overlap between pages is harmless), and refuses a POS that serves a page holding nothing
    new: a POS repeating itself would otherwise be paged forever, and stopping quietly would pass
    off a partial catalog as a full one. With `paged`, a page listing one id twice is refused
    too: its slot in the paging holds fewer records than it claims, so some were skipped."""

    def __init__(
        self, id_key: str, endpoint: EndpointClass, *, paged: bool = False, max_pages: int = 1000
    ) -> None:
        self._id_key = id_key
        self._endpoint = endpoint
        self._paged = paged
        self._max_pages = max_pages
        self._pages = 0
        self._by_id: dict[str, Mapping[str, Any]] = {}
        self._without_id: list[Mapping[str, Any]] = []

    def add_page(self, records: Iterable[Mapping[str, Any]]) -> None:
        self._pages += 1
        if self._pages > self._max_pages:
            raise PosProtocolError(
                f"the listing did not end after {self._max_pages} pages", endpoint=self._endpoint
            )
        page = list(records)
        fresh = False
        on_page: set[str] = set()
        for record in page:
            key = record.get(self._id_key)
            if isinstance(key, str | int) and not isinstance(key, bool):
                if self._paged and str(key) in on_page:
                    raise PosProtocolError(
                        f"page {self._pages} lists {self._id_key} {key} twice",
                        endpoint=self._endpoint,
                    )
                on_page.add(str(key))
                fresh = fresh or str(key) not in self._by_id
                self._by_id[str(key)] = record
            else:
                # map_product quarantines it; it still counts as progress.
                fresh = True
                self._without_id.append(record)
        if page and not fresh:
            raise PosProtocolError(
                f"page {self._pages} repeated records already listed", endpoint=self._endpoint
            )

    @property
    def records(self) -> list[Mapping[str, Any]]:
        return [*self._by_id.values(), *self._without_id]


def overlap_start(since: datetime, overlap_s: float) -> datetime:
    """Where an incremental fetch starts: the cursor minus the overlap, in UTC, whole seconds
    (rounding down only widens the overlap)."""
    start = since.astimezone(UTC) - timedelta(seconds=overlap_s)
    return start.replace(microsecond=0)


def iso_z(moment: datetime) -> str:
    """`2026-01-01T12:00:00Z`: the form every dialect here accepts in a path or query."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def next_cursor(seen: Iterable[datetime | None], since: datetime | None) -> datetime | None:
    """The largest modification time seen; an incremental fetch that saw nothing newer keeps
    the cursor it started from, so the next one does not fall back to a full read."""
    latest = max((moment for moment in seen if moment is not None), default=None)
    if since is None:
        return latest
    return since if latest is None or latest < since else latest


def order_total_cents(record: Mapping[str, Any], key: str, *, in_dollars: bool) -> int | None:
    """The POS's total of an order (decimal dollars or integer cents), or None when it is
    missing or unreadable: it is shown beside ours, never relied on, so it fails nothing."""
    try:
        amount = optional_number(record, key)
    except RecordInvalid:
        return None
    if amount is None:
        return None
    if in_dollars:
        return dollars_to_cents(amount)
    return int(amount) if amount == amount.to_integral_value() else None
