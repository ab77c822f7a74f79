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

from ridgeline.config import DEFAULT_SIGNING_KID
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
    *,
    secret_key: str,
    operator_id: uuid.UUID,
    family_id: uuid.UUID,
    now: datetime,
    ttl_s: int,
    kid: str = DEFAULT_SIGNING_KID,
) -> tuple[str, datetime]:
    """A token signed with `secret_key`, whose id `kid` goes in the header so that the token is
    verified with that key for as long as the key is listed."""
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
    token = jwt.encode(claims, secret_key, algorithm=_ALGORITHM, headers={"kid": kid})
    return token, expires_at


def _verifying_secret(token: str, keys: list[tuple[str, str]]) -> str:
    """The secret of the key the token names; one without a kid (signed before keys had ids)
    is the `default` key's. `InvalidToken` for a kid no longer (or never) listed."""
    try:
        kid = jwt.get_unverified_header(token).get("kid", DEFAULT_SIGNING_KID)
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    for listed, secret in keys:
        if listed == kid:
            return secret
    raise InvalidToken()


def read_access_token(token: str, *, keys: list[tuple[str, str]], now: datetime) -> AccessClaims:
    """Verify the signature, with the listed key (kid, secret) the token names, and the expiry
    (against our clock, not the library's)."""
    secret = _verifying_secret(token, keys)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
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
