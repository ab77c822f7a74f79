"""One settings object for the whole process, read from `RIDGELINE_*` environment variables.

Nothing reads settings at import time: `Settings()` is built once by the CLI (or a test) and passed
to whatever needs it.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Development defaults. They let `make demo` run with no set-up and are refused in production.
DEFAULT_SECRET_KEY = "ridgeline-development-secret-key-change-me"  # noqa: S105
DEFAULT_ENCRYPTION_KEY = "cmlkZ2VsaW5lLWRldmVsb3BtZW50LWtleS0wMDAwMDA="


class StatsdTags(StrEnum):
    NONE = "none"
    DOGSTATSD = "dogstatsd"  # `|#key:value,...` after each line


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"
    AUTO = "auto"  # console on a TTY, JSON otherwise


# An API rate limit: "<limit>/<window>s burst <n>", e.g. "600/60s burst 60" (at most 600 requests
# in any 60 s, at most 60 back to back; docs/security.md#api-rate-limits).
API_RATE_LIMIT_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s\s+burst\s+(\d+)\s*$")


# A browser origin as a browser sends it: scheme, host, optional port; no path, no slash.
_ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")


def parse_api_rate_limit(text: str) -> tuple[int, float, int]:
    """(limit, window_s, burst) of an API rate limit setting; ValueError when it is not one."""
    match = API_RATE_LIMIT_PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not '<limit>/<window>s burst <n>' (e.g. '600/60s burst 60')")
    limit, window_s, burst = int(match[1]), float(match[2]), int(match[3])
    if window_s <= 0 or not 1 <= burst < limit:
        raise ValueError(f"{text!r}: need a window above 0 and 1 <= burst < limit")
    return limit, window_s, burst


# A signing key's id (the JWT header's `kid`): letters, digits, `.`, `_`, `-`.
SIGNING_KID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
# The kid of `secret_key` when no signing keys are set, and of tokens signed without a kid.
DEFAULT_SIGNING_KID = "default"


def parse_signing_keys(entries: list[str]) -> list[tuple[str, str]]:
    """(kid, secret) of each "<kid>:<secret>" entry; ValueError on a malformed or repeated kid
    or an empty secret."""
    keys: list[tuple[str, str]] = []
    for entry in entries:
        kid, colon, secret = entry.partition(":")
        if not colon or not SIGNING_KID_PATTERN.match(kid) or not secret:
            raise ValueError(
                "RIDGELINE_SIGNING_KEYS entries are '<kid>:<secret>', the kid of letters, "
                "digits, '.', '_' or '-' (at most 40)"
            )
        if any(kid == seen for seen, _ in keys):
            raise ValueError(f"RIDGELINE_SIGNING_KEYS names the kid {kid!r} twice")
        keys.append((kid, secret))
    return keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RIDGELINE_", extra="ignore")

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///var/ridgeline.db"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's
    # `forwarded_allow_ips`): the load balancer's addresses, comma-separated, or "*". From any
    # other peer those headers are ignored and the peer's own address is the client's.
    forwarded_allow_ips: str = Field(default="127.0.0.1", min_length=1, max_length=2000)
    # The names this server answers for (the `Host` header; docs/security.md#cors-and-hosts):
    # exact names, or "*.example.com" for its subdomains; "*" answers for any name. Any other
    # `Host` gets 400 INVALID_HOST. Set it in production.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    # Browser origins (`https://console.example.com`) allowed to call the API from another
    # origin. Empty: no CORS headers at all, the console and pages call it from its own origin.
    cors_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Where a POS reaches us (the webhook URLs we hand out); None: http://HOST:PORT.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s?#]+$", max_length=500)
    # Signs operator access tokens when `signing_keys` is unset (as the key `default`), and
    # derives the legacy webhook token of every store whose token was never rotated.
    secret_key: str = DEFAULT_SECRET_KEY
    # Addresses operators point us at (POS base URLs, alert channels, SMTP hosts) must be
    # public (ridgeline/outbound.py): private ones are allowed when this is true, and by default
    # (None) outside production. Networks listed (CIDRs, comma-separated) are allowed always.
    outbound_private_allowed: bool | None = None
    outbound_allowed_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Access token signing keys, "<kid>:<secret>" comma-separated: the first signs, every one
    # verifies (docs/operations.md#signing-keys). Unset: `secret_key` as the key `default`.
    signing_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    encryption_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEFAULT_ENCRYPTION_KEY]
    )
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO
    # StatsD (docs/monitoring.md#statsd): `host:port` to send operation timings and counts to,
    # a prefix for their names, and whether to tag them the DogStatsD way.
    statsd_address: str | None = Field(
        default=None, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+):[0-9]{1,5}$"
    )
    statsd_prefix: str = Field(default="", pattern=r"^([A-Za-z0-9_\-]+\.)*$", max_length=100)
    statsd_tags: StatsdTags = StatsdTags.NONE
    # Traces (docs/monitoring.md#traces), with the `otel` extra: the OTLP/HTTP collector's base
    # URL (spans go to its /v1/traces) and the service name they carry. Unset: no tracing.
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, pattern=r"^https?://[^\s?#]+$", max_length=500
    )
    otel_service_name: str = Field(default="ridgeline", min_length=1, max_length=100)

    # Scraping `/metrics` (docs/monitoring.md#scraping). With a token the scraper must send it as
    # a bearer token; with a port every process serves `/metrics` there (at `metrics_host`), and
    # the API port no longer does.
    metrics_token: str | None = Field(default=None, min_length=16, max_length=200)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    # Operator tokens.
    access_token_ttl_s: int = Field(default=900, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    refresh_reuse_grace_s: int = Field(default=10, ge=0)
    # How long a store's previous webhook token is still accepted after a rotation.
    webhook_token_grace_s: float = Field(default=24 * 3600.0, ge=0, le=30 * 24 * 3600)

    # HTTP guards.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    # Background work. In embedded mode `ridgeline serve` runs one worker loop itself.
    run_worker_in_process: bool | None = None  # None: yes when no Redis is configured
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    job_lease_s: float = Field(default=60.0, gt=0)
    job_poll_interval_s: float = Field(default=1.0, gt=0)

    # Kiosk orders. One not at the POS this long after it was placed (the POS down, the breaker
    # open) fails with an operator alert; until then each store's waiting orders are retried in
    # order every `order_queue_interval_s`.
    order_submit_deadline_s: float = Field(default=1800.0, ge=10)
    order_queue_interval_s: float = Field(default=5.0, gt=0, le=300)
    # While one run calls the POS for an order, no other may; an attempt is cut off at 80% of
    # this, and a lease left by a crashed process is taken over (with a lookup) after it. The
    # store's later orders wait behind it that long after a crash.
    order_submit_lease_s: float = Field(default=60.0, ge=5, le=3600)
    # An order request's Idempotency-Key still in flight this long belongs to a request that
    # died with its process: the kiosk's retry takes it over (until then: 409 IN_USE).
    idempotency_takeover_s: float = Field(default=60.0, ge=1, le=3600)

    # The fallback share: 1/N of your processes. With `redis_url` the POS rate limits, retry
    # budgets and sign-in throttle are counted in Redis for all processes together; while Redis
    # does not answer, each process keeps to this share of them on its own. Without Redis
    # (embedded) it scales this process's POS rate limits.
    pos_rate_limit_share: float = Field(default=1.0, gt=0, le=1)
    # The POS call log (`pos_calls`) of a sync's fetch is written in batches: a call waits at
    # most this long, and at most this many wait, before they are written together (0 ms: each
    # call in its own transaction). A crash loses what was waiting; a clean stop writes it.
    pos_call_log_flush_ms: int = Field(default=1000, ge=0, le=60_000)
    pos_call_log_max_rows: int = Field(default=200, ge=1, le=10_000)

    # Rate limits of our own API (docs/security.md#api-rate-limits), each "<limit>/<window>s
    # burst <n>": per kiosk key, per operator, and per client address for anonymous callers
    # (and callers whose credentials failed); reads are GET/HEAD, writes the other methods,
    # orders placing or cancelling one; POS webhooks have their own budget per address.
    api_rate_limits_enabled: bool = True
    api_rate_limit_kiosk_read: str = "600/60s burst 60"
    api_rate_limit_kiosk_write: str = "120/60s burst 20"
    api_rate_limit_kiosk_order: str = "30/60s burst 10"
    api_rate_limit_operator_read: str = "1200/60s burst 120"
    api_rate_limit_operator_write: str = "300/60s burst 30"
    api_rate_limit_anonymous_read: str = "300/60s burst 60"
    api_rate_limit_anonymous_write: str = "120/60s burst 30"
    api_rate_limit_webhook: str = "3000/60s burst 300"

    # Real-time `/cable`. Browser origins allowed to connect ("*": any); a kiosk app that sends
    # no Origin header is let in by its key alone.
    cable_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    cable_ping_interval_s: float = Field(default=3.0, gt=0)
    # Frames waiting for one slow client; beyond this it is disconnected with `too_slow`.
    cable_send_queue_max: int = Field(default=1024, ge=8)
    # How long a dropped connection's session can be restored by its `sid`.
    cable_session_ttl_s: float = Field(default=300.0, gt=0)
    # Every interval the hub also reads the positions of its streams from the database, so a
    # message whose backplane notice was lost (Redis down, another process) is late, never lost.
    cable_poll_interval_s: float = Field(default=2.0, gt=0)
    # How long a kiosk key that authenticated (on `/cable` or REST) is trusted without a database
    # read (a reconnect storm reads each key once; a kiosk's REST requests too). Revocation, a
    # disabled or deleted kiosk and a key roll empty the cache at once in every process; expiry
    # is checked on every use. 0: off.
    cable_key_cache_ttl_s: float = Field(default=30.0, ge=0, le=300)
    # The event loop watch (docs/realtime.md#event-loop-watch): when set, `ridgeline serve` runs
    # on asyncio's own loop and times every callback; those taking this long or longer are
    # reported (`loop_watch_report`, on SIGUSR1 and at shutdown). None: off.
    loop_watch_ms: float | None = Field(default=None, gt=0)
    # `ridgeline serve` freezes what survives each full pass of the garbage collector, so the
    # next passes (which block the event loop) walk only what came since; a thaw collects what
    # was frozen once resident memory grew by a quarter (docs/realtime.md#the-collector). False:
    # only start-up's objects are frozen, and each full pass walks every connection's objects.
    gc_freeze_survivors: bool = True

    # SQLite only: how long a writer waits for the lock before failing.
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    # Statements taking this long or longer are logged (`db_slow_statement`) and counted.
    slow_statement_ms: float = Field(default=250.0, ge=0)
    # The performance monitor (docs/operations.md#performance): each request's latency into a
    # rolling window, CPU, memory, event-loop lag and pool samples, a report published every 15 s.
    # Off, this process is not judged by the platform alert rules that read those reports.
    performance_monitor: bool = True
    # How often the status page's components are judged again (docs/status-page.md#rules).
    status_evaluate_interval_s: float = Field(default=15.0, gt=0, le=300)
    # How long audit events are kept (docs/security.md#audit-trail): 13 months covers a yearly
    # review with a month to spare; the purge runs hourly.
    audit_retention_days: int = Field(default=400, ge=1, le=3650)
    # The status page's name and the address it is published at (its feeds link there).
    status_page_name: str = Field(default="Ridgeline", min_length=1, max_length=100)
    status_page_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, values: dict[str, object]) -> dict[str, object]:
        for name in (
            "encryption_keys",
            "signing_keys",
            "cable_allowed_origins",
            "outbound_allowed_networks",
            "allowed_hosts",
            "cors_allowed_origins",
        ):
            items = values.get(name)
            if isinstance(items, str):
                values[name] = [k.strip() for k in items.split(",") if k.strip()]
        return values

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not _ORIGIN_PATTERN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like 'https://console.example.com'")
        return value

    @field_validator(
        "api_rate_limit_kiosk_read",
        "api_rate_limit_kiosk_write",
        "api_rate_limit_kiosk_order",
        "api_rate_limit_operator_read",
        "api_rate_limit_operator_write",
        "api_rate_limit_anonymous_read",
        "api_rate_limit_anonymous_write",
        "api_rate_limit_webhook",
    )
    @classmethod
    def _check_api_rate_limit(cls, value: str) -> str:
        parse_api_rate_limit(value)
        return value

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _check_networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a network (CIDR) or an address") from None
        return values

    @field_validator("signing_keys")
    @classmethod
    def _check_signing_keys(cls, entries: list[str]) -> list[str]:
        parse_signing_keys(entries)
        return entries

    @model_validator(mode="after")
    def _refuse_default_secrets_in_production(self) -> Self:
        if self.env is Environment.PRODUCTION:
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
                raise ValueError(
                    "RIDGELINE_SECRET_KEY must be set to a random value of 32+ characters "
                    "in production"
                )
            for kid, secret in parse_signing_keys(self.signing_keys):
                if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
                    raise ValueError(
                        f"RIDGELINE_SIGNING_KEYS: the key {kid!r} must be a random value of "
                        "32+ characters in production"
                    )
            if DEFAULT_ENCRYPTION_KEY in self.encryption_keys:
                raise ValueError("RIDGELINE_ENCRYPTION_KEYS must not use the development key")
            if self.metrics_open_beyond_loopback:
                raise ValueError(
                    "/metrics would be open to anyone who reaches RIDGELINE_HOST: set "
                    "RIDGELINE_METRICS_TOKEN, or RIDGELINE_METRICS_PORT to serve it apart"
                )
        if not self.encryption_keys:
            raise ValueError("RIDGELINE_ENCRYPTION_KEYS needs at least one key")
        return self

    @property
    def signing_key_ring(self) -> list[tuple[str, str]]:
        """(kid, secret) of every access token signing key, the signing one first."""
        if not self.signing_keys:
            return [(DEFAULT_SIGNING_KID, self.secret_key)]
        return parse_signing_keys(self.signing_keys)

    @property
    def metrics_open_beyond_loopback(self) -> bool:
        """The API port serves `/metrics` to anyone, on an address other than loopback."""
        loopback = self.host in ("127.0.0.1", "::1", "localhost")
        return self.metrics_port is None and self.metrics_token is None and not loopback

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    @property
    def public_base_url(self) -> str:
        """Our root URL as seen from outside, without a trailing slash."""
        if self.public_url is not None:
            return self.public_url.rstrip("/")
        # A wildcard listen address is not an address anyone can call.
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def worker_in_process(self) -> bool:
        if self.run_worker_in_process is None:
            return self.embedded
        return self.run_worker_in_process

    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL (None for PostgreSQL or in-memory SQLite)."""
        if not self.is_sqlite:
            return None
        _, _, path = self.database_url.partition(":///")
        if not path or path.startswith(":memory:"):
            return None
        return Path(path)
