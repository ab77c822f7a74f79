"""Notification channels: what a notification is, each kind's config (validated, stored
encrypted, answered redacted), and how each kind renders a notification on the wire.

Nothing here talks to the network or the database: `delivery.py` sends what these functions
render, and records how it went. docs/alerting.md shows every payload.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import uuid
from datetime import datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ridgeline.alerts import repository
from ridgeline.alerts.channel_schemas import ChannelCreate, ChannelOut, ChannelUpdate
from ridgeline.api.pagination import PageRequest, paginate
from ridgeline.auth.principal import OperatorPrincipal
from ridgeline.db.tenancy import TenantScope
from ridgeline.errors import NotFound, ValidationFailed
from ridgeline.models.alert_channel import AlertChannel, ChannelKind
from ridgeline.secretbox import SecretBox, Unsealable
from ridgeline.stores.service import get_organization

REDACTED = "********"
SIGNATURE_HEADER = "X-Ridgeline-Signature"
TIMESTAMP_HEADER = "X-Ridgeline-Timestamp"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
HTTP_URL = r"^https?://[^\s]+$"


class NotificationState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Notification(BaseModel):
    """What a channel is told about one alert or a group of alerts. `dedup_key` is what makes
    two notifications about the same thing (PagerDuty's `dedup_key`): the alert's or the
    group's key, so that `resolved` closes what `firing` opened."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)
    message: str = Field(max_length=4000)
    severity: Literal["info", "warning", "critical"]
    state: NotificationState
    dedup_key: str = Field(min_length=1, max_length=255)
    alert_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    store_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    at: AwareDatetime
    link_url: str | None = Field(default=None, pattern=HTTP_URL, max_length=1000)
    test: bool = False  # sent by POST /api/v1/alert-channels/{id}/test


# Configs, one model per kind.


class ChannelConfig(BaseModel):
    """Base of every kind's config. Secrets are `SecretStr`, so they never print."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def redacted(self) -> dict[str, Any]:
        """The config as operators may see it: secrets replaced by a marker."""
        return {
            name: REDACTED if isinstance(value, SecretStr) else _plain(value)
            for name, value in self
        }

    def secrets(self) -> list[str]:
        """The secret values, to be scrubbed from any error text that might echo them."""
        return [
            value.get_secret_value()
            for _, value in self
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]

    def scrub(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class CalledChannelConfig(ChannelConfig):
    timeout_s: float = Field(default=10.0, gt=0, le=30, description="Per attempt, whole call.")


def _check_http_url(value: SecretStr) -> SecretStr:
    plain = value.get_secret_value()
    if not plain.startswith(("http://", "https://")) or any(c.isspace() for c in plain):
        raise ValueError("must be an http:// or https:// URL")
    return value


class WebhookConfig(CalledChannelConfig):
    url: str = Field(pattern=HTTP_URL, max_length=1000)
    secret: SecretStr = Field(min_length=16, max_length=200, description="HMAC-SHA256 key.")


class SlackConfig(CalledChannelConfig):
    # An incoming-webhook URL carries its own token: it is a secret.
    url: SecretStr = Field(max_length=1000)

    _url = field_validator("url")(_check_http_url)


class PagerDutyConfig(CalledChannelConfig):
    routing_key: SecretStr = Field(min_length=1, max_length=100)
    url: str = Field(default=PAGERDUTY_EVENTS_URL, pattern=HTTP_URL, max_length=1000)
    source: str = Field(default="ridgeline", min_length=1, max_length=255)


class EmailConfig(CalledChannelConfig):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    # starttls: plain connection upgraded (port 587); tls: TLS from the start (465); none: no
    # encryption at all (a relay on the same host only).
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = Field(default=None, max_length=255)
    password: SecretStr | None = Field(default=None, max_length=255)
    from_address: EmailStr
    to_addresses: list[EmailStr] = Field(min_length=1, max_length=20)


class OpsConfig(ChannelConfig):
    """The organization's ops stream: nothing to configure."""


CONFIG_MODELS: dict[ChannelKind, type[ChannelConfig]] = {
    ChannelKind.WEBHOOK: WebhookConfig,
    ChannelKind.SLACK: SlackConfig,
    ChannelKind.PAGERDUTY: PagerDutyConfig,
    ChannelKind.EMAIL: EmailConfig,
    ChannelKind.OPS: OpsConfig,
}


def parse_config(kind: ChannelKind, raw: dict[str, Any]) -> ChannelConfig:
    """The kind's config; pydantic's `ValidationError` when it does not fit."""
    return CONFIG_MODELS[kind].model_validate(raw)


def with_kept_secrets(raw: dict[str, Any], stored: ChannelConfig) -> dict[str, Any]:
    """`raw` with each secret sent back as `********` replaced by the stored one, so that a
    client can send back the config it read and change only what it means to."""
    kept = dict(raw)
    for name, value in stored:
        if kept.get(name) == REDACTED and isinstance(value, SecretStr):
            kept[name] = value.get_secret_value()
    return kept


class ConfigUnreadable(Exception):
    """The stored config cannot be decrypted with any configured key, or no longer fits."""


class ChannelCipher:
    """A channel's config, secrets included, sealed in one token (ridgeline/secretbox.py: the
    keys and rotation rule of POS credentials)."""

    def __init__(self, keys: list[str]) -> None:
        self._box = SecretBox(keys)

    def encrypt(self, config: ChannelConfig) -> str:
        return self._box.seal(config)

    def decrypt(self, token: str, kind: ChannelKind) -> ChannelConfig:
        try:
            return parse_config(kind, self._box.open(token))
        except (Unsealable, ValueError, ValidationError) as exc:
            raise ConfigUnreadable("the channel's stored config cannot be read") from exc

    def rotate(self, token: str) -> str:
        """The same config, sealed under the first (newest) key."""
        try:
            return self._box.rotate(token)
        except Unsealable as exc:
            raise ConfigUnreadable("the channel's stored config cannot be read") from exc


# Rendering.


def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def notification_document(notification: Notification) -> dict[str, Any]:
    return notification.model_dump(mode="json")


def webhook_body(notification: Notification, *, delivery_id: str) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted."""
    document = {
        "type": "alert.notification",
        "delivery_id": delivery_id,
        "notification": notification_document(notification),
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`v1=` and the hex HMAC-SHA256 of `{timestamp}.{body}` under the channel's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def webhook_headers(secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


_STATE_EMOJI = {
    NotificationState.FIRING: ":rotating_light:",
    NotificationState.ACKNOWLEDGED: ":eyes:",
    NotificationState.RESOLVED: ":white_check_mark:",
}


def headline(notification: Notification) -> str:
    test = "[TEST] " if notification.test else ""
    return f"{test}[{notification.state.upper()}] {notification.title}"


def slack_body(notification: Notification) -> dict[str, Any]:
    """Slack's incoming-webhook shape: `text` (notifications, fallbacks) and Block Kit blocks."""
    facts = [f"*Severity:* {notification.severity}", f"*At:* {_stamp(notification.at)}"]
    if notification.store_ids:
        facts.append(f"*Stores:* {', '.join(map(str, notification.store_ids))}")
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{_STATE_EMOJI[notification.state]} *{headline(notification)}*\n"
                f"{notification.message}"[:3000],
            },
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fact} for fact in facts]},
    ]
    if notification.link_url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Ridgeline"},
                        "url": notification.link_url,
                    }
                ],
            }
        )
    return {"text": headline(notification), "blocks": blocks}


_PAGERDUTY_ACTIONS = {
    NotificationState.FIRING: "trigger",
    NotificationState.ACKNOWLEDGED: "acknowledge",
    NotificationState.RESOLVED: "resolve",
}


def pagerduty_body(notification: Notification, config: PagerDutyConfig) -> dict[str, Any]:
    """An Events API v2 event: `trigger`, `acknowledge` or `resolve` of `dedup_key`."""
    body: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": _PAGERDUTY_ACTIONS[notification.state],
        "dedup_key": notification.dedup_key,
        "payload": {
            "summary": headline(notification)[:1024],
            "severity": notification.severity,  # info, warning, critical: all PagerDuty's
            "source": config.source,
            "timestamp": _stamp(notification.at),
            "custom_details": {
                "message": notification.message,
                "alert_ids": [str(alert_id) for alert_id in notification.alert_ids],
                "store_ids": [str(store_id) for store_id in notification.store_ids],
            },
        },
        "client": "Ridgeline",
    }
    if notification.link_url:
        body["client_url"] = notification.link_url
        body["links"] = [{"href": notification.link_url, "text": "Open in Ridgeline"}]
    return body


def email_message(notification: Notification, config: EmailConfig) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[{notification.severity}] {headline(notification)}"[:250]
    message["From"] = config.from_address
    message["To"] = ", ".join(config.to_addresses)
    lines = [
        headline(notification),
        "",
        notification.message,
        "",
        f"Severity: {notification.severity}",
        f"State: {notification.state}",
        f"At: {_stamp(notification.at)}",
    ]
    if notification.store_ids:
        lines.append(f"Stores: {', '.join(map(str, notification.store_ids))}")
    if notification.alert_ids:
        lines.append(f"Alerts: {', '.join(map(str, notification.alert_ids))}")
    if notification.link_url:
        lines.append(f"Open: {notification.link_url}")
    message.set_content("\n".join(lines) + "\n")
    return message


# Channel CRUD (the rules; endpoints call these, the request boundary commits).


def _config_errors(exc: ValidationError) -> ValidationFailed:
    # Only where and why: pydantic's `input` would echo a secret back.
    return ValidationFailed.for_fields(
        [
            {
                "loc": ["body", "config", *map(str, err["loc"])],
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
    )


def _validated(kind: ChannelKind, raw: dict[str, Any]) -> ChannelConfig:
    try:
        return parse_config(kind, raw)
    except ValidationError as exc:
        raise _config_errors(exc) from None


def describe(row: AlertChannel, cipher: ChannelCipher) -> ChannelOut:
    """The channel as operators see it; a config that cannot be read shows as `{}`."""
    try:
        config = cipher.decrypt(row.config_encrypted, row.kind).redacted()
    except ConfigUnreadable:
        config = {}
    return ChannelOut(
        id=row.id,
        organization_id=row.organization_id,
        name=row.name,
        kind=row.kind,
        config=config,
        enabled=row.enabled,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def get_channel(
    session: AsyncSession, scope: TenantScope, channel_id: uuid.UUID
) -> AlertChannel:
    row = await repository.channel(session, scope, channel_id)
    if row is None:
        raise NotFound("alert_channel", channel_id)
    return row


async def create_channel(
    session: AsyncSession,
    caller: OperatorPrincipal,
    body: ChannelCreate,
    *,
    cipher: ChannelCipher,
    now: datetime,
) -> AlertChannel:
    organization_id = body.organization_id or caller.organization_id
    if organization_id is None:
        raise ValidationFailed.for_fields(
            [{"loc": ["body", "organization_id"], "message": "Field required", "type": "missing"}]
        )
    organization = await get_organization(session, caller.scope, organization_id)
    config = _validated(body.kind, body.config)
    row = AlertChannel(
        id=uuid.uuid4(),
        organization_id=organization.id,
        name=body.name,
        kind=body.kind,
        config_encrypted=cipher.encrypt(config),
        enabled=body.enabled,
        created_at=now,
        updated_at=now,
    )
    await repository.add_row(session, row)
    return row


async def update_channel(
    session: AsyncSession,
    scope: TenantScope,
    channel_id: uuid.UUID,
    body: ChannelUpdate,
    *,
    cipher: ChannelCipher,
    now: datetime,
) -> AlertChannel:
    row = await get_channel(session, scope, channel_id)
    raw = body.config
    # Unreadable: nothing to keep, every secret must be sent again.
    with contextlib.suppress(ConfigUnreadable):
        raw = with_kept_secrets(raw, cipher.decrypt(row.config_encrypted, row.kind))
    row.name = body.name
    row.enabled = body.enabled
    row.config_encrypted = cipher.encrypt(_validated(row.kind, raw))
    row.updated_at = now
    await session.flush()
    return row


async def delete_channel(session: AsyncSession, scope: TenantScope, channel_id: uuid.UUID) -> None:
    """Deletes the channel with its delivery history; its queued deliveries are dropped."""
    await repository.remove_channel(session, await get_channel(session, scope, channel_id))


async def list_channels(
    session: AsyncSession, scope: TenantScope, page: PageRequest, cipher: ChannelCipher
) -> tuple[list[ChannelOut], str | None]:
    result = await paginate(session, repository.channels(scope), AlertChannel, page)
    return [describe(row, cipher) for row in result.items], result.next_cursor
