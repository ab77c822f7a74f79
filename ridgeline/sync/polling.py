"""How often the scheduler may poll a store's POS: its configured interval, stretched when the
stores that share the vendor's rate limits would together poll more than their part of them.

A vendor's limits (`PosAdapter.rate_limits`) count either each store's calls on their own (a key
per location: Dutchie) or all of a retailer's stores together (one credential for every
location; the default for vendors that publish nothing, as it can only be safer). Scheduled
polls, the catalog (`incremental`/`full`) and `inventory` of every store sharing a limit, may
use `POLL_SHARE` of each bucket; the rest is left to orders, operators' runs and reconciliation.
A poll that still meets a 429 is retried after its `Retry-After` by the resilient client, and a
run that fails on it is rescheduled with the usual backoff (docs/sync.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from ridgeline.models.sync import SyncKind
from ridgeline.pos.base import EndpointClass
from ridgeline.resilience.rate_limit import RateLimits

POLL_SHARE = 0.5
# The endpoint class each kind of run reads (the adapters' routes map them to buckets).
POLLED: Mapping[SyncKind, EndpointClass] = {
    SyncKind.FULL: EndpointClass.PRODUCTS,
    SyncKind.INCREMENTAL: EndpointClass.PRODUCTS_CHANGED,
    SyncKind.INVENTORY: EndpointClass.INVENTORY,
}
# A store polls its catalog and its inventory: these are the kinds that repeat.
_REPEATING = (SyncKind.INCREMENTAL, SyncKind.INVENTORY)


def poll_spacing_s(limits: RateLimits, kind: SyncKind, stores_sharing: int) -> float:
    """The shortest interval between polls of `kind` for each of `stores_sharing` stores (the
    stores counted against one limit) that keeps all their polls of the bucket `kind` reads
    within `POLL_SHARE` of its limit. Both repeating kinds count when they read one bucket."""
    bucket, limit = limits.bucket_for(POLLED[kind].value)
    readers = sum(1 for k in _REPEATING if limits.bucket_for(POLLED[k].value)[0] == bucket)
    polls_per_s = limit.limit / limit.period_s * POLL_SHARE
    return max(1, stores_sharing) * max(1, readers) / polls_per_s


def stores_sharing_limits(limits: RateLimits, retailer_stores: int) -> int:
    """How many stores' polls one of the vendor's limits counts: 1 for per-store limits, else
    the retailer's stores on that POS."""
    return 1 if limits.shared_by == "store" else max(1, retailer_stores)


def budgeted_due_at(
    due_at: datetime, interval_s: int, limits: RateLimits, kind: SyncKind, retailer_stores: int
) -> datetime:
    """When a poll scheduled for `due_at` (the last run's end plus `interval_s`) may go: later
    by whatever the shared limits need beyond the configured interval."""
    spacing_s = poll_spacing_s(limits, kind, stores_sharing_limits(limits, retailer_stores))
    return due_at + timedelta(seconds=max(0.0, spacing_s - interval_s))
