"""Store credentials, derived from the simulator seed so that a restart with the same seed hands
out the same keys (a demo's stored POS config keeps working). None of this is secret.

Treez needs an RSA key pair per store. `cryptography` cannot generate keys from a seed, so the
primes are found here with a seeded Miller-Rabin search (~0.2 s per 2048-bit key) and cached per
process, which keeps `POST /_sim/reset` cheap.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ridgeline.possim.model import Dialect

_SIEVE_PRIMES = [p for p in range(3, 1 << 14) if all(p % d for d in range(2, math.isqrt(p) + 1))]
_SIEVE_WINDOW = 4096  # odd candidates examined per sieve pass
_PUBLIC_EXPONENT = 65537


def _strong_probable_prime(n: int, base: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    x = pow(base, d, n)
    if x in (1, n - 1):
        return True
    for _ in range(s - 1):
        x = pow(x, 2, n)
        if x == n - 1:
            return True
    return False


def _prime(rng: random.Random, bits: int) -> int:
    """A random prime of `bits` bits: sieve a window of odd numbers, then Miller-Rabin."""
    while True:
        start = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        composite = bytearray(_SIEVE_WINDOW)
        for p in _SIEVE_PRIMES:
            # Offsets i with start + 2i divisible by p.
            first = (-start * pow(2, -1, p)) % p
            composite[first::p] = b"\x01" * len(range(first, _SIEVE_WINDOW, p))
        for i in range(_SIEVE_WINDOW):
            candidate = start + 2 * i
            if composite[i] or candidate.bit_length() != bits:
                continue
            if (candidate - 1) % _PUBLIC_EXPONENT == 0 or not _strong_probable_prime(candidate, 2):
                continue
            if all(
                _strong_probable_prime(candidate, rng.randrange(3, candidate - 2)) for _ in range(6)
            ):
                return candidate


@functools.cache
def seeded_rsa_key(seed: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    """The same RSA private key for the same seed string."""
    rng = random.Random(f"possim-rsa:{seed}")  # noqa: S311 - deliberately reproducible
    p = _prime(rng, bits // 2)
    q = _prime(rng, bits // 2)
    while q == p:
        q = _prime(rng, bits // 2)
    p, q = max(p, q), min(p, q)
    d = pow(_PUBLIC_EXPONENT, -1, (p - 1) * (q - 1))
    numbers = rsa.RSAPrivateNumbers(
        p=p,
        q=q,
        d=d,
        dmp1=rsa.rsa_crt_dmp1(d, p),
        dmq1=rsa.rsa_crt_dmq1(d, q),
        iqmp=rsa.rsa_crt_iqmp(p, q),
        public_numbers=rsa.RSAPublicNumbers(_PUBLIC_EXPONENT, p * q),
    )
    # Built from primes checked above; skipping OpenSSL's re-validation saves ~70 ms a key.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class StoreIdentity:
    """Everything that names a store to its POS and to the adapter: ids, keys and secrets.

    `config(base_url)` is exactly the adapter config the dialect's page in docs/pos asks for.
    """

    dialect: Dialect
    slug: str
    location_id: int  # Dutchie LocationId
    license_number: str
    api_key: str  # Dutchie location key, BLAZE dispensary key, Flowhub `key`
    integrator_key: str  # Dutchie integrator key (Basic password), BLAZE partner_key
    consumer_key: str  # Dutchie ConsumerKey
    external_id: str  # BLAZE shopId, Flowhub locationId, Treez organization id
    client_id: str  # Flowhub clientId
    oauth_client_id: str
    oauth_client_secret: str
    certificate_id: str  # Treez `iss`
    rsa_seed: str | None = field(default=None)

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        if self.rsa_seed is None:
            raise ValueError(f"{self.dialect} stores have no RSA key")
        return seeded_rsa_key(self.rsa_seed)

    @property
    def public_key_pem(self) -> str:
        return public_key_pem(self.private_key.public_key())

    def config(self, base_url: str) -> dict[str, Any]:
        if self.dialect is Dialect.DUTCHIE:
            return {
                "base_url": base_url,
                "api_key": self.api_key,
                "integrator_key": self.integrator_key,
                "consumer_key": self.consumer_key,
            }
        if self.dialect is Dialect.TREEZ:
            return {
                "base_url": base_url,
                "dispensary": self.slug,
                "certificate_id": self.certificate_id,
                "organization_id": self.external_id,
                "private_key_pem": private_key_pem(self.private_key),
            }
        if self.dialect is Dialect.BLAZE:
            return {
                "base_url": base_url,
                "partner_key": self.integrator_key,
                "api_key": self.api_key,
            }
        return {
            "base_url": base_url,
            "client_id": self.client_id,
            "api_key": self.api_key,
            "location_id": self.external_id,
            "oauth_client_id": self.oauth_client_id,
            "oauth_client_secret": self.oauth_client_secret,
            "audience": FLOWHUB_AUDIENCE,
        }


FLOWHUB_AUDIENCE = "https://api.flowhub.co"


def make_identity(dialect: Dialect, sim_seed: int, index: int, name: str) -> StoreIdentity:
    """The identity of the `index`-th store of a simulator started with `sim_seed`."""
    rng = random.Random(f"possim-identity:{sim_seed}:{index}")  # noqa: S311 - reproducible test keys
    partner = random.Random(f"possim-partner:{sim_seed}")  # noqa: S311 - one integrator per simulator

    def hex_token(size: int, source: random.Random = rng) -> str:
        return f"{source.getrandbits(size * 4):0{size}x}"

    slug = "-".join(name.lower().replace("'", "").split()) + f"-{index}"
    return StoreIdentity(
        dialect=dialect,
        slug=slug,
        location_id=1000 + index,
        license_number=f"C10-{rng.randrange(10**7):07d}-LIC",
        api_key=hex_token(32),
        integrator_key=hex_token(32, partner),
        consumer_key=hex_token(24),
        external_id=(
            f"{hex_token(8)}-{hex_token(4)}-4{hex_token(3)}-a{hex_token(3)}-{hex_token(12)}"
            if dialect is Dialect.TREEZ
            else hex_token(24)
        ),
        client_id=f"{hex_token(8)}-{hex_token(4)}-{hex_token(4)}-{hex_token(4)}-{hex_token(12)}",
        oauth_client_id=hex_token(32),
        oauth_client_secret=hex_token(48),
        certificate_id=f"{hex_token(8)}-{hex_token(4)}-{hex_token(4)}-{hex_token(4)}-{hex_token(12)}",
        rsa_seed=f"{sim_seed}:{index}" if dialect is Dialect.TREEZ else None,
    )
