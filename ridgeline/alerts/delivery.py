"""Deliveries: a notification queued for each channel, sent by its own job, every attempt
recorded (reliability.md point 18).

`enqueue_notification` inserts, in the caller's transaction, one `AlertDelivery` and one
`alerts.deliver` job per channel: a channel that fails or hangs holds only its own job (each
attempt is bounded by the channel's `timeout_s`), never the others'. A failed attempt is
recorded, then raised, so the job system retries it with its backoff (full jitter) until
`MAX_ATTEMPTS`; the last failure makes the delivery `dead`.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.alerts.channel_schemas import DeliveryAttemptOut, DeliveryOut, QueuedTest
from ridgeline.alerts.channels import (
    ChannelCipher,
    ChannelConfig,
    ConfigUnreadable,
    EmailConfig,
    Notification,
    NotificationState,
    PagerDutyConfig,
    SlackConfig,
    WebhookConfig,
    email_message,
    get_channel,
    notification_document,
    pagerduty_body,
    slack_body,
    webhook_body,
    webhook_headers,
)
from ridgeline.alerts.metrics import ALERT_DELIVERY_ATTEMPTS
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.clock import Clock
from ridgeline.db.engine import Database
from ridgeline.db.tenancy import TenantScope
from ridgeline.jobs import JobPayload, PermanentFailure, enqueue
from ridgeline.models.alert_channel import (
    AlertChannel,
    AlertDelivery,
    AlertDeliveryAttempt,
    ChannelKind,
    DeliveryStatus,
)
from ridgeline.outbound import GuardedTransport, OutboundPolicy
from ridgeline.realtime import streams

log = structlog.get_logger(__name__)

DELIVER_JOB = "alerts.deliver"
MAX_ATTEMPTS = 5
ERROR_MAX = 500  # characters of an error or a receiver's answer kept per attempt


class DeliverPayload(JobPayload):
    organization_id: uuid.UUID
    delivery_id: uuid.UUID


class DeliveryFailed(Exception):
    """An attempt failed (already recorded): raised so that the job system retries it."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: float


# Queueing.


async def enqueue_notification(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    notification: Notification,
    clock: Clock,
    channel_ids: Sequence[uuid.UUID] | None = None,
    group_id: uuid.UUID | None = None,
) -> list[AlertDelivery]:
    """Queues `notification` to each enabled channel of the organization (only those of
    `channel_ids` when given; another organization's ids are ignored), in the caller's
    transaction: one delivery and one job per channel, committed with the caller's change."""
    channels = await repository.enabled_channels(session, organization_id, channel_ids)
    return [
        await _queue(session, channel, notification, clock=clock, group_id=group_id)
        for channel in channels
    ]


async def _queue(
    session: AsyncSession,
    channel: AlertChannel,
    notification: Notification,
    *,
    clock: Clock,
    group_id: uuid.UUID | None = None,
) -> AlertDelivery:
    now = clock.now()
    row = AlertDelivery(
        id=uuid.uuid4(),
        organization_id=channel.organization_id,
        channel_id=channel.id,
        group_id=group_id,
        alert_id=notification.alert_ids[0] if notification.alert_ids else None,
        dedup_key=notification.dedup_key,
        notification=notification_document(notification),
        status=DeliveryStatus.QUEUED,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    await repository.add_row(session, row)
    payload = DeliverPayload(organization_id=channel.organization_id, delivery_id=row.id)
    await enqueue(
        session,
        DELIVER_JOB,
        payload.model_dump(mode="json"),
        clock=clock,
        max_attempts=MAX_ATTEMPTS,
        dedupe_key=f"{DELIVER_JOB}:{row.id}",
    )
    return row


async def send_test(
    session: AsyncSession, scope: TenantScope, channel_id: uuid.UUID, *, clock: Clock
) -> QueuedTest:
    """Queues a test notification to the channel (enabled or not)."""
    channel = await get_channel(session, scope, channel_id)
    now = clock.now()
    notification = Notification(
        title="Test notification from Ridgeline",
        message=f"The alert channel '{channel.name}' works: this is what an alert looks like.",
        severity="info",
        state=NotificationState.FIRING,
        dedup_key=f"test:{channel.id}:{uuid.uuid4().hex}",
        at=now,
        test=True,
    )
    row = await _queue(session, channel, notification, clock=clock)
    return QueuedTest(delivery_id=row.id, status=row.status)


async def list_deliveries(
    session: AsyncSession, scope: TenantScope, channel_id: uuid.UUID, page: PageRequest
) -> tuple[list[DeliveryOut], str | None]:
    """The channel's deliveries, newest first, each with every attempt."""
    channel = await get_channel(session, scope, channel_id)
    result = await paginate(
        session, repository.deliveries(scope, channel.id), AlertDelivery, page, newest_first=True
    )
    attempts: dict[uuid.UUID, list[DeliveryAttemptOut]] = {}
    for attempt in await repository.attempts_of(session, scope, [r.id for r in result.items]):
        attempts.setdefault(attempt.delivery_id, []).append(
            DeliveryAttemptOut(
                attempt=attempt.attempt,
                at=attempt.at,
                outcome=attempt.outcome,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
        )
    views = [
        DeliveryOut(
            id=row.id,
            channel_id=row.channel_id,
            alert_id=row.alert_id,
            dedup_key=row.dedup_key,
            status=row.status,
            attempts=row.attempts,
            status_code=row.status_code,
            error=row.error,
            duration_ms=row.duration_ms,
            created_at=row.created_at,
            sent_at=row.sent_at,
            notification=row.notification,
            attempt_log=attempts.get(row.id, []),
        )
        for row in result.items
    ]
    return views, result.next_cursor


# Sending (one attempt of one delivery: the `alerts.deliver` job).


async def attempt_delivery(
    database: Database,
    cipher: ChannelCipher,
    payload: DeliverPayload,
    *,
    attempt: int,
    last_attempt: bool,
    clock: Clock,
    policy: OutboundPolicy,
) -> None:
    """One attempt, recorded. Returns when sent (or already finished); raises `DeliveryFailed`
    after recording a failure, for the job system to retry (on the last attempt the delivery is
    recorded `dead` first)."""
    organization_id, delivery_id = payload.organization_id, payload.delivery_id
    async with database.transaction(write=False) as session:
        delivery = await repository.delivery(session, organization_id, delivery_id)
        if delivery is None or delivery.status in (DeliveryStatus.SENT, DeliveryStatus.DEAD):
            return  # deleted with its channel, or a rerun after the outcome was saved
        channel = await get_channel(
            session, TenantScope(organization_id=organization_id), delivery.channel_id
        )
        notification = Notification.model_validate(delivery.notification)
    try:
        config = cipher.decrypt(channel.config_encrypted, channel.kind)
    except ConfigUnreadable as exc:
        failed = _failed(str(exc), 0.0)
        await _record(database, payload, channel.kind, attempt, failed, dead=True, clock=clock)
        raise PermanentFailure(str(exc)) from None
    if not channel.enabled and not notification.test:
        outcome = _failed("the channel is disabled", 0.0)
        await _record(database, payload, channel.kind, attempt, outcome, dead=True, clock=clock)
        return
    if channel.kind is ChannelKind.OPS:
        # The stream message and the attempt's record commit together.
        started = time.perf_counter()
        async with database.transaction() as session:
            await streams.append(
                session,
                streams.ops_stream(organization_id),
                "alert.notification",
                {"delivery_id": str(delivery_id), **notification_document(notification)},
                at=clock.now(),
            )
            outcome = Outcome(True, None, None, _elapsed_ms(started))
            await _save(session, payload, channel.kind, attempt, outcome, dead=False, clock=clock)
        return
    outcome = await send(
        channel.kind, config, notification, delivery_id=delivery_id, clock=clock, policy=policy
    )
    await _record(database, payload, channel.kind, attempt, outcome, dead=last_attempt, clock=clock)
    if not outcome.ok:
        log.warning(
            "alert_delivery_failed",
            delivery_id=str(delivery_id),
            channel_id=str(channel.id),
            kind=channel.kind.value,
            attempt=attempt,
            status_code=outcome.status_code,
            error=outcome.error,
        )
        raise DeliveryFailed(outcome.error or "delivery failed")


async def send(
    kind: ChannelKind,
    config: ChannelConfig,
    notification: Notification,
    *,
    delivery_id: uuid.UUID,
    clock: Clock,
    policy: OutboundPolicy,
) -> Outcome:
    """One call to the receiver, bounded by the channel's `timeout_s`, to an address `policy`
    allows; secrets are scrubbed from whatever error it reports."""
    timeout_s = getattr(config, "timeout_s", 10.0)
    started = time.perf_counter()
    status_code: int | None = None
    try:
        async with asyncio.timeout(timeout_s):
            if isinstance(config, WebhookConfig):
                body = webhook_body(notification, delivery_id=str(delivery_id))
                timestamp = str(int(clock.now().timestamp()))
                headers = webhook_headers(config.secret.get_secret_value(), timestamp, body)
                status_code, error = await _post(config.url, body, headers, timeout_s, policy)
            elif isinstance(config, SlackConfig):
                status_code, error = await _post_json(
                    config.url.get_secret_value(), slack_body(notification), timeout_s, policy
                )
            elif isinstance(config, PagerDutyConfig):
                status_code, error = await _post_json(
                    config.url, pagerduty_body(notification, config), timeout_s, policy
                )
            elif isinstance(config, EmailConfig):
                status_code = await asyncio.to_thread(_send_mail, config, notification, policy)
                error = None
            else:
                raise TypeError(f"no sender for channel kind {kind}")
    except TimeoutError:
        error = f"timed out after {timeout_s:g} s"
    except smtplib.SMTPResponseException as exc:
        status_code, error = exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
    except (httpx.HTTPError, smtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = _elapsed_ms(started)
    if error is None:
        return Outcome(True, status_code, None, duration_ms)
    return Outcome(False, status_code, config.scrub(error)[:ERROR_MAX], duration_ms)


async def _post_json(
    url: str, document: object, timeout_s: float, policy: OutboundPolicy
) -> tuple[int, str | None]:
    body = httpx.Request("POST", url, json=document).content
    return await _post(url, body, {"Content-Type": "application/json"}, timeout_s, policy)


async def _post(
    url: str, body: bytes, headers: dict[str, str], timeout_s: float, policy: OutboundPolicy
) -> tuple[int, str | None]:
    """The receiver's status, and an error unless it is 2xx (with the start of its answer)."""
    headers = {**headers, "User-Agent": "Ridgeline-Alerts/1"}
    transport = GuardedTransport(policy, httpx.AsyncHTTPTransport())
    async with httpx.AsyncClient(
        timeout=timeout_s, follow_redirects=False, transport=transport
    ) as client:
        response = await client.post(url, content=body, headers=headers)
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


def _send_mail(config: EmailConfig, notification: Notification, policy: OutboundPolicy) -> int:
    """Sends the message (blocking: run in a thread); the server's 250 on success."""
    policy.check_blocking(config.host)
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if config.security == "tls":
        smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)
    with smtp:
        if config.security == "starttls":
            smtp.starttls(context=context)
        if config.username is not None and config.password is not None:
            smtp.login(config.username, config.password.get_secret_value())
        smtp.send_message(email_message(notification, config))
    return 250  # send_message raises on anything but the server accepting the message


def _failed(error: str, duration_ms: float) -> Outcome:
    return Outcome(False, None, error, duration_ms)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def _record(
    database: Database,
    payload: DeliverPayload,
    kind: ChannelKind,
    attempt: int,
    outcome: Outcome,
    *,
    dead: bool,
    clock: Clock,
) -> None:
    async with database.transaction() as session:
        await _save(session, payload, kind, attempt, outcome, dead=dead, clock=clock)


async def _save(
    session: AsyncSession,
    payload: DeliverPayload,
    kind: ChannelKind,
    attempt: int,
    outcome: Outcome,
    *,
    dead: bool,
    clock: Clock,
) -> None:
    """The attempt's record, and the delivery's status after it."""
    row = await repository.delivery_for_update(
        session, payload.organization_id, payload.delivery_id
    )
    if row is None:
        return
    now = clock.now()
    await repository.add_attempt(
        session,
        AlertDeliveryAttempt(
            organization_id=row.organization_id,
            delivery_id=row.id,
            attempt=max(attempt, row.attempts + 1),
            at=now,
            outcome="sent" if outcome.ok else "failed",
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        ),
    )
    row.attempts = max(attempt, row.attempts + 1)
    row.status_code = outcome.status_code
    row.error = outcome.error
    row.duration_ms = outcome.duration_ms
    row.updated_at = now
    if outcome.ok:
        row.status = DeliveryStatus.SENT
        row.sent_at = now
    else:
        row.status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
    ALERT_DELIVERY_ATTEMPTS.labels(channel_kind=kind.value, outcome=row.status.value).inc()
