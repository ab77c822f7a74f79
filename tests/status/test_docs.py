"""docs/status-page.md says what the code does: its components and its rules' thresholds."""

from __future__ import annotations

import re
from pathlib import Path

from ridgeline.status import rules
from ridgeline.status.components import COMPONENTS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "status-page.md").read_text()


def section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", DOC, re.S | re.M)
    assert match, title
    return match.group(1)


def test_the_components_table_lists_every_component() -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section("Components"), re.M)
    assert rows == [(spec.key, spec.name) for spec in COMPONENTS]


def test_the_rules_section_gives_the_codes_thresholds() -> None:
    text = section("Rules")
    percent = {f"{round(share * 100)}%" for share in (rules.SHARE_MAJOR, rules.SHARE_PARTIAL)}
    for figure in (
        *percent,
        f"{round(rules.SHARE_DEGRADED * 100)}%",
        f"{rules.BACKLOG_DEGRADED_S:.0f} s",
        f"{rules.BACKLOG_PARTIAL_S:.0f} s",
        f"{rules.API_ERROR_DEGRADED * 100:.0f}%",
        f"{rules.API_ERROR_PARTIAL * 100:.0f}%",
        f"{rules.API_ERROR_MAJOR * 100:.0f}%",
        f"{rules.API_P95_DEGRADED_S} s",
        f"{rules.API_MIN_REQUESTS} requests",
        f"{rules.ORDER_STUCK_S / 60:.0f} minutes",
    ):
        assert figure in text, figure
    for alert in rules.PLATFORM_ALERTS:
        assert f"`{alert}`" in text, alert
