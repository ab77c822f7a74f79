"""POS credentials at rest: Fernet with rotatable keys (RIDGELINE_ENCRYPTION_KEYS).

The first key encrypts; every key decrypts, so keys rotate by putting the new key first, then
re-encrypting (`rotate`) and finally dropping the old key.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError

from ridgeline.pos.base import PosConfig


class CredentialsUnusable(Exception):
    """The store's stored credentials cannot be used: no call goes to its POS with them until
    an operator acts."""


class CredentialsUnreadable(CredentialsUnusable):
    """The stored credentials cannot be decrypted with any configured key (a key was dropped
    too early) or no longer match the adapter's model."""


class CredentialsRefused(CredentialsUnusable):
    """The POS refused these credentials (401/403): no automatic call uses them again until new
    ones are saved (`PUT /api/v1/stores/{id}/pos`), which is the manual recovery procedure."""

    code = "CREDENTIALS_REFUSED"

    def __init__(self, store_id: uuid.UUID, refused_at: datetime) -> None:
        super().__init__(
            f"the POS refused the credentials of store {store_id} at {refused_at.isoformat()}; "
            "save new ones to resume"
        )
        self.store_id = store_id
        self.refused_at = refused_at


class CredentialCipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ValueError(
                "RIDGELINE_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes)"
            ) from exc

    def encrypt(self, config: PosConfig) -> str:
        plain = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in config
        }
        return self._fernet.encrypt(json.dumps(plain).encode()).decode()

    def decrypt(self, token: str, model: type[PosConfig]) -> PosConfig:
        try:
            plain: dict[str, Any] = json.loads(self._fernet.decrypt(token.encode()))
            return model.model_validate(plain)
        except (InvalidToken, ValueError, ValidationError) as exc:
            raise CredentialsUnreadable(
                "stored POS credentials cannot be read with the configured keys"
            ) from exc

    def rotate(self, token: str) -> str:
        """The same credentials, encrypted with the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise CredentialsUnreadable("stored POS credentials cannot be read") from exc
