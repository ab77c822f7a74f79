"""A short-lived, per-process cache of kiosk keys that authenticated on `/cable`.

A reconnect storm (a store's network blip, a server restart) brings thousands of keys at once;
without the cache each is a database read. Every key is still checked on every connect: an entry
is the key's principal with its expiry and is used only while both the entry is fresh (`ttl_s`)
and the key has not expired by the caller's clock, so expiry takes effect at once without any
notice. A revoked key, a disabled or deleted kiosk, or a roll that brought its keys' expiry
forward is forgotten at once in every process: the hub drops the kiosk's entries when the
backplane notice that closes its connections (or `KioskKeysChanged`) reaches it, and drops every
entry when the backplane comes back after an outage (notices sent meanwhile are lost). A change
made by a process that publishes no notice (the CLI) is seen once the entry is `ttl_s` old.

Entries are keyed by the key's hash (never the key) and bounded in number; the oldest goes first.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime

from ridgeline.auth.principal import KioskPrincipal

DEFAULT_MAX_ENTRIES = 50_000


class KioskKeyCache:
    """Key hash -> (principal, key expiry, fresh until); see the module docstring."""

    __slots__ = ("_entries", "_monotonic", "generation", "max_entries", "ttl_s")

    def __init__(
        self,
        ttl_s: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[KioskPrincipal, datetime | None, float]] = {}
        # Counts what was forgotten: a read that began before a revocation must not cache what
        # it found after the revocation's notice was handled (`put(..., since=generation)`).
        self.generation = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    def get(self, key_hash: str, *, now: datetime) -> KioskPrincipal | None:
        """The key's principal if it is cached, fresh, and the key has not expired by `now`."""
        found = self._entries.get(key_hash)
        if found is None:
            return None
        principal, expires_at, fresh_until = found
        if fresh_until <= self._monotonic() or (expires_at is not None and now >= expires_at):
            del self._entries[key_hash]
            return None  # the database read says why (expired, revoked, ...)
        return principal

    def put(
        self,
        key_hash: str,
        principal: KioskPrincipal,
        expires_at: datetime | None,
        *,
        since: int,
    ) -> None:
        """Caches what a database read begun at generation `since` found, unless something was
        forgotten meanwhile (the read may predate a revocation)."""
        if not self.enabled or since != self.generation:
            return
        self._entries.pop(key_hash, None)  # re-inserted last: the oldest stay first
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key_hash] = (principal, expires_at, self._monotonic() + self.ttl_s)

    def forget_kiosk(self, kiosk_id: uuid.UUID, key_id: uuid.UUID | None = None) -> None:
        """Drops the kiosk's keys (only `key_id` when given). A walk over every entry: rare (a
        revocation, a roll), and an index by kiosk would cost memory for every key."""
        self.generation += 1
        gone = [
            key_hash
            for key_hash, (principal, _, _) in self._entries.items()
            if principal.kiosk_id == kiosk_id and (key_id is None or principal.key_id == key_id)
        ]
        for key_hash in gone:
            del self._entries[key_hash]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()
