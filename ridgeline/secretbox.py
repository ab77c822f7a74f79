"""Secrets at rest: JSON documents sealed with Fernet under `RIDGELINE_ENCRYPTION_KEYS`.

The first key seals; every key opens, so keys rotate by putting a new key first, resealing
what is stored (`rotate`), then dropping the old key. POS credentials (pos/credentials.py) and
alert channel configs (alerts/channels.py) are both kept this way.
"""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import BaseModel, SecretStr


class Unsealable(Exception):
    """No configured key opens the token (a key was dropped too early), or it is not JSON."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise ValueError(
                "RIDGELINE_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes)"
            ) from exc

    def seal(self, model: BaseModel) -> str:
        """The model's fields, secrets in clear, as one token under the first key."""
        return self._fernet.encrypt(json.dumps(plain_fields(model)).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        try:
            document = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError) as exc:
            raise Unsealable("no configured key opens it") from exc
        if not isinstance(document, dict):
            raise Unsealable("it is not a sealed document")
        return document

    def rotate(self, token: str) -> str:
        """The same document, sealed under the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise Unsealable("no configured key opens it") from exc


def plain_fields(model: BaseModel) -> dict[str, Any]:
    """The model's fields as JSON-able values, `SecretStr` values in clear."""
    document: dict[str, Any] = model.model_dump(mode="json")
    for name, value in model:
        if isinstance(value, SecretStr):
            document[name] = value.get_secret_value()
    return document
