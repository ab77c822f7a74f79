"""The three bearer credentials: operator access tokens (signed JWTs), refresh tokens and kiosk
API keys (random strings stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from ridgeline.errors import InvalidToken, TokenExpired

KIOSK_KEY_PREFIX = "rk_live_"
REFRESH_TOKEN_PREFIX = "rt_"  # noqa: S105
_ALGORITHM = "HS256"
_AUDIENCE = "ridgeline-api"


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret; enough for random keys (passwords use Argon2)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_kiosk_key() -> str:
    return KIOSK_KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(key: str) -> str:
    """The part of a key safe to show in lists, so operators can tell keys apart."""
    return key[: len(KIOSK_KEY_PREFIX) + 6]


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    operator_id: uuid.UUID
    family_id: uuid.UUID
    expires_at: datetime


def issue_access_token(
    *, secret_key: str, operator_id: uuid.UUID, family_id: uuid.UUID, now: datetime, ttl_s: int
) -> tuple[str, datetime]:
    expires_at = now + timedelta(seconds=ttl_s)
    claims = {
        "sub": str(operator_id),
        "fam": str(family_id),
        "typ": "access",
        "aud": _AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret_key, algorithm=_ALGORITHM), expires_at


def read_access_token(token: str, *, secret_key: str, now: datetime) -> AccessClaims:
    """Verify the signature and expiry (against our clock, not the library's)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret_key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            # Time is checked below against our clock. The library would also refuse an `iat`
            # ahead of the system clock: a token from a host whose clock runs slightly ahead.
            options={
                "verify_exp": False,
                "verify_iat": False,
                "require": ["sub", "fam", "exp", "typ"],
            },
        )
        if claims["typ"] != "access":
            raise InvalidToken()
        operator_id = uuid.UUID(str(claims["sub"]))
        family_id = uuid.UUID(str(claims["fam"]))
        expires = int(claims["exp"])
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken() from exc
    expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo)
    if now >= expires_at:
        raise TokenExpired()
    return AccessClaims(operator_id=operator_id, family_id=family_id, expires_at=expires_at)
