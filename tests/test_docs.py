"""The docs that operators rely on stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from ridgeline import errors

ROOT = Path(__file__).resolve().parent.parent


def _error_classes() -> list[type[errors.RidgelineError]]:
    found: list[type[errors.RidgelineError]] = []
    pending: list[type[errors.RidgelineError]] = [errors.RidgelineError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_every_error_code_is_documented_with_its_status() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    documented = {
        code: int(status)
        for status, code in re.findall(r"^\| (\d{3}) \| `([A-Z_]+)` \|", text, re.M)
    }
    for cls in _error_classes():
        assert cls.code in documented, f"{cls.code} is missing from docs/errors.md"
        assert documented[cls.code] == cls.status_code, cls.code


def test_documented_codes_all_exist() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    codes = {cls.code for cls in _error_classes()}
    for code in re.findall(r"^\| \d{3} \| `([A-Z_]+)` \|", text, re.M):
        assert code in codes, f"docs/errors.md documents {code}, which no error class has"
