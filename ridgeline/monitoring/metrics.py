"""Process-wide Prometheus metrics for the HTTP surface (other areas define theirs beside them).

Names follow `ridgeline_<area>_<what>_<unit>`; labels are bounded (route templates, not raw paths).
"""

from __future__ import annotations

from prometheus_client import Counter

from ridgeline.monitoring.statsd import timed_operation

HTTP_REQUESTS = Counter(
    "ridgeline_http_requests_total",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = timed_operation(
    "http_request",
    "ridgeline_http_request_duration_seconds",
    "Time from request received to response finished.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
