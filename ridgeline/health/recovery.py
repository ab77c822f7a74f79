"""Recovery runs: the guide's procedure, performed and recorded step by step.

A run is a `recovery_runs` row, started in the caller's transaction with the job that performs
it (`start_recovery`: an operator's `POST .../recovery`, saved credentials), or by the sweep for
a store in error or offline whose next automatic run is due. Steps (procedures.py): reset the
connection, verify the credentials, test the connection, sync (trigger `recovery`), drain the
order queue. Each step is written to the run as it starts and ends, so operators watch it go;
a failed step skips the rest. Afterwards the store's state is judged again, and an automatic
run that did not bring the store back schedules the next on a backoff with jitter.

Automatic runs never use credentials the POS refused: those wait for a person (the manual
procedure); an operator's run or saved credentials may test them.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.errors import NotFound, RecoveryInProgress, SyncInProgress
from ridgeline.health import repository
from ridgeline.health import service as health
from ridgeline.health.metrics import RECOVERY_RUN_DURATION, RECOVERY_RUNS
from ridgeline.health.procedures import AUTOMATIC_STEPS, DEFAULT_STEPS, Step
from ridgeline.health.service import MANUAL_CAUSES
from ridgeline.health.state import HealthCause, Trigger
from ridgeline.jobs import enqueue
from ridgeline.models.health import (
    RecoveryRun,
    RecoveryStatus,
    RecoveryTrigger,
    StoreConnectionState,
)
from ridgeline.models.store import Store
from ridgeline.models.sync import SyncKind, SyncStatus, SyncTrigger
from ridgeline.orders.queue import drain
from ridgeline.pos import service as pos_service
from ridgeline.pos.client import PosConnector
from ridgeline.pos.credentials import CredentialsRefused, CredentialsUnreadable
from ridgeline.sync.service import run_sync

log = structlog.get_logger(__name__)

RECOVER_JOB = "health.recover"
# Automatic runs back off: the k-th failed run in a row waits min(cap, base * 2**k), half of it
# fixed and half drawn at random ("equal jitter"), so stores that failed together spread out.
BACKOFF_BASE_S = 15.0
BACKOFF_CAP_S = 600.0
# A running run whose heartbeat is older than this lost its worker: it is failed and replaced.
STALE_RUN_AFTER = timedelta(minutes=15)
DOWN_STATES = (StoreConnectionState.ERROR, StoreConnectionState.OFFLINE)


def backoff_s(failures: int, rng: random.Random) -> float:
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0 ** min(max(failures, 0), 32))
    return delay / 2 + rng.uniform(0, delay / 2)


class StepFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class StepSkipped(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def start_recovery(
    session: AsyncSession,
    store: Store,
    trigger: RecoveryTrigger,
    *,
    clock: Clock,
    actor: str | None = None,
) -> RecoveryRun:
    """Records a running run and queues the job that performs it, in the caller's transaction.
    `RecoveryInProgress` when one runs already."""
    now = clock.now()
    running = await repository.running_recovery(session, store.id)
    if running is not None:
        if now - running.heartbeat_at < STALE_RUN_AFTER:
            raise RecoveryInProgress(details={"recovery_run_id": str(running.id)})
        _abandon(running, now)
    row = await repository.locked_health(session, store.id)
    state = row.state if row is not None else StoreConnectionState.CONNECTED
    cause = row.cause if row is not None else HealthCause.OK.value
    await session.flush()  # the abandoned run, if any, before the insert checks the index
    run = await repository.insert_running_recovery(
        session,
        {
            "id": uuid.uuid4(),
            "organization_id": store.organization_id,
            "store_id": store.id,
            "trigger": trigger.value,
            "status": RecoveryStatus.RUNNING.value,
            "state_before": state.value,
            "cause": cause,
            "actor": actor,
            "started_at": now,
            "heartbeat_at": now,
            "steps": [],
            "created_at": now,
            "updated_at": now,
        },
    )
    if run is None:  # another transaction started one since we looked
        raise RecoveryInProgress()
    await enqueue(
        session,
        RECOVER_JOB,
        {"store_id": str(store.id), "recovery_run_id": str(run.id)},
        clock=clock,
        dedupe_key=f"{RECOVER_JOB}:{run.id}",
        max_attempts=1,
    )
    log.info(
        "recovery_run_started",
        store_id=str(store.id),
        recovery_run_id=str(run.id),
        trigger=trigger.value,
        state=state.value,
        cause=cause,
    )
    return run


def _abandon(run: RecoveryRun, now: datetime) -> None:
    run.status = RecoveryStatus.FAILED
    run.error = "abandoned: its worker stopped"
    run.finished_at = now
    run.updated_at = now


async def start_due_recovery(
    database: Database, store_id: uuid.UUID, *, clock: Clock
) -> RecoveryRun | None:
    """The sweep's automatic run for a store whose next run is due, if it still needs one."""
    now = clock.now()
    async with database.transaction() as session:
        store = await repository.store_for_system(session, store_id)
        row = await repository.locked_health(session, store_id)
        if store is None or row is None or row.next_recovery_at is None:
            return None
        if row.next_recovery_at > now:
            return None
        if row.state not in DOWN_STATES or HealthCause(row.cause) in MANUAL_CAUSES:
            row.next_recovery_at = None
            return None
        row.next_recovery_at = None  # the run sets the next one when it ends
        try:
            return await start_recovery(session, store, RecoveryTrigger.AUTOMATIC, clock=clock)
        except RecoveryInProgress:
            return None


StepAction = Callable[[], Awaitable[str]]


class RecoveryRunner:
    """Performs one started run (the `health.recover` job's work)."""

    def __init__(
        self,
        database: Database,
        connector: PosConnector,
        run_id: uuid.UUID,
        *,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self.database = database
        self.connector = connector
        self.run_id = run_id
        self.clock = clock
        self.rng = rng

    async def run(self) -> RecoveryRun | None:
        began = time.perf_counter()
        async with self.database.transaction(write=False) as session:
            run = await repository.recovery_run(session, self.run_id)
            store = await repository.store_for_system(session, run.store_id) if run else None
        if run is None or run.status is not RecoveryStatus.RUNNING or store is None:
            return None
        self.store_id = store.id
        self.trigger = run.trigger
        steps = AUTOMATIC_STEPS.get(run.state_before, DEFAULT_STEPS)
        actions: dict[str, Callable[[], Awaitable[str]]] = {
            "reset_connection": self._reset,
            "verify_credentials": self._verify,
            "test_connection": self._test,
            "sync": self._sync,
            "drain_orders": self._drain,
        }
        failure: str | None = None
        for step in steps:
            if failure is not None:
                await self._record_step(step, "skipped", f"not run: {failure}")
                continue
            failure = await self._perform(step, actions[step.name])
        return await self._finish(failure, began)

    async def _perform(self, step: Step, action: StepAction) -> str | None:
        """Runs one step; returns why it failed, or None."""
        started = self.clock.now()
        await self._record_step(step, "running", step.title, started=started)
        try:
            detail = await action()
        except StepSkipped as exc:
            await self._record_step(step, "skipped", exc.detail, started=started)
            return None
        except StepFailed as exc:
            await self._record_step(step, "failed", exc.detail, started=started)
            return f"{step.name} failed"
        except Exception as exc:
            await self._record_step(step, "failed", f"{type(exc).__name__}: {exc}", started=started)
            log.exception("recovery_step_crashed", store_id=str(self.store_id), step=step.name)
            return f"{step.name} failed"
        await self._record_step(step, "passed", detail, started=started)
        return None

    async def _record_step(
        self, step: Step, outcome: str, detail: str, *, started: datetime | None = None
    ) -> None:
        now = self.clock.now()
        entry: dict[str, Any] = {
            "name": step.name,
            "started_at": (started or now).isoformat(),
            "finished_at": None if outcome == "running" else now.isoformat(),
            "outcome": outcome,
            "detail": detail[:2000],
        }
        async with self.database.transaction() as session:
            run = await repository.recovery_run(session, self.run_id)
            assert run is not None
            steps = [each for each in run.steps if each["name"] != step.name]
            run.steps = [*steps, entry]
            run.heartbeat_at = now
            run.updated_at = now
        if outcome != "running":
            log.info(
                "recovery_step_finished",
                store_id=str(self.store_id),
                recovery_run_id=str(self.run_id),
                step=step.name,
                outcome=outcome,
                detail=detail[:300],
            )

    async def _store(self) -> Store:
        async with self.database.transaction(write=False) as session:
            store = await repository.store_for_system(session, self.store_id)
        if store is None:
            raise StepFailed("the store was deleted")
        return store

    async def _reset(self) -> str:
        store = await self._store()
        outcome = await self.connector.reset(store)
        async with self.database.transaction() as session:
            await repository.mark_connection_reset(session, store.id, self.clock.now())
        pool = "dropped" if outcome.pool_dropped else "none open"
        return (
            f"dropped {outcome.adapters_dropped} cached adapter(s) with their tokens; "
            f"pooled connections to the POS host: {pool}; other processes rebuild theirs"
        )

    async def _verify(self) -> str:
        store = await self._store()
        if store.pos_provider is None or store.pos_config_encrypted is None:
            raise StepFailed("the store has no POS configured: PUT /api/v1/stores/{id}/pos")
        try:
            adapter_class, _ = pos_service.stored_config(store, self.connector.cipher)
        except CredentialsUnreadable:
            raise StepFailed(
                "the stored credentials cannot be decrypted with RIDGELINE_ENCRYPTION_KEYS: "
                "restore the key they were saved with, or save them again"
            ) from None
        if (
            store.pos_credentials_refused_at is not None
            and self.trigger is RecoveryTrigger.AUTOMATIC
        ):
            raise StepFailed(
                "the POS refused these credentials: an automatic run does not use them; "
                "save new ones (PUT /api/v1/stores/{id}/pos)"
            )
        return f"{adapter_class.name} credentials readable and valid for its settings model"

    async def _test(self) -> str:
        store = await self._store()
        refused_ok = self.trigger is not RecoveryTrigger.AUTOMATIC
        try:
            adapter = self.connector.adapter_for(store, refused_ok=refused_ok)
        except CredentialsRefused:
            raise StepFailed("the POS refused these credentials: save new ones") from None
        except CredentialsUnreadable:
            raise StepFailed("the stored credentials cannot be decrypted") from None
        result = await pos_service.run_connection_test(adapter)
        if not result.ok:
            raise StepFailed(f"{result.diagnosis}: {result.message}")
        if store.pos_credentials_refused_at is not None:
            # A person restored access at the POS (same credentials): they work again.
            async with self.database.transaction() as session:
                current = await repository.store_for_system(session, store.id)
                if current is not None:
                    await health.credentials_saved(session, current, now=self.clock.now())
        where = f" ({result.location_name})" if result.location_name else ""
        return f"credentials accepted and the POS answered{where} in {result.duration_ms:g} ms"

    async def _sync(self) -> str:
        done: list[str] = []
        for kind in (SyncKind.INCREMENTAL, SyncKind.INVENTORY):
            try:
                sync_run = await run_sync(
                    self.database,
                    self.connector,
                    self.store_id,
                    kind,
                    SyncTrigger.RECOVERY,
                    clock=self.clock,
                )
            except SyncInProgress:
                done.append(f"{kind.value}: a run was already in progress")
                continue
            except NotFound:
                raise StepFailed("the store was deleted") from None
            if sync_run.status is SyncStatus.FAILED:
                raise StepFailed(f"{kind.value} sync {sync_run.id} failed: {sync_run.error}")
            done.append(
                f"{kind.value} {sync_run.status.value}: {sync_run.created} created, "
                f"{sync_run.updated} updated, {sync_run.deactivated} deactivated"
            )
        return "; ".join(done)

    async def _drain(self) -> str:
        sent = await drain(self.database, self.connector, self.store_id, clock=self.clock)
        async with self.database.transaction(write=False) as session:
            store = await repository.store_for_system(session, self.store_id)
            waiting, _ = (
                await repository.waiting_orders(session, repository.SYSTEM, self.store_id)
                if store is not None
                else (0, None)
            )
        if waiting:
            raise StepFailed(f"sent {sent} order(s); {waiting} still waiting for the POS")
        return f"sent {sent} order(s); none waiting"

    async def _next_attempt(self, session: AsyncSession, failures: int, now: datetime) -> datetime:
        """When the next automatic run is due. While the breaker is open its own wait (which
        grows on each failed probe) is the backoff: the run comes as it lets probes through, so
        that the run's calls are the probes, whatever traffic the store has. Otherwise the
        run's own backoff with jitter."""
        breaker = await repository.breaker_row(session, self.store_id)
        if breaker is not None and breaker.open_until is not None and breaker.open_until > now:
            return breaker.open_until + timedelta(seconds=self.rng.uniform(0, 1))
        return now + timedelta(seconds=backoff_s(failures, self.rng))

    async def _finish(self, failure: str | None, began: float) -> RecoveryRun:
        now = self.clock.now()
        status = RecoveryStatus.FAILED if failure else RecoveryStatus.SUCCEEDED
        async with self.database.transaction() as session:
            run = await repository.recovery_run(session, self.run_id)
            assert run is not None
            run.status = status
            run.error = failure
            run.finished_at = now
            run.heartbeat_at = now
            run.updated_at = now
            await health.evaluate(session, self.store_id, now=now, trigger=Trigger.RECOVERY)
            row = await repository.locked_health(session, self.store_id)
            if row is not None:
                down = row.state in DOWN_STATES and HealthCause(row.cause) not in MANUAL_CAUSES
                if not down:
                    row.recovery_failures = 0
                    row.next_recovery_at = None
                elif row.next_recovery_at is None:
                    row.next_recovery_at = await self._next_attempt(
                        session, row.recovery_failures, now
                    )
                    if status is RecoveryStatus.FAILED:
                        row.recovery_failures += 1
        RECOVERY_RUNS.labels(run.trigger.value, status.value).inc()
        RECOVERY_RUN_DURATION.labels(run.trigger.value).observe(time.perf_counter() - began)
        (log.info if failure is None else log.warning)(
            "recovery_run_finished",
            store_id=str(self.store_id),
            recovery_run_id=str(self.run_id),
            trigger=run.trigger.value,
            status=status.value,
            error=failure,
        )
        return run
