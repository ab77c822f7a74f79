"""POS credentials at rest (sealed with ridgeline/secretbox.py: the first key of
RIDGELINE_ENCRYPTION_KEYS encrypts, every key decrypts, `rotate` reseals under the first), and
why a store's credentials may be unusable.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, SecretStr, ValidationError

from ridgeline.pos.base import PosConfig
from ridgeline.secretbox import SecretBox, Unsealable


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


class _StoreSecret(BaseModel):
    value: SecretStr


class CredentialCipher:
    """A store's POS config, secrets included, sealed in one token (ridgeline/secretbox.py)."""

    def __init__(self, keys: list[str]) -> None:
        self._box = SecretBox(keys)

    def encrypt(self, config: PosConfig) -> str:
        return self._box.seal(config)

    def decrypt(self, token: str, model: type[PosConfig]) -> PosConfig:
        try:
            return model.model_validate(self._box.open(token))
        except (Unsealable, ValidationError) as exc:
            raise CredentialsUnreadable(
                "stored POS credentials cannot be read with the configured keys"
            ) from exc

    def seal_secret(self, secret: str) -> str:
        """Another secret of the store's (its webhook token), sealed like its credentials so
        that `rotate` reseals it too."""
        return self._box.seal(_StoreSecret(value=SecretStr(secret)))

    def open_secret(self, token: str) -> str:
        try:
            return _StoreSecret.model_validate(self._box.open(token)).value.get_secret_value()
        except (Unsealable, ValidationError) as exc:
            raise CredentialsUnreadable("a stored secret cannot be read with the keys") from exc

    def rotate(self, token: str) -> str:
        """The same credentials, encrypted with the first (newest) key."""
        try:
            return self._box.rotate(token)
        except Unsealable as exc:
            raise CredentialsUnreadable("stored POS credentials cannot be read") from exc
