"""Fixtures of the authentication tests."""

from __future__ import annotations

from typing import Any

import pytest

from ridgeline.auth import repository


@pytest.fixture
def key_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many kiosk keys each database read of keys looked up."""
    reads: list[int] = []
    original = repository.kiosk_keys_by_hashes

    async def counted(session: Any, hashes: Any) -> Any:
        reads.append(len(hashes))
        return await original(session, hashes)

    monkeypatch.setattr(repository, "kiosk_keys_by_hashes", counted)
    return reads
