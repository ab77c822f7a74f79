"""The fan-out benchmark's results: what one side measured for one N, and the side-by-side table
(see bench/fanout_bench.py for the scenario)."""

from __future__ import annotations

from dataclasses import dataclass


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

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_connected_kib - self.rss_idle_kib) / self.kiosks

    @property
    def burst_rate(self) -> float:
        return len(self.burst_latencies) / self.burst_s if self.burst_s > 0 else 0.0


def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:,.1f}"


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
        ("deliveries missing", ours.missing, peer.missing, "{:.0f}"),
    ]  # fmt: skip


def report(results: list[SideResult]) -> None:
    """A Markdown table: a row per metric; Ridgeline, the peer and their ratio for each N."""
    by_n: dict[int, dict[str, SideResult]] = {}
    for result in results:
        by_n.setdefault(result.kiosks, {})[result.side] = result
    counts = sorted(by_n)
    columns: list[list[tuple[str, str, str]]] = []
    names: list[str] = []
    for n in counts:
        metrics = _metrics(by_n[n]["ridgeline"], by_n[n]["socketio"])
        names = [name for name, *_ in metrics]
        cells: list[tuple[str, str, str]] = []
        for _, ours, peer, form in metrics:
            shown = (ms(ours), ms(peer)) if form == "ms" else (form.format(ours), form.format(peer))
            cells.append((*shown, f"{ours / peer:.2f}x" if peer else "-"))
        columns.append(cells)
    head = "".join(f" Ridgeline {n:,} | socketio {n:,} | ratio |" for n in counts)
    print(f"| metric |{head}")
    print("|---|" + "---|---|---|" * len(counts))
    for row, name in enumerate(names):
        print(
            f"| {name} |" + "".join(f" {a} | {b} | {r} |" for a, b, r in (c[row] for c in columns))
        )
