"""Alert jobs: `alerts.deliver` makes one attempt at one delivery (alerts/delivery.py)."""

from __future__ import annotations

from ridgeline.alerts.channels import ChannelCipher
from ridgeline.alerts.delivery import DELIVER_JOB, DeliverPayload, attempt_delivery
from ridgeline.config import Settings
from ridgeline.jobs import JobContext, JobRegistry, ServiceKey

CHANNEL_CIPHER: ServiceKey[ChannelCipher] = ServiceKey("alert_channel_cipher")
# Covers a channel's longest attempt (`timeout_s` at most 30 s) and the recording around it.
DELIVER_TIMEOUT_S = 90.0

alert_tasks = JobRegistry()


def channel_cipher(settings: Settings) -> ChannelCipher:
    return ChannelCipher(settings.encryption_keys)


@alert_tasks.handler(DELIVER_JOB, timeout_s=DELIVER_TIMEOUT_S, payload=DeliverPayload)
async def deliver_notification(ctx: JobContext, payload: DeliverPayload) -> None:
    cipher = (
        ctx.services.get(CHANNEL_CIPHER)
        if CHANNEL_CIPHER in ctx.services
        else channel_cipher(Settings())
    )
    await attempt_delivery(
        ctx.database,
        cipher,
        payload,
        attempt=ctx.attempt,
        last_attempt=ctx.is_last_attempt,
        clock=ctx.clock,
    )
