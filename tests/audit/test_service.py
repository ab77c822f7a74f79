"""What an event keeps of an action's before and after: the changed fields only, and never a
secret, whether the value is a `SecretStr`, a field named like a secret, or already masked."""

from __future__ import annotations

from pydantic import BaseModel, SecretStr

from ridgeline.audit.service import REDACTED, changed_fields, snapshot


class Account(BaseModel):
    name: str
    password: SecretStr | None = None
    nested: dict[str, object] = {}


def test_only_changed_fields_are_kept_each_side_with_its_own() -> None:
    before = {"name": "a", "city": "x", "updated_at": "t1", "gone": 1}
    after = {"name": "b", "city": "x", "updated_at": "t2", "new": 2}
    assert changed_fields(before, after) == {
        "before": {"name": "a", "gone": 1},
        "after": {"name": "b", "new": 2},
    }
    assert changed_fields(before, before) == {"before": {}, "after": {}}


def test_secrets_are_redacted_wherever_they_are() -> None:
    account = Account(
        name="ops",
        password=SecretStr("hunter2-hunter2"),
        nested={
            "api_key": "k-123",
            "oauth_client_secret": "s-456",
            "refresh_token": "t-789",
            "key": "rk_live",
            "url": "********",  # a secret our schemas already mask
            "items": [{"consumer_key": "c-1", "base_url": "https://pos.example"}],
        },
    )
    shown = snapshot(account)
    assert shown == {
        "name": "ops",
        "password": REDACTED,
        "nested": {
            "api_key": REDACTED,
            "oauth_client_secret": REDACTED,
            "refresh_token": REDACTED,
            "key": REDACTED,
            "url": REDACTED,
            "items": [{"consumer_key": REDACTED, "base_url": "https://pos.example"}],
        },
    }
    for secret in ("hunter2", "k-123", "s-456", "t-789", "rk_live", "c-1"):
        assert secret not in str(shown)


def test_an_unset_secret_stays_null_and_names_that_only_contain_key_are_kept() -> None:
    assert snapshot({"password": None, "key_prefix": "rk_ab", "monkey": "m"}) == {
        "password": None,
        "key_prefix": "rk_ab",
        "monkey": "m",
    }
