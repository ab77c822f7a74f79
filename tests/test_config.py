from __future__ import annotations

import pytest
from pydantic import ValidationError

from ridgeline.config import DEFAULT_SECRET_KEY, Environment, Settings

STRONG_SECRET = "k" * 48
ROTATED_KEYS = (
    "bmV3LWtleS1uZXctNDU2Nzg5MDEyMzQ1Njc4OTAxMjM=,b2xkLWtleS1vbGQtNDU2Nzg5MDEyMzQ1Njc4OTAxMjM="
)


def test_defaults_are_embedded_sqlite_on_port_3000(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RIDGELINE_DATABASE_URL", "RIDGELINE_REDIS_URL", "RIDGELINE_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite+aiosqlite:///var/")
    assert settings.port == 3000
    assert settings.embedded
    assert settings.worker_in_process


def test_environment_variables_configure_scaled_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_DATABASE_URL", "postgresql+psycopg://u@db/ridgeline")
    monkeypatch.setenv("RIDGELINE_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", ROTATED_KEYS)
    settings = Settings()
    assert not settings.is_sqlite
    assert not settings.embedded
    assert not settings.worker_in_process
    assert len(settings.encryption_keys) == 2


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="RIDGELINE_SECRET_KEY"):
        Settings(env=Environment.PRODUCTION, secret_key=DEFAULT_SECRET_KEY)
    with pytest.raises(ValidationError, match="RIDGELINE_SECRET_KEY"):
        Settings(env=Environment.PRODUCTION, secret_key="short")


def test_production_refuses_the_development_encryption_key() -> None:
    with pytest.raises(ValidationError, match="RIDGELINE_ENCRYPTION_KEYS"):
        Settings(env=Environment.PRODUCTION, secret_key=STRONG_SECRET)


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", ROTATED_KEYS)
    settings = Settings(env=Environment.PRODUCTION, secret_key=STRONG_SECRET)
    assert settings.env is Environment.PRODUCTION


def test_signing_keys_are_read_as_kid_secret_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_SIGNING_KEYS", f"k2:{'b' * 40}, k1:{'a' * 40}")
    assert Settings().signing_key_ring == [("k2", "b" * 40), ("k1", "a" * 40)]


def test_without_signing_keys_the_secret_key_signs_as_default() -> None:
    settings = Settings(secret_key=STRONG_SECRET)
    assert settings.signing_key_ring == [("default", STRONG_SECRET)]


@pytest.mark.parametrize(
    "keys",
    [
        f"k1:{'a' * 40},k1:{'b' * 40}",  # a kid twice
        f"{'a' * 40}",  # no kid
        f"bad kid:{'a' * 40}",
        f"{'k' * 41}:{'a' * 40}",
        "k1:",  # no secret
    ],
)
def test_malformed_signing_keys_are_refused(monkeypatch: pytest.MonkeyPatch, keys: str) -> None:
    monkeypatch.setenv("RIDGELINE_SIGNING_KEYS", keys)
    with pytest.raises(ValidationError, match="RIDGELINE_SIGNING_KEYS"):
        Settings()


def test_production_refuses_short_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIDGELINE_ENCRYPTION_KEYS", ROTATED_KEYS)
    monkeypatch.setenv("RIDGELINE_SIGNING_KEYS", f"k2:short,k1:{'a' * 40}")
    with pytest.raises(ValidationError, match="'k2' must be a random value"):
        Settings(env=Environment.PRODUCTION, secret_key=STRONG_SECRET)
    monkeypatch.setenv("RIDGELINE_SIGNING_KEYS", f"k2:{'b' * 40},k1:{'a' * 40}")
    assert len(Settings(env=Environment.PRODUCTION, secret_key=STRONG_SECRET).signing_keys) == 2
