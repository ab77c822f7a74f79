"""The fan-out benchmark's results: what one side measured for one N, and the side-by-side table
with each case's target (issue 19) and whether this run met it (see bench/fanout_bench.py for the
scenario). A side run alone (`--sides`) gets its column without a ratio."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SideResult:
    side: str
    kiosks: int
    changes: int
    connect_s: float
    rss_idle_kib: int
    rss_connected_kib: int
    one_latencies: list[float]  # one at a time, every delivery
    one_spread: list[float]  # one at a time, per change: last delivery - change sent
    one_calls: list[float]  # one at a time, per change: the HTTP call that made it
    burst_latencies: list[float]
    burst_s: float  # first change sent -> last delivery
    burst_cpu_s: float  # server CPU during the burst phase
    burst_client_cpu_s: float  # the load generator's CPU during the burst phase
    missing: int
    frame_bytes: float
    paced_latencies: list[float] = field(default_factory=list)
    paced_s: float = 0.0  # first paced change sent -> last paced delivery
    paced_last_spread: float = 0.0  # the last paced change: sent -> every kiosk has it
    storm_back_s: float = 0.0  # every socket dropped -> every one back (and subscribed)
    storm_failed_attempts: int = 0
    storm_probe: list[float] = field(default_factory=list)  # /healthz durations in the storm
    storm_probe_failures: int = 0
    busy_changes: int = 0  # changes answered 503 (database busy) and made again
    doubled: int = 0
    pings: int = 0  # ping frames the kiosks received, whole run
    frames: int = 0
    # The server's event loop watch over the storm (None: the server ran without it).
    storm_longest_callback_s: float | None = None
    storm_offenders: list[dict[str, Any]] = field(default_factory=list)
    storm_longest_gc: str = ""  # the storm's longest collector pass: "<ms> ms, generation <g>"
    # The whole run's full collector passes, of them over 100 ms, and thaws (NaN: not measured,
    # the peer); from Ridgeline's `/metrics` (realtime/gc_pacing.py).
    gc_full_passes: float = math.nan
    gc_passes_over_100ms: float = math.nan
    gc_thaws: float = math.nan

    @property
    def paced_rate(self) -> float:
        return len(self.paced_latencies) / self.paced_s if self.paced_s > 0 else 0.0

    @property
    def ping_share(self) -> float:
        return self.pings / self.frames * 100 if self.frames else 0.0

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_connected_kib - self.rss_idle_kib) / self.kiosks

    @property
    def burst_rate(self) -> float:
        return len(self.burst_latencies) / self.burst_s if self.burst_s > 0 else 0.0


LOOP_WATCH_NOTE = "100 ms or more"


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:,.1f}"


# A target: its text and whether (ours, peer, N) meets it.
Target = tuple[str, Callable[[float, float, int], bool]]


def _at_most_peer(factor: float) -> Target:
    return f"<= {factor:g}x peer", lambda ours, peer, n: ours <= factor * peer


P99_TARGET: Target = (
    "<= 0.6x peer (N >= 5,000), <= 1x (below)",
    lambda ours, peer, n: ours <= (0.6 if n >= 5000 else 1.0) * peer,
)
TARGETS: dict[str, Target] = {
    "connect + subscribe all N (s)": _at_most_peer(1.5),
    "one at a time: latency p99 (ms)": P99_TARGET,
    "paced 20/s: deliveries/s": (">= peer", lambda ours, peer, n: ours >= peer),
    "server memory per connection (KiB)": ("<= 30", lambda ours, peer, n: ours <= 30),
    "storm: longest single callback (ms)": ("<= 100", lambda ours, peer, n: ours <= 0.1),
    "storm: failed connection attempts": ("0", lambda ours, peer, n: ours == 0),
    "deliveries missing": ("0", lambda ours, peer, n: ours == 0),
    "deliveries doubled": ("0", lambda ours, peer, n: ours == 0),
}


def _longest(result: SideResult) -> float:
    # NaN (shown as "nan") where the server ran without its loop watch (the peer, a before tree).
    found = result.storm_longest_callback_s
    return found if found is not None else float("nan")


def _metrics(ours: SideResult, peer: SideResult) -> list[tuple[str, float, float, str]]:
    def per_delivery_us(result: SideResult) -> float:
        return result.burst_cpu_s / max(len(result.burst_latencies), 1) * 1e6

    def client_busy(result: SideResult) -> float:
        return result.burst_client_cpu_s / result.burst_s * 100 if result.burst_s > 0 else 0.0

    return [
        ("connect + subscribe all N (s)", ours.connect_s, peer.connect_s, "{:.1f}"),
        ("one at a time: latency p50 (ms)", quantile(ours.one_latencies, 0.5),
         quantile(peer.one_latencies, 0.5), "ms"),
        ("one at a time: latency p99 (ms)", quantile(ours.one_latencies, 0.99),
         quantile(peer.one_latencies, 0.99), "ms"),
        ("one at a time: all N have it, median (ms)", quantile(ours.one_spread, 0.5),
         quantile(peer.one_spread, 0.5), "ms"),
        ("one at a time: trigger HTTP call, median (ms)", quantile(ours.one_calls, 0.5),
         quantile(peer.one_calls, 0.5), "ms"),
        ("burst: latency p50 (ms)", quantile(ours.burst_latencies, 0.5),
         quantile(peer.burst_latencies, 0.5), "ms"),
        ("burst: latency p99 (ms)", quantile(ours.burst_latencies, 0.99),
         quantile(peer.burst_latencies, 0.99), "ms"),
        ("burst: deliveries/s", ours.burst_rate, peer.burst_rate, "{:,.0f}"),
        ("burst: server CPU per delivery (us)", per_delivery_us(ours), per_delivery_us(peer),
         "{:.0f}"),
        ("burst: load generator CPU busy (%)", client_busy(ours), client_busy(peer), "{:.0f}"),
        ("server RSS idle (MiB)", ours.rss_idle_kib / 1024, peer.rss_idle_kib / 1024, "{:.0f}"),
        ("server memory per connection (KiB)", ours.kib_per_connection,
         peer.kib_per_connection, "{:.1f}"),
        ("frame size (bytes)", ours.frame_bytes, peer.frame_bytes, "{:.0f}"),
        ("ping frames (% of frames received)", ours.ping_share, peer.ping_share, "{:.1f}"),
        ("paced 20/s: deliveries/s", ours.paced_rate, peer.paced_rate, "{:,.0f}"),
        ("paced 20/s: latency p99 (ms)", quantile(ours.paced_latencies, 0.99),
         quantile(peer.paced_latencies, 0.99), "ms"),
        ("paced 20/s: last change, all N have it (ms)", ours.paced_last_spread,
         peer.paced_last_spread, "ms"),
        ("storm: all N back (s)", ours.storm_back_s, peer.storm_back_s, "{:.1f}"),
        ("storm: failed connection attempts", ours.storm_failed_attempts,
         peer.storm_failed_attempts, "{:.0f}"),
        ("storm: longest single callback (ms)", _longest(ours), _longest(peer), "ms"),
        ("storm: slowest probe (ms)", max(ours.storm_probe, default=0.0),
         max(peer.storm_probe, default=0.0), "ms"),
        ("storm: probe p99 (ms)", quantile(ours.storm_probe, 0.99),
         quantile(peer.storm_probe, 0.99), "ms"),
        ("whole run: full collector passes", ours.gc_full_passes, peer.gc_full_passes,
         "{:.0f}"),
        ("whole run: full passes over 100 ms", ours.gc_passes_over_100ms,
         peer.gc_passes_over_100ms, "{:.0f}"),
        ("whole run: thaws of the frozen objects", ours.gc_thaws, peer.gc_thaws, "{:.0f}"),
        ("changes answered 503 busy (made again)", ours.busy_changes, peer.busy_changes,
         "{:.0f}"),
        ("deliveries missing", ours.missing, peer.missing, "{:.0f}"),
        ("deliveries doubled", ours.doubled, peer.doubled, "{:.0f}"),
    ]  # fmt: skip


def report(results: list[SideResult]) -> None:
    """A Markdown table per N: a row per metric with Ridgeline, the peer, their ratio and the
    target (met or not). A side that did not run shows "-"."""
    by_n: dict[int, dict[str, SideResult]] = {}
    for result in results:
        by_n.setdefault(result.kiosks, {})[result.side] = result
    for n in sorted(by_n):
        sides = by_n[n]
        ours, peer = sides.get("ridgeline"), sides.get("socketio")
        metrics = _metrics(ours or peer, peer or ours)  # type: ignore[arg-type]
        print(f"\nN = {n:,}\n")
        print("| metric | Ridgeline | socketio | ratio | target | met |")
        print("|---|---|---|---|---|---|")
        for name, mine, theirs, form in metrics:

            def shown(value: float, form: str = form) -> str:
                if math.isnan(value):
                    return "-"  # not measured on this side
                return ms(value) if form == "ms" else form.format(value)

            a = shown(mine) if ours is not None else "-"
            b = shown(theirs) if peer is not None else "-"
            both = ours is not None and peer is not None
            measured = not (math.isnan(mine) or math.isnan(theirs))
            ratio = f"{mine / theirs:.2f}x" if both and theirs and measured else "-"
            target = TARGETS.get(name)
            met = "-"
            if target is not None and ours is not None and not math.isnan(mine):
                needs_peer = "peer" in target[0]
                if both or not needs_peer:
                    met = "yes" if target[1](mine, theirs, n) else "**no**"
            print(f"| {name} | {a} | {b} | {ratio} | {target[0] if target else ''} | {met} |")
        if ours is not None and ours.storm_offenders:
            print(f"\nRidgeline's callbacks of {LOOP_WATCH_NOTE} in the storm, worst first:\n")
            if ours.storm_longest_gc:
                print(f"(the storm's longest garbage collector pass: {ours.storm_longest_gc})\n")
            for offender in ours.storm_offenders:
                print(
                    f"- {offender['longest_ms']:,.1f} ms (x{offender['count']}; of the "
                    f"longest, CPU {offender.get('cpu_ms', 0):,.1f} ms, the garbage collector "
                    f"{offender.get('gc_ms', 0):,.1f} ms): `{offender['callback']}`"
                )
