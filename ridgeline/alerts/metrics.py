"""Prometheus metrics of alerting (`ridgeline_alert_*`): notifications, escalations, deliveries.

How many alerts are open in each state is a database fact, exposed as
`ridgeline_alerts{state,severity}` by `monitoring/fleet.py`."""

from __future__ import annotations

from prometheus_client import Counter

ALERT_NOTIFICATIONS = Counter(
    "ridgeline_alert_notifications_total",
    "Group notifications queued to channels, by rule and the state they told.",
    ["rule", "state"],
)
ALERT_ESCALATIONS = Counter(
    "ridgeline_alert_escalations_total",
    "Alert groups escalated to their policy's next level, by rule.",
    ["rule"],
)
ALERT_DELIVERY_ATTEMPTS = Counter(
    "ridgeline_alert_delivery_attempts_total",
    "Attempts to deliver a notification to a channel, by channel kind and outcome (sent; failed: "
    "retried later; dead: out of attempts or the channel cannot be used).",
    ["channel_kind", "outcome"],
)
