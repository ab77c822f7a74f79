"""Alert jobs: `alerts.deliver` makes one attempt at one delivery (alerts/delivery.py);
`alerts.notify`, every `NOTIFY_EVERY_S`, fires pending alerts whose `for` elapsed and flushes
the notification groups (alerts/grouping.py); `alerts.evaluate`, every `EVALUATE_EVERY_S`,
judges the evaluated rules (alerts/evaluation.py)."""

from __future__ import annotations

from ridgeline.alerts import grouping, service
from ridgeline.alerts.channels import ChannelCipher
from ridgeline.alerts.delivery import DELIVER_JOB, DeliverPayload, attempt_delivery
from ridgeline.alerts.evaluation import evaluate_rules
from ridgeline.alerts.rules import EVALUATE_EVERY_S
from ridgeline.clock import Clock
from ridgeline.config import Settings
from ridgeline.db.engine import Database
from ridgeline.jobs import JobContext, JobRegistry, NoPayload, Schedule, ServiceKey
from ridgeline.outbound import OutboundPolicy

CHANNEL_CIPHER: ServiceKey[ChannelCipher] = ServiceKey("alert_channel_cipher")
# Where channels may send (ridgeline/outbound.py), from the process's settings.
OUTBOUND_POLICY: ServiceKey[OutboundPolicy] = ServiceKey("outbound_policy")
# Covers a channel's longest attempt (`timeout_s` at most 30 s) and the recording around it.
DELIVER_TIMEOUT_S = 90.0
NOTIFY_JOB = "alerts.notify"
NOTIFY_TIMEOUT_S = 120.0
EVALUATE_JOB = "alerts.evaluate"
EVALUATE_TIMEOUT_S = 120.0

alert_tasks = JobRegistry()


def channel_cipher(settings: Settings) -> ChannelCipher:
    return ChannelCipher(settings.encryption_keys)


def alert_schedules() -> list[Schedule]:
    # Priority -1: a notification's timing should not wait behind a backlog of sync jobs.
    return [
        Schedule(NOTIFY_JOB, grouping.NOTIFY_EVERY_S, priority=-1),
        Schedule(EVALUATE_JOB, EVALUATE_EVERY_S),
    ]


@alert_tasks.handler(DELIVER_JOB, timeout_s=DELIVER_TIMEOUT_S, payload=DeliverPayload)
async def deliver_notification(ctx: JobContext, payload: DeliverPayload) -> None:
    cipher = (
        ctx.services.get(CHANNEL_CIPHER)
        if CHANNEL_CIPHER in ctx.services
        else channel_cipher(Settings())
    )
    policy = (
        ctx.services.get(OUTBOUND_POLICY)
        if OUTBOUND_POLICY in ctx.services
        else OutboundPolicy.from_settings(Settings())
    )
    await attempt_delivery(
        ctx.database,
        cipher,
        payload,
        policy=policy,
        attempt=ctx.attempt,
        last_attempt=ctx.is_last_attempt,
        clock=ctx.clock,
    )


@alert_tasks.handler(NOTIFY_JOB, timeout_s=NOTIFY_TIMEOUT_S, payload=NoPayload)
async def notify(ctx: JobContext, payload: NoPayload) -> None:
    await run_notify(ctx.database, ctx.clock)


@alert_tasks.handler(EVALUATE_JOB, timeout_s=EVALUATE_TIMEOUT_S, payload=NoPayload)
async def evaluate(ctx: JobContext, payload: NoPayload) -> None:
    await evaluate_rules(ctx.database, clock=ctx.clock)


async def run_notify(database: Database, clock: Clock) -> grouping.FlushResult:
    """Fires what is due, then flushes every open group (also what tests call)."""
    async with database.transaction() as session:
        await service.fire_due(session, at=clock.now())
    return await grouping.flush_groups(database, clock=clock)
