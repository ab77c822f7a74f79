"""What the API takes and answers about alert configuration: rule settings and their
overrides, silences, and escalation policies."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field, field_validator

from ridgeline.alerts.rules import RULES, Severity
from ridgeline.alerts.silences import Matcher
from ridgeline.api.schemas import RequestBody

ORGANIZATION_ID_DESCRIPTION = "Required for platform admins; defaults to your organization."

# Rules.


class RuleSettingsOut(BaseModel):
    enabled: bool
    severity: Severity
    threshold: float | None
    for_s: int
    group_wait_s: int
    group_interval_s: int
    repeat_interval_s: int


class RuleOut(BaseModel):
    name: str
    summary: str
    source: Literal["event", "evaluated"]
    scope: Literal["store", "platform"] = Field(
        description="`platform`: raised only in the platform organization (Ridgeline's own "
        "health), so another organization's override of it has no effect."
    )
    threshold_unit: str | None
    runbook: str = Field(description="The section of docs/operations.md about this rule.")
    defaults: RuleSettingsOut
    organization_override: dict[str, Any] | None = Field(
        description="The settings the organization set (the others are inherited), or null."
    )
    store_override: dict[str, Any] | None = Field(
        description="The settings the store set, or null (always null without `store_id`)."
    )
    effective: RuleSettingsOut = Field(
        description="Store over organization over default, one field at a time."
    )


# Silences.


class SilenceState(StrEnum):
    PENDING = "pending"  # before `starts_at`
    ACTIVE = "active"
    EXPIRED = "expired"  # ended by an operator, or past `ends_at`


class SilenceCreate(RequestBody):
    organization_id: uuid.UUID | None = Field(default=None, description=ORGANIZATION_ID_DESCRIPTION)
    matchers: list[Matcher] = Field(
        min_length=1,
        max_length=10,
        description="All must match: `rule` (a rule name), `severity` (`info`, `warning`, "
        '`critical`) or `store_id` (a store id; "" for alerts without a store), with `=` or '
        "`!=`.",
    )
    starts_at: AwareDatetime | None = Field(default=None, description="Default: now.")
    ends_at: AwareDatetime = Field(
        description="After `starts_at` and now, at most 90 days after `starts_at`."
    )
    comment: str = Field(default="", max_length=1000)


class SilenceOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    ended_at: datetime | None = Field(description="When an operator ended it, if one did.")
    state: SilenceState
    created_at: datetime


# Escalation policies.


class EscalationLevel(RequestBody):
    delay_s: int = Field(
        ge=0, le=86400, description="Seconds after the level before it (level 0: must be 0)."
    )
    channel_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=10, description="Alert channels of the policy's organization."
    )

    @field_validator("channel_ids")
    @classmethod
    def _distinct_channels(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("a channel is named twice")
        return value


class PolicyBody(RequestBody):
    """The whole policy (a PUT replaces all of it)."""

    name: str = Field(min_length=1, max_length=100)
    levels: list[EscalationLevel] = Field(min_length=1, max_length=10)
    rules: list[str] = Field(
        default_factory=list,
        max_length=len(RULES),
        description="The rules it covers; empty: the organization's default policy, for every "
        "rule no other policy names. A rule may be named by one policy only.",
    )

    @field_validator("levels")
    @classmethod
    def _first_level_at_once(cls, value: list[EscalationLevel]) -> list[EscalationLevel]:
        if value and value[0].delay_s != 0:
            raise ValueError("the first level's delay_s must be 0")
        return value

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in RULES]
        if unknown:
            raise ValueError(f"unknown rule(s): {', '.join(unknown)}")
        if len(set(value)) != len(value):
            raise ValueError("a rule is named twice")
        return value


class PolicyCreate(PolicyBody):
    organization_id: uuid.UUID | None = Field(default=None, description=ORGANIZATION_ID_DESCRIPTION)


class EscalationLevelOut(BaseModel):
    delay_s: int
    channel_ids: list[uuid.UUID]


class PolicyOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    levels: list[EscalationLevelOut]
    rules: list[str]
    created_at: datetime
    updated_at: datetime
