"""Timings and counts sent to StatsD over UDP, as the troubleshooting guide names them:
`operation.<name>.duration` (a timing, in milliseconds) and `operation.<name>.count` (a counter),
one pair per finished operation (docs/monitoring.md#statsd).

The operations are the ones Prometheus times (`TimedOperation` feeds both from one call), so the
two never disagree. With `RIDGELINE_STATSD_TAGS=dogstatsd` each line also carries the operation's
labels as DogStatsD tags (`|#vendor:square,outcome:ok`); plain StatsD has no tags, so the names
stay the guide's.

Sending never blocks and never raises: the socket is non-blocking and unconnected, so a StatsD
server that is gone (or a full send buffer) loses that datagram, counted in
`ridgeline_statsd_send_errors_total`, and the request goes on.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence

import structlog
from prometheus_client import Counter, Histogram

from ridgeline.config import Settings, StatsdTags

log = structlog.get_logger(__name__)

STATSD_SEND_ERRORS = Counter(
    "ridgeline_statsd_send_errors",
    "StatsD datagrams that could not be sent (no route, buffer full, address unresolved).",
)

# StatsD metric names and DogStatsD tag values allow no `:|@#,` and no whitespace.
_UNSAFE = re.compile(r"[^A-Za-z0-9_./\-]")


def parse_address(address: str) -> tuple[str, int]:
    """`host:port` (IPv6 as `[::1]:8125`) into its parts; ValueError when it is not one."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not a host:port address: {address!r}")
    return host.strip("[]"), int(port)


class StatsdSink:
    """One process's UDP socket to StatsD."""

    def __init__(self, host: str, port: int, *, prefix: str = "", tags: StatsdTags) -> None:
        self._prefix = prefix
        self._tags = tags
        info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        self._target = info[4]
        self._socket = socket.socket(info[0], socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def operation(self, name: str, seconds: float, tags: Sequence[tuple[str, str]]) -> None:
        """Send the operation's timing and count in one datagram."""
        base = f"{self._prefix}operation.{name}"
        suffix = ""
        if self._tags is StatsdTags.DOGSTATSD and tags:
            suffix = "|#" + ",".join(f"{key}:{_UNSAFE.sub('_', value)}" for key, value in tags)
        payload = (
            f"{base}.duration:{seconds * 1000:.3f}|ms{suffix}\n{base}.count:1|c{suffix}"
        ).encode()
        try:
            self._socket.sendto(payload, self._target)
        except OSError:
            STATSD_SEND_ERRORS.inc()

    def close(self) -> None:
        self._socket.close()


class _Destination:
    """Where `TimedOperation`s send: the process's sink, or nowhere until one is configured."""

    sink: StatsdSink | None = None


_DESTINATION = _Destination()


def configure_statsd(settings: Settings) -> None:
    """Send operations to `settings.statsd_address` from now on (unset: stop sending). Called
    once at process start; an address that does not resolve is logged and not used (metrics must
    never stop the process)."""
    address, prefix, tags = settings.statsd_address, settings.statsd_prefix, settings.statsd_tags
    previous, _DESTINATION.sink = _DESTINATION.sink, None
    if previous is not None:
        previous.close()
    if address is None:
        return
    host, port = parse_address(address)
    try:
        _DESTINATION.sink = StatsdSink(host, port, prefix=prefix, tags=tags)
    except OSError as error:
        STATSD_SEND_ERRORS.inc()
        log.warning("statsd_unavailable", address=address, error=str(error))
        return
    log.info("statsd_configured", address=address, tags=tags.value)


class TimedOperation:
    """A Prometheus histogram of an operation's duration that also reports each observation to
    StatsD as `operation.<name>.duration` and `.count`, tagged with the histogram's labels.
    Used like the histogram: `OP.labels(...).observe(seconds)` or `OP.observe(seconds)`."""

    def __init__(
        self,
        operation: str,
        histogram: Histogram,
        labelnames: Sequence[str] = (),
        *,
        _labelvalues: Sequence[str] = (),
    ) -> None:
        self.operation = operation
        self.histogram = histogram
        self._labelnames = tuple(labelnames)
        self._labelvalues = tuple(_labelvalues)

    def labels(self, *values: object, **named: object) -> TimedOperation:
        child = self.histogram.labels(*values, **named)
        if named:
            ordered = tuple(str(named[name]) for name in self._labelnames)
        else:
            ordered = tuple(str(value) for value in values)
        return TimedOperation(self.operation, child, self._labelnames, _labelvalues=ordered)

    def observe(self, seconds: float) -> None:
        self.histogram.observe(seconds)
        sink = _DESTINATION.sink
        if sink is not None:
            tags = tuple(zip(self._labelnames, self._labelvalues, strict=True))
            sink.operation(self.operation, seconds, tags)


def timed_operation(
    operation: str,
    name: str,
    documentation: str,
    labelnames: Sequence[str] = (),
    *,
    buckets: Sequence[float],
) -> TimedOperation:
    """Define a Prometheus histogram `name` whose observations are also StatsD's `operation`."""
    histogram = Histogram(name, documentation, list(labelnames), buckets=tuple(buckets))
    return TimedOperation(operation, histogram, labelnames)
