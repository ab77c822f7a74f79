"""Prometheus metrics of kiosk orders (`ridgeline_orders_*`), observed by the status machine.

How many orders are in each open status now is a database fact, exposed as
`ridgeline_orders{status}` by `monitoring/fleet.py`."""

from __future__ import annotations

from prometheus_client import Counter

from ridgeline.models.order import OrderStatus
from ridgeline.monitoring.statsd import timed_operation

ORDER_STATUS_CHANGES = Counter(
    "ridgeline_orders_status_changes_total",
    "Order status changes made, by the status entered and who moved it (kiosk, worker, pos, "
    "operator).",
    ["status", "source"],
)
ORDER_SUBMIT_LATENCY = timed_operation(
    "order_submit",
    "ridgeline_orders_submit_latency_seconds",
    "From a kiosk placing an order to the POS first accepting it (accepted, ready or completed).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
)

# Where an order stands before the POS has taken it, and the statuses that say it took it: the
# first move from one to the other is the kiosk-to-POS latency.
NOT_YET_ACCEPTED = frozenset({OrderStatus.RECEIVED, OrderStatus.QUEUED, OrderStatus.SUBMITTED})
ACCEPTED_BY_POS = frozenset({OrderStatus.ACCEPTED, OrderStatus.READY, OrderStatus.COMPLETED})
