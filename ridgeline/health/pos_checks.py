"""`ridgeline doctor`'s checks of the store's POS connection: the stored credentials, the
connection test (reachability and latency), rate-limit headroom, and the circuit breaker.

The connection test goes through the resilient client like any other call: it is recorded in
`pos_calls` and counted by the breaker (credentials the POS refused included).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.health import repository
from ridgeline.health.findings import Examination, Finding, Verdict, iso, recovery_steps
from ridgeline.health.state import HealthCause
from ridgeline.models.circuit_breaker import CircuitState
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsUnreadable

EXPIRY_WARNING = timedelta(days=7)
RATE_WINDOW_S = 60.0  # calls counted for the headroom (longer if a vendor's period is)
RATE_WARN_SHARE = 0.8
THROTTLE_WINDOW = timedelta(seconds=300)


class PosChecks:
    def __init__(self, database: Database, connector: PosConnector, clock: Clock) -> None:
        self.database = database
        self.connector = connector
        self.clock = clock

    async def credentials(self, exam: Examination) -> Finding:
        store, now = exam.store, self.clock.now()
        save = f"PUT /api/v1/stores/{store.id}/pos"
        if store.pos_provider is None or store.pos_config_encrypted is None:
            return Finding(Verdict.FAIL, "no POS is configured", fix=f"{save} (provider, settings)")
        try:
            adapter_class, config = pos_service.stored_config(store, self.connector.cipher)
        except CredentialsUnreadable as exc:
            fix = f"{pos_service.unreadable_credentials_result().message} ({save})"
            return Finding(Verdict.FAIL, str(exc), {"provider": store.pos_provider}, fix)
        exam.adapter_class, exam.config = adapter_class, config
        expires = next(
            (v for n, v in config if n.endswith("expires_at") and isinstance(v, datetime)), None
        )
        detail = {
            "provider": store.pos_provider,
            "base_url": config.base_url,
            "configured_at": iso(store.pos_config_updated_at),
            "refused_at": iso(store.pos_credentials_refused_at),
            "expires_at": iso(expires),
        }
        if store.pos_credentials_refused_at is not None:
            when = store.pos_credentials_refused_at.isoformat()
            fix = recovery_steps(
                HealthCause.CREDENTIALS_REFUSED, store.id, "regenerate", "update_credentials"
            )
            return Finding(
                Verdict.FAIL, f"the POS refused these credentials at {when}", detail, fix
            )
        if expires is not None and expires <= now + EXPIRY_WARNING:
            verdict = Verdict.FAIL if expires <= now else Verdict.WARN
            fix = f"regenerate them in the POS's back office and save them: {save}"
            return Finding(verdict, f"the credentials expire at {expires.isoformat()}", detail, fix)
        lasts = f"expire at {expires.isoformat()}" if expires else "no expiry is known for them"
        return Finding(
            Verdict.PASS, f"{store.pos_provider} credentials readable, not refused; {lasts}", detail
        )

    async def pos_reachable(self, exam: Examination) -> Finding:
        store = exam.store
        if exam.adapter_class is None or exam.config is None:
            return Finding(Verdict.SKIP, "no usable credentials to test (see credentials)")
        adapter = self.connector.adapter_for(store, refused_ok=True)
        result = await pos_service.run_connection_test(adapter)
        detail = {
            "diagnosis": result.diagnosis,
            "message": result.message,
            "latency_ms": result.duration_ms,
            "location": result.location_name,
        }
        if result.ok:
            if result.duration_ms > exam.thresholds.slow_call_ms:
                summary = f"answered slowly, in {result.duration_ms:.0f} ms"
                return Finding(
                    Verdict.WARN, summary, detail, recovery_steps(HealthCause.SLOW_CALLS, store.id)
                )
            summary = f"answered in {result.duration_ms:.0f} ms ({result.location_name})"
            return Finding(Verdict.PASS, summary, detail)
        refused = recovery_steps(
            HealthCause.CREDENTIALS_REFUSED, store.id, "regenerate", "update_credentials"
        )
        fixes = {
            "bad_credentials": "see credentials" if store.pos_credentials_refused_at else refused,
            "unreachable": f"check the network, the vendor's status page and base_url "
            f"{exam.config.base_url}; then POST /api/v1/stores/{store.id}/pos/test",
            "circuit_open": "the breaker holds calls (see breaker); recovery retries by itself, "
            f"or now: POST /api/v1/stores/{store.id}/recovery",
            "rate_limited": recovery_steps(HealthCause.RATE_LIMITED, store.id),
        }
        fix = fixes.get(
            result.diagnosis,
            "the POS answers but fails: check the vendor's status page; the failing calls: "
            f"GET /api/v1/stores/{store.id}/pos (send them to the vendor if it persists)",
        )
        verdict = Verdict.WARN if result.diagnosis == "rate_limited" else Verdict.FAIL
        return Finding(verdict, f"{result.diagnosis}: {result.message}", detail, fix)

    async def rate_limit_headroom(self, exam: Examination) -> Finding:
        if exam.adapter_class is None:
            return Finding(Verdict.SKIP, "no POS adapter to take limits from (see credentials)")
        limits, now = exam.adapter_class.rate_limits, self.clock.now()
        window_s = max(RATE_WINDOW_S, *(limit.period_s for limit in limits.buckets.values()))
        async with self.database.transaction(write=False) as session:
            recent = await repository.call_counts_since(
                session, exam.store.id, now - timedelta(seconds=window_s)
            )
            throttled = await repository.call_counts_since(
                session, exam.store.id, now - THROTTLE_WINDOW
            )
        calls = dict.fromkeys(limits.buckets, 0)
        for (endpoint, outcome), count in recent.items():
            if outcome != "CIRCUIT_OPEN":  # refused by the breaker: never sent
                calls[limits.bucket_for(endpoint)[0]] += count
        usage = {
            name: calls[name] * limit.period_s / window_s / limit.limit
            for name, limit in limits.buckets.items()
        }
        answered_429 = sum(
            n for (_, outcome), n in throttled.items() if outcome == "POS_RATE_LIMITED"
        )
        busiest = max(usage, key=lambda name: usage[name])
        limit = limits.buckets[busiest]
        detail = {
            "window_s": window_s,
            "answered_429_in_300_s": answered_429,
            "buckets": {
                name: {
                    "limit": b.limit,
                    "period_s": b.period_s,
                    "calls": calls[name],
                    "usage": round(usage[name], 3),
                }
                for name, b in limits.buckets.items()
            },
        }
        summary = (
            f"busiest limit {busiest!r}: {calls[busiest]} calls in the last {window_s:g} s, "
            f"{usage[busiest]:.0%} of {limit.limit} per {limit.period_s:g} s; "
            f"{answered_429} answers 429 in 5 min"
        )
        if usage[busiest] > RATE_WARN_SHARE or answered_429:
            return Finding(
                Verdict.WARN,
                summary,
                detail,
                recovery_steps(HealthCause.RATE_LIMITED, exam.store.id),
            )
        return Finding(Verdict.PASS, summary, detail)

    async def breaker(self, exam: Examination) -> Finding:
        store = exam.store
        if exam.adapter_class is None:
            return Finding(Verdict.SKIP, "no POS configured (see credentials)")
        view = await self.connector.breaker_view(store.id)
        detail = view.model_dump(mode="json")
        state = CircuitState(view.state)
        rate = "too few to rate" if view.failure_rate is None else f"{view.failure_rate:.0%} failed"
        if state is CircuitState.CLOSED:
            summary = f"closed; {view.calls_in_window} calls in its window, {rate}"
            return Finding(Verdict.PASS, summary, detail)
        if state is CircuitState.DISABLED:
            fix = (
                f"when done diagnosing: POST /api/v1/stores/{store.id}/pos/breaker "
                '{"action": "reset"}'
            )
            return Finding(
                Verdict.WARN, "disabled by an operator: calls pass uncounted", detail, fix
            )
        if state is CircuitState.FORCED_OPEN:
            fix = recovery_steps(HealthCause.BREAKER_FORCED_OPEN, store.id, "reset_breaker")
            return Finding(Verdict.FAIL, f"forced open by {view.last_actor}", detail, fix)
        until = f" until {view.open_until.isoformat()}" if view.open_until else ""
        summary = f"{state.value}{until} ({view.last_reason}); {view.calls_in_window} calls, {rate}"
        probe = f"at {view.open_until.isoformat()}" if view.open_until else "soon"
        fix = (
            f"it lets a probe through {probe} and recovery runs by itself; "
            f"to recover now: POST /api/v1/stores/{store.id}/recovery"
        )
        return Finding(Verdict.FAIL, summary, detail, fix)
