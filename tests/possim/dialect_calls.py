"""Calling each dialect the way its adapter must: Basic auth, signed Treez requests, key headers,
Flowhub tokens."""

from __future__ import annotations

import base64
import functools
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ridgeline.clock import Clock
from ridgeline.possim.model import epoch_ms

Config = dict[str, Any]


def dutchie_headers(
    config: Config, *, password: str = "", consumer: bool = False
) -> dict[str, str]:
    token = base64.b64encode(f"{config['api_key']}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"}
    if consumer:
        headers["ConsumerKey"] = config["consumer_key"]
    return headers


def treez_url(config: Config, path: str) -> str:
    return f"{config['base_url']}/dispensary/v3/{config['dispensary']}{path}"


@functools.cache
def _load_key(pem: str) -> rsa.RSAPrivateKey:
    # Loading validates the RSA key (tens of ms); an adapter would also load it once.
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def treez_token(
    config: Config,
    url: str,
    clock: Clock,
    *,
    iat_ms: int | None = None,
    window_ms: int = 30_000,
    key: Any = None,
    **claims: Any,
) -> str:
    iat = epoch_ms(clock.now()) if iat_ms is None else iat_ms
    payload = {
        "aud": url,
        "iss": config["certificate_id"],
        "oid": config["organization_id"],
        "iat": iat,
        "exp": iat + window_ms,
        **claims,
    }
    return jwt.encode(payload, key or _load_key(config["private_key_pem"]), algorithm="RS256")


async def treez_call(
    client: httpx.AsyncClient,
    config: Config,
    clock: Clock,
    method: str,
    path: str,
    json_body: Any = None,
) -> httpx.Response:
    """A Treez request signed as the adapter must: a fresh JWT whose `aud` is the exact URL."""
    url = treez_url(config, path)
    headers = {"Authorization": f"Bearer {treez_token(config, url, clock)}"}
    return await client.request(method, url, headers=headers, json=json_body)


def blaze_headers(config: Config) -> dict[str, str]:
    return {"partner_key": config["partner_key"], "Authorization": config["api_key"]}


def flowhub_headers(config: Config) -> dict[str, str]:
    return {"clientId": config["client_id"], "key": config["api_key"]}


async def flowhub_token(client: httpx.AsyncClient, config: Config) -> str:
    response = await client.post(
        f"{config['base_url']}/oauth/token",
        json={
            "client_id": config["oauth_client_id"],
            "client_secret": config["oauth_client_secret"],
            "audience": config["audience"],
            "grant_type": "client_credentials",
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token
