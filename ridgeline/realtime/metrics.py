"""Metrics of the real-time layer (`ridgeline_cable_*`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("ridgeline_cable_connections", "Open /cable connections.", ["protocol"])
CONNECTS = Counter("ridgeline_cable_connects_total", "Connection attempts by outcome.", ["outcome"])
DISCONNECTS = Counter(
    "ridgeline_cable_disconnects_total", "Connections closed, by reason.", ["reason"]
)
SUBSCRIPTIONS = Gauge("ridgeline_cable_subscriptions", "Active subscriptions.", ["channel"])
SUBSCRIBE_REJECTS = Counter(
    "ridgeline_cable_subscription_rejects_total", "Subscriptions refused.", ["channel"]
)
MESSAGES_SENT = Counter(
    "ridgeline_cable_messages_sent_total", "Broadcast frames queued to clients.", ["channel"]
)
SEND_QUEUE_DROPS = Counter(
    "ridgeline_cable_send_queue_drops_total",
    "Clients disconnected because their send queue overflowed (too_slow).",
)
HISTORY_REPLAYS = Counter(
    "ridgeline_cable_history_replays_total", "History requests answered with confirm_history."
)
HISTORY_REJECTS = Counter(
    "ridgeline_cable_history_rejects_total", "History requests answered with reject_history."
)
HISTORY_MESSAGES = Counter(
    "ridgeline_cable_history_messages_total", "Messages replayed from stream history."
)
BROADCAST_LATENCY = Histogram(
    "ridgeline_cable_broadcast_latency_seconds",
    "From a message's commit time to its fan-out to local subscribers.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BACKPLANE_RECONNECTS = Counter(
    "ridgeline_cable_backplane_reconnects_total", "Times the Redis backplane reconnected."
)
SESSION_RESTORES = Counter(
    "ridgeline_cable_session_restores_total", "Session restores by outcome.", ["outcome"]
)
