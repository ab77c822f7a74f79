"""Silences: which alerts a silence's matchers select. An alert's labels are its `rule`, its
`severity` and its `store_id`; a silence matches an alert when every one of its matchers does
(`=` the label equals the value, `!=` it does not; an alert without a store has `store_id` "").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ridgeline.models.notification import AdminNotification, AlertSilence

Label = Literal["rule", "severity", "store_id"]


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: Label
    op: Literal["=", "!="] = "="
    value: str = Field(max_length=200)


def labels(alert: AdminNotification) -> dict[str, str]:
    return {
        "rule": alert.kind,
        "severity": alert.severity,
        "store_id": "" if alert.store_id is None else str(alert.store_id),
    }


def matches(matchers: Iterable[Matcher], alert: AdminNotification) -> bool:
    values = labels(alert)
    return all((values[m.label] == m.value) == (m.op == "=") for m in matchers)


def silencing(silences: Iterable[AlertSilence], alert: AdminNotification) -> AlertSilence | None:
    """The first of `silences` (all in force) that selects the alert."""
    for silence in silences:
        if matches((Matcher.model_validate(m) for m in silence.matchers), alert):
            return silence
    return None
